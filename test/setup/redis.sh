#!/usr/bin/env bash
# `npm test` runs the purge bus and relay tests against a real redis-server. This uses the one
# on PATH (or $STRATA_REDIS_SERVER); on a machine without one it fetches Debian's package and
# the libraries it needs into node_modules/.cache/strata/redis once (apt-get download and
# dpkg-deb -x: nothing is installed system-wide). test/helpers/redis.ts looks in the same places.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=node_modules/.cache/strata/redis
packages=(redis-tools libjemalloc2 liblzf1 libatomic1 libssl3)

if [ -n "${STRATA_REDIS_SERVER:-}" ] || command -v redis-server >/dev/null || [ -x "$dest/usr/bin/redis-server" ]; then
  exit 0
fi
fail() {
  echo "npm test needs redis-server (6.2 or later): $1; install it (apt-get install redis-server, brew install redis) or set STRATA_REDIS_SERVER to its path" >&2
  exit 1
}
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || fail "none on PATH and no apt-get to fetch one"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
download() { (cd "$work" && apt-get download -qq "${packages[@]}") >/dev/null 2>&1; }
if ! download; then
  # A fresh machine may not have read its package lists yet (that takes root).
  [ "$(id -u)" = 0 ] || fail "none on PATH, and apt-get download failed (run apt-get update as root first)"
  apt-get update -qq >/dev/null 2>&1 || fail "none on PATH, and apt-get update failed"
  download || fail "none on PATH, and apt-get download ${packages[*]} failed"
fi
mkdir -p "$dest"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$dest"; done
# Debian's redis-server package is this one link: the binary serves when called redis-server.
ln -sf redis-check-rdb "$dest/usr/bin/redis-server"
echo "fetched Debian's redis-server into $dest"
