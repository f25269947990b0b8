#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v3/cmd/helm) from the Go module pinned in ./go.mod, into a
# cache outside the clone, the same way ../build.sh builds the control plane:
#
#   ${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}/helm/<key>/bin/helm
#
# <key> hashes everything that decides the bytes of the binary (go.mod, go.sum, this
# script, the Go version and target), so a fresh clone on the same machine reuses it and a
# version bump rebuilds it.
#
# Logs go to stderr. The last (and only) line on stdout is the bin directory:
#   bin=$(test/cluster/helm/build.sh)
# The same path is also written to <cache>/helm/current-bin.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../../scripts/go-build-cache.sh
source "$here/../../../scripts/go-build-cache.sh"
cache_init helm

key=$(
  {
    cat "$here/go.mod" "$here/go.sum" "$here/build.sh"
    (cd "$here" && go env GOVERSION GOOS GOARCH GOAMD64)
  } | sha256sum | cut -c1-16
)
cache_open "$key"

module_version() { (cd "$here" && go list -m -f '{{.Version}}' "$1"); }

helm_version=$(module_version helm.sh/helm/v3)
client_go_version=$(module_version k8s.io/client-go)
[[ $client_go_version =~ ^v0\.([0-9]+)\. ]] || { log "unexpected k8s.io/client-go version $client_go_version"; exit 1; }
kube_minor=${BASH_REMATCH[1]}

# As helm's Makefile does for a release: the version (else `helm version` says v3.20 with
# no patch), and the Kubernetes version of its client modules, which `helm template` and
# `helm lint` assume for .Capabilities.KubeVersion without a cluster (else v1.20.0, and a
# chart's `kubeVersion: >=1.30` fails). gitCommit is unknown from a module: left empty.
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
ldflags+=" -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitCommit="
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$kube_minor"
done

log "helm $helm_version (Kubernetes client $client_go_version), $(go env GOVERSION), key $key"
start=$SECONDS
(cd "$here" && go build -trimpath -ldflags "$ldflags" -o "$stage/helm" helm.sh/helm/v3/cmd/helm)
log "built helm in $((SECONDS - start))s"

cat >"$stage/versions.env" <<EOF
HELM_VERSION=$helm_version
HELM_KUBERNETES_CLIENT=$client_go_version
GO_VERSION=$(cd "$here" && go env GOVERSION)
EOF
cache_commit
