#!/usr/bin/env bash
# Smoke test of the control plane that build.sh produces: etcd and
# kube-apiserver on free loopback ports with throw-away certificates, then
# `kubectl version` and `kubectl get ns`. Everything it starts is stopped on
# exit; the temp directory is removed unless KEEP=1.
#
#   test/cluster/smoke.sh            # builds (or reuses) the binaries first
#   BIN=/path/to/bin test/cluster/smoke.sh
#
# Needs openssl. The flags here are the ones README.md documents.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${BIN:-$("$here/build.sh" | tail -n1)}
work=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-cluster.XXXXXX")
pids=()

log() { printf 'smoke.sh: %s\n' "$*" >&2; }

cleanup() {
  # Newest first: kube-apiserver deletes its lease in etcd while shutting
  # down, and waits for the request to time out if etcd is already gone.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  if [[ ${KEEP:-} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A port below the Linux ephemeral range (32768+) that nothing listens on.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return
    fi
  done
}

wait_for() { # description timeout-seconds command...
  local what=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out waiting for $what"
      tail -n 30 "$work"/*.log >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

etcd_port=$(free_port)
peer_port=$(free_port)
api_port=$(free_port)

# --- certificates -----------------------------------------------------------
pki=$work/pki
mkdir -p "$pki"
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=portcullis-test-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt"
sign() { # name subject extensions
  openssl_quiet req -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
  openssl_quiet x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 1 -out "$pki/$1.crt" -extfile <(printf '%s\n' "$3")
}
# 10.0.0.1 is the kubernetes Service IP of --service-cluster-ip-range.
sign apiserver "/CN=kube-apiserver" \
  "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
sign admin "/O=system:masters/CN=portcullis-admin" "extendedKeyUsage=clientAuth"
openssl_quiet genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key"
openssl_quiet pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

cat >"$work/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
EOF

# --- etcd -------------------------------------------------------------------
start=$SECONDS
"$bin/etcd" \
  --name=portcullis-test \
  --data-dir="$work/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" \
  --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-cluster="portcullis-test=http://127.0.0.1:$peer_port" \
  --unsafe-no-fsync \
  --log-level=warn \
  >"$work/etcd.log" 2>&1 &
pids+=($!)

# --- kube-apiserver -----------------------------------------------------------
"$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="$api_port" \
  --tls-cert-file="$pki/apiserver.crt" \
  --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --service-account-key-file="$pki/sa.pub" \
  --service-account-signing-key-file="$pki/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range=10.0.0.0/24 \
  --authorization-mode=RBAC \
  --endpoint-reconciler-type=none \
  --audit-log-path="$work/audit.log" \
  --audit-policy-file="$work/audit-policy.yaml" \
  >"$work/kube-apiserver.log" 2>&1 &
pids+=($!)

export KUBECONFIG=$work/kubeconfig
kubectl() { "$bin/kubectl" "$@"; }
kubectl config set-cluster test --server="https://127.0.0.1:$api_port" \
  --certificate-authority="$pki/ca.crt" --embed-certs >/dev/null
kubectl config set-credentials admin --client-certificate="$pki/admin.crt" \
  --client-key="$pki/admin.key" --embed-certs >/dev/null
kubectl config set-context test --cluster=test --user=admin >/dev/null
kubectl config use-context test >/dev/null

wait_for "kube-apiserver /readyz" 120 kubectl get --raw /readyz
log "ready in $((SECONDS - start))s (etcd 127.0.0.1:$etcd_port, kube-apiserver 127.0.0.1:$api_port)"

kubectl version
kubectl get ns
kubectl auth whoami
[[ -s $work/audit.log ]] || { log "audit log is empty"; exit 1; }
log "audit log: $(wc -l <"$work/audit.log") events"
log "ok"
