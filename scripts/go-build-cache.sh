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
#   cache_init oauth2-proxy                   # the cache's folder, and the prefix of log lines
#   key=$({ cat "$here/go.mod" "$here/go.sum" "$0"; go_target; } | cache_key)
#   build() { go build … -o "$1/oauth2-proxy" …; }   # $1: the directory to fill
#   cache_build "$key" build

cache_init() {
  cache_name=$1
  cache_root=${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}/$cache_name
  command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
  export CGO_ENABLED=0
}

log() { printf '%s/build.sh: %s\n' "$cache_name" "$*" >&2; }

# What, besides the sources, decides the bytes: the Go version and target, as the module in
# the current directory (or $1) selects them (GOTOOLCHAIN=auto lets each module pick its own).
go_target() { (cd "${1:-.}" && go env GOVERSION GOOS GOARCH GOAMD64); }

cache_key() { sha256sum | cut -c1-16; }

# cache_build <key> <function>: answers the cached bin directory, or calls <function> <dir>
# to fill a scratch directory that becomes it.
cache_build() {
  local key=$1 fill=$2
  local dir=$cache_root/$key
  cache_bin=$dir/bin

  mkdir -p "$cache_root"
  if [[ -f $cache_bin/.complete ]]; then
    log "cached: $cache_bin"
    cache_finish
    return 0
  fi

  # One build per key at a time; a second caller waits, then finds it done.
  exec 9>"$cache_root/$key.lock"
  if command -v flock >/dev/null; then
    flock 9
  fi
  if [[ -f $cache_bin/.complete ]]; then
    log "cached (built by a concurrent run): $cache_bin"
    cache_finish
    return 0
  fi

  # Build into a scratch directory and rename it into place, so an interrupted build never
  # leaves a half-filled bin/ that looks complete.
  mkdir -p "$dir"
  cache_stage=$(mktemp -d "$dir/stage.XXXXXX")
  chmod 755 "$cache_stage"
  trap 'rm -rf "$cache_stage"' EXIT
  "$fill" "$cache_stage"
  touch "$cache_stage/.complete"
  rm -rf "$cache_bin"
  mv "$cache_stage" "$cache_bin"
  trap - EXIT
  cache_finish
}

cache_finish() {
  printf '%s\n' "$cache_bin" >"$cache_root/current-bin"
  printf '%s\n' "$cache_bin"
}
