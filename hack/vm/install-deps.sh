#!/usr/bin/env bash
# The Debian 12 packages the VM test harness (hack/vm/run.sh) needs, beyond hack/install-deps.sh's:
# qemu (TCG, 9p) and Debian's kernel with its modules (virtio, 9p, overlayfs; the guest's modprobe
# reads the rest from the shared root). busybox-static (the initramfs, the v2 profile's init), systemd
# and dbus (the systemd profile) are already on a Debian machine or in hack/install-deps.sh.
# Nothing is downloaded from anywhere but the Debian archive. Idempotent; root.
set -euo pipefail
packages=(qemu-system-x86 linux-image-amd64 busybox-static systemd dbus kmod cpio)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
