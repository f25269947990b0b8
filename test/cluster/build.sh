#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kubectl, etcd) from the Go
# modules pinned in ./go.mod and ./etcd/go.mod, into a cache outside the clone:
#
#   ${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}/cluster/<key>/bin/
#
# <key> hashes everything that decides the bytes of the binaries (both go.mod
# and go.sum files, this script, the Go version and target), so a fresh clone
# on the same machine reuses the binaries and a version bump rebuilds them.
#
# Logs go to stderr. The last (and only) line on stdout is the bin directory:
#   bin=$(test/cluster/build.sh)
# The same path is also written to <cache>/cluster/current-bin.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binaries=(kube-apiserver kubectl etcd)
# shellcheck source=../../scripts/go-build-cache.sh
source "$here/../../scripts/go-build-cache.sh"
cache_init cluster

key=$(
  {
    cat "$here/go.mod" "$here/go.sum" "$here/etcd/go.mod" "$here/etcd/go.sum" "$here/build.sh"
    # Each module may select its own toolchain (GOTOOLCHAIN=auto), so ask both.
    (cd "$here" && go env GOVERSION GOOS GOARCH GOAMD64)
    (cd "$here/etcd" && go env GOVERSION)
  } | sha256sum | cut -c1-16
)
cache_open "$key"

module_version() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }
module_time() { (cd "$1" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "$2"); }

kube_version=$(module_version "$here" k8s.io/kubernetes)
etcd_version=$(module_version "$here/etcd" go.etcd.io/etcd/server/v3)
kube_date=$(module_time "$here" k8s.io/kubernetes)
[[ $kube_version =~ ^v([0-9]+)\.([0-9]+)\. ]] || { log "unexpected k8s.io/kubernetes version $kube_version"; exit 1; }
kube_major=${BASH_REMATCH[1]}
kube_minor=${BASH_REMATCH[2]}

# Without these stamps the server reports v0.0.0 and version-checking clients
# (kubectl, helm) misbehave. Both packages carry the same variables, as in
# kubernetes' hack/lib/version.sh; gitCommit is unknown from a module and is
# left empty rather than the "$Format:%H$" placeholder.
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$kube_major -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$kube_date"
done
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version"

log "kubernetes $kube_version, etcd $etcd_version, $(go env GOVERSION), key $key"

total_start=$SECONDS
build() { # name module-dir ldflags package
  local name=$1 moddir=$2 ldflags=$3 pkg=$4 start=$SECONDS
  log "building $name ($pkg)"
  (cd "$moddir" && go build -trimpath -ldflags "$ldflags" -o "$stage/$name" "$pkg")
  log "built $name in $((SECONDS - start))s"
}
build kube-apiserver "$here" "$kube_ldflags" k8s.io/kubernetes/cmd/kube-apiserver
build kubectl "$here" "$kube_ldflags" k8s.io/kubernetes/cmd/kubectl
build etcd "$here/etcd" "$etcd_ldflags" go.etcd.io/etcd/server/v3
log "built all in $((SECONDS - total_start))s"

cat >"$stage/versions.env" <<EOF
KUBERNETES_VERSION=$kube_version
ETCD_VERSION=$etcd_version
GO_VERSION=$(cd "$here" && go env GOVERSION)
EOF
cache_commit
