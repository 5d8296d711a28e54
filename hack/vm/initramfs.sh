#!/usr/bin/env bash
# hack/vm/initramfs.sh KERNEL_VERSION OUT.cpio.gz
# Builds the VM's initramfs from Debian packages already on this machine: busybox-static for the
# shell and tools, and from linux-image-<version> the modules that mounting the root needs (virtio
# PCI, 9p over virtio, overlayfs), each after the modules it depends on (modules.dep). Its /init is
# hack/vm/guest/init. Everything else the guest runs comes from the host's root filesystem, shared
# read-only over 9p (hack/vm/run.sh); the guest's modprobe finds the rest of the modules there.
set -euo pipefail
kver=${1:?usage: initramfs.sh KERNEL_VERSION OUT.cpio.gz}
out=${2:?usage: initramfs.sh KERNEL_VERSION OUT.cpio.gz}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
moddir=/lib/modules/$kver
busybox=/bin/busybox
[[ -f $moddir/modules.dep ]] || { echo "initramfs: $moddir/modules.dep missing (apt-get install linux-image-amd64)" >&2; exit 1; }
[[ -x $busybox ]] && "$busybox" --list | grep -qx switch_root ||
  { echo "initramfs: $busybox (busybox-static) missing or without switch_root" >&2; exit 1; }

wanted=(virtio_pci 9pnet_virtio 9p overlay)

# The module's path and every dependency before it, once each (modules.dep lists a module's
# dependencies with the deepest last, so they load in reverse order).
declare -A seen=()
order=()
add_module() {
  local name=$1 line path deps i
  line=$(grep -E "(^|/)${name}\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -1) ||
    { grep -qE "^(kernel/)?.*/${name}\.ko" "$moddir/modules.builtin" 2>/dev/null && return 0
      echo "initramfs: module $name not found in $moddir" >&2; exit 1; }
  path=${line%%:*}
  read -ra deps <<<"${line#*:}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
    [[ -n ${seen[${deps[$i]}]:-} ]] && continue
    seen[${deps[$i]}]=1
    order+=("${deps[$i]}")
  done
  [[ -n ${seen[$path]:-} ]] && return 0
  seen[$path]=1
  order+=("$path")
}
for m in "${wanted[@]}"; do add_module "$m"; done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,dev,proc,sys,host,rw,newroot,modules}
cp "$busybox" "$tmp/bin/busybox"
for applet in sh rm mount umount mkdir insmod switch_root cat echo sleep poweroff sync ln cp chmod; do
  ln -s busybox "$tmp/bin/$applet"
done
: >"$tmp/modules/order"
for path in "${order[@]}"; do
  file=$(basename "$path")
  case $file in
    *.ko) cp "$moddir/$path" "$tmp/modules/$file" ;;
    *.ko.xz) xz -dc "$moddir/$path" >"$tmp/modules/${file%.xz}"; file=${file%.xz} ;;
    *.ko.zst) zstd -qdc "$moddir/$path" >"$tmp/modules/${file%.zst}"; file=${file%.zst} ;;
    *) echo "initramfs: cannot load $path" >&2; exit 1 ;;
  esac
  echo "$file" >>"$tmp/modules/order"
done
install -m 0755 "$here/guest/init" "$tmp/init"
mkdir -p "$(dirname "$out")"
(cd "$tmp" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
