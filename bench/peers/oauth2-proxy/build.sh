#!/usr/bin/env bash
# Builds oauth2-proxy, a peer of the proxy benchmark (npm run bench), from the Go module
# pinned in ./go.mod, into a cache outside the clone, as test/cluster/helm/build.sh builds helm:
#
#   ${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}/oauth2-proxy/<key>/bin/oauth2-proxy
#
# <key> hashes go.mod, go.sum, this script, the Go version and target. About two to five
# minutes cold on two cores, instant when cached. Logs go to stderr; the last (and only) line
# on stdout is the bin directory:
#   bin=$(bench/peers/oauth2-proxy/build.sh)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../../scripts/go-build-cache.sh
source "$here/../../../scripts/go-build-cache.sh"
cache_init oauth2-proxy

key=$({ cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go_target "$here"; } | cache_key)
cache_open "$key"

version=$(cd "$here" && go list -m -f '{{.Version}}' github.com/oauth2-proxy/oauth2-proxy/v7)
log "oauth2-proxy $version, $(cd "$here" && go env GOVERSION), key $key"
start=$SECONDS
# As oauth2-proxy's Makefile stamps a release, so that `oauth2-proxy --version` says which.
(cd "$here" && go build -trimpath -ldflags "-s -w -X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$version" \
  -o "$stage/oauth2-proxy" github.com/oauth2-proxy/oauth2-proxy/v7)
log "built oauth2-proxy in $((SECONDS - start))s"

cat >"$stage/versions.env" <<EOF
OAUTH2_PROXY_VERSION=$version
GO_VERSION=$(cd "$here" && go env GOVERSION)
EOF
cache_commit
