# Sourced by the scripts that build tools from Go modules into a cache outside the clone
# (test/cluster/build.sh, test/cluster/helm/build.sh, bench/peers/oauth2-proxy/build.sh):
#
#   ${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}/<name>/<key>/bin/
#
# <key> hashes everything that decides the bytes of the binaries (the caller says what), so a
# fresh clone on the same machine reuses them and a version bump rebuilds them. The last (and
# only) line the caller prints on stdout is the bin directory, also written to
# <cache>/<name>/current-bin. Logs go to stderr.
#
#   source "$here/../../scripts/go-build-cache.sh"
#   cache_init helm                                   # the cache's folder; log lines say helm/build.sh
#   key=$({ cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go_target "$here"; } | cache_key)
#   cache_open "$key"                                 # when cached: prints the bin directory and exits
#   go build … -o "$stage/helm" …                     # build into $stage
#   cache_commit                                      # $stage becomes the bin directory, printed

cache_init() {
  cache_name=$1
  cache_root=${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}/$cache_name
  command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
  export CGO_ENABLED=0
}

log() { printf '%s/build.sh: %s\n' "$cache_name" "$*" >&2; }

# What, besides the sources, decides the bytes: the Go version and target, as the module in
# directory $1 selects them (GOTOOLCHAIN=auto lets each module pick its own toolchain).
go_target() { (cd "$1" && go env GOVERSION GOOS GOARCH GOAMD64); }

cache_key() { sha256sum | cut -c1-16; }

cache_open() {
  local key=$1
  cache_dir=$cache_root/$key
  bin=$cache_dir/bin

  mkdir -p "$cache_root"
  if [[ -f $bin/.complete ]]; then
    log "cached: $bin"
    cache_finish
    exit 0
  fi

  # One build per key at a time; a second caller waits, then finds it done.
  exec 9>"$cache_root/$key.lock"
  if command -v flock >/dev/null; then
    flock 9
  fi
  if [[ -f $bin/.complete ]]; then
    log "cached (built by a concurrent run): $bin"
    cache_finish
    exit 0
  fi

  # Build into a scratch directory and rename it into place, so an interrupted build never
  # leaves a half-filled bin/ that looks complete.
  mkdir -p "$cache_dir"
  stage=$(mktemp -d "$cache_dir/stage.XXXXXX")
  chmod 755 "$stage"
  trap 'rm -rf "$stage"' EXIT
}

cache_commit() {
  touch "$stage/.complete"
  rm -rf "$bin"
  mv "$stage" "$bin"
  trap - EXIT
  cache_finish
}

cache_finish() {
  printf '%s\n' "$bin" >"$cache_root/current-bin"
  printf '%s\n' "$bin"
}
