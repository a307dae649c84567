#!/usr/bin/env bash
# Installs what tests/dkms_*.rs need: Debian's headers (kbuild + matching gcc)
# for the kernel of the amd64-6.1-ko fixture/full tree, and real dkms (the
# reference the tests compare against). Idempotent; prints the kernel version.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
V=${KMODTREE_DKMS_KVER:-6.1.0-56-amd64}
pkgs=()
[ -f "/usr/src/linux-headers-$V/Makefile" ] || pkgs+=("linux-headers-$V")
command -v dkms >/dev/null 2>&1 || [ -x /usr/sbin/dkms ] || pkgs+=(dkms)
command -v unshare >/dev/null 2>&1 || pkgs+=(util-linux)
command -v patch >/dev/null 2>&1 || pkgs+=(patch)
if [ ${#pkgs[@]} -gt 0 ]; then
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
echo "$V"
