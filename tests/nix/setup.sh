#!/usr/bin/env bash
# Makes a single-user Nix usable for the Nix builder tests (tests/testsuite/nix_builders.rs):
#   * Debian's nix-bin (nix-build, nix-store, nix-instantiate; about 15 s);
#   * /etc/nix/nix.conf: builds run as the calling user (no build users),
#     no substituters (nothing is downloaded), the sandbox on and required
#     (no silent fallback), with the host's /bin /usr /lib /lib64 visible
#     inside it so a kmodtree binary built on the host can run there.
# Idempotent; needs root. An existing nix.conf that is not ours is kept
# (pass --force to replace it). Prints the nix-build path.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v nix-build >/dev/null 2>&1; then
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends nix-bin >/dev/null
fi
conf=/etc/nix/nix.conf
marker="# written by kmodtree tests/nix/setup.sh"
if [ ! -e "$conf" ] || grep -qF "$marker" "$conf" || [ "${1:-}" = --force ]; then
  mkdir -p /etc/nix
  paths=""
  for p in /bin /usr /lib /lib64 /lib32 /libx32; do
    [ -e "$p" ] && paths="$paths $p"
  done
  cat > "$conf.tmp" <<EOT
$marker
build-users-group =
substituters =
sandbox = ${KMODTREE_NIX_SANDBOX:-true}
sandbox-fallback = false
extra-sandbox-paths =$paths
EOT
  mv "$conf.tmp" "$conf"
fi
mkdir -p /nix/var/nix/gcroots/per-user/root /nix/var/nix/profiles/per-user/root
command -v nix-build
