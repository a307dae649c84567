#!/usr/bin/env bash
# Makes Guix's own Scheme code runnable here, as the reference for the Guix
# comparison tests (tests/guix_*.rs, tests/union_*.rs):
#   * Guile 3.0 with guile-zlib and guile-zstd, and guild (guile-3.0-dev) (Debian's packages);
#   * the `guix` package of Debian sid (its Scheme sources only), downloaded
#     with apt-get and unpacked with dpkg-deb into a cache directory;
#   * Guix's modules compiled once (about a minute).
# Prints the directory to export as KMODTREE_GUIX_SRC (the unpacked
# usr/share/guile/site/3.0).
#
# Usage: tests/guix/setup.sh [CACHE]   (default: $KMODTREE_GUIX_CACHE, else /tmp/kmodtree-guix)
# Idempotent. Needs root (apt-get). Adds Debian sid to apt's sources, pinned
# at priority 100 so nothing is upgraded from it.
set -euo pipefail
CACHE=${1:-${KMODTREE_GUIX_CACHE:-/tmp/kmodtree-guix}}
SRC=$CACHE/root/usr/share/guile/site/3.0
here=$(cd "$(dirname "$0")" && pwd)

export DEBIAN_FRONTEND=noninteractive
need=()
for p in guile-3.0 guile-3.0-dev guile-zlib guile-zstd; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -f "$SRC/gnu/build/linux-modules.scm" ]; then
  if ! apt-cache policy guix 2>/dev/null | grep -q '/debian sid/'; then
    uri=$(apt-cache policy | awk '$3 ~ /^(bookworm|trixie)\/main$/ {print $2; exit}')
    [ -n "$uri" ] || { echo "guix-setup: cannot find the Debian mirror in apt's sources" >&2; exit 1; }
    cat > /etc/apt/sources.list.d/kmodtree-sid.sources <<EOT
Types: deb
URIs: $uri
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
    cat > /etc/apt/preferences.d/kmodtree-sid <<'EOT'
Package: *
Pin: release n=sid
Pin-Priority: 100
EOT
    apt-get update -qq || true
  fi
  mkdir -p "$CACHE/deb"
  chmod 777 "$CACHE/deb"   # apt's _apt user downloads into it
  (cd "$CACHE/deb" && rm -f guix_*.deb && apt-get download -qq guix/sid >/dev/null)
  rm -rf "$CACHE/root.tmp"
  dpkg-deb -x "$CACHE"/deb/guix_*.deb "$CACHE/root.tmp"
  rm -rf "$CACHE/root"
  mv "$CACHE/root.tmp" "$CACHE/root"
fi

# Compile Guix's modules once (Guile caches them under ~/.cache/guile).
guile -L "$SRC" -c '(use-modules (gnu build linux-modules) (guix build union) (guix build utils))' >/dev/null 2>&1
echo "$SRC"
