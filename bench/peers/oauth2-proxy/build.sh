#!/usr/bin/env bash
# Builds oauth2-proxy, a peer of the proxy benchmark (npm run bench), from the Go module
# pinned in ./go.mod, into a cache outside the clone, as test/cluster/helm/build.sh builds helm:
#
#   ${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}/oauth2-proxy/<key>/bin/oauth2-proxy
#
# About five minutes cold on two cores, instant when cached. The last (and only) line on
# stdout is the bin directory:
#   bin=$(bench/peers/oauth2-proxy/build.sh)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../../scripts/go-build-cache.sh
source "$here/../../../scripts/go-build-cache.sh"
cache_init oauth2-proxy

key=$({ cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go_target "$here"; } | cache_key)

build() {
  local stage=$1 version start=$SECONDS
  version=$(cd "$here" && go list -m -f '{{.Version}}' github.com/oauth2-proxy/oauth2-proxy/v7)
  log "oauth2-proxy $version, $(cd "$here" && go env GOVERSION), key $key"
  # As oauth2-proxy's Makefile stamps a release, so that `oauth2-proxy --version` says which.
  (cd "$here" && go build -trimpath -ldflags "-s -w -X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$version" \
    -o "$stage/oauth2-proxy" github.com/oauth2-proxy/oauth2-proxy/v7)
  log "built oauth2-proxy in $((SECONDS - start))s"
  printf 'OAUTH2_PROXY_VERSION=%s\nGO_VERSION=%s\n' "$version" "$(cd "$here" && go env GOVERSION)" >"$stage/versions.env"
}
cache_build "$key" build
