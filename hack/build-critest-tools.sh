#!/usr/bin/env bash
# Builds the static programs critest's stand-in images are made of (hack/build-test-images.py
# --critest puts them into images), into OUTDIR (default /var/cache/liftoff-test/critest-tools), once:
#
#   busybox  BusyBox 1.35.0 (the version Debian 12's busybox-static packages; source from Debian's
#            archive, checksum pinned), defconfig, static. Not Debian's busybox-static itself: that one
#            is built with FEATURE_SH_STANDALONE, so its `sh` runs applets in-process without looking
#            at /bin/ls & co (critest's MaskedPaths spec masks /bin/ls and expects
#            "/bin/sh: ls: Permission denied"), and it lacks pgrep and ipcs, which critest runs.
#   nnp      hack/critest/nnp.c: prints its effective uid (the nonewprivs image has it setuid root)
#   pause    hack/critest/pause.c: waits for SIGTERM (the pause image)
#
# Prints OUTDIR. Needs gcc, make, bzip2, curl (hack/install-deps.sh installs them).
set -euo pipefail

HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSION=1.35.0
TARBALL=busybox_$VERSION.orig.tar.bz2
URL=https://deb.debian.org/debian/pool/main/b/busybox/$TARBALL
SHA256=faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694
OUT=${1:-/var/cache/liftoff-test/critest-tools}

die() { echo "build-critest-tools: $*" >&2; exit 1; }

# What the tools are built from: a change to any of it rebuilds them.
stamp=$( { echo "$VERSION $SHA256 defconfig+static"; cat "$HACK/critest/nnp.c" "$HACK/critest/pause.c"; } | sha256sum | cut -c1-16)
if [[ -f $OUT/stamp && $(cat "$OUT/stamp") == "$stamp" && -x $OUT/busybox && -x $OUT/nnp && -x $OUT/pause ]]; then
  echo "$OUT"
  exit 0
fi
for tool in gcc make bzip2 curl; do command -v "$tool" >/dev/null || die "$tool missing (hack/install-deps.sh)"; done

work=$(mktemp -d /tmp/liftoff-critest-tools.XXXXXX)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 -o "$work/$TARBALL" "$URL" || die "cannot download $URL"
echo "$SHA256  $work/$TARBALL" | sha256sum -c --quiet - || die "$TARBALL: checksum mismatch"
tar -xjf "$work/$TARBALL" -C "$work"
src=$work/busybox-$VERSION
make -C "$src" -s defconfig >/dev/null
sed -i 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' "$src/.config"
grep -qx 'CONFIG_STATIC=y' "$src/.config" || die "could not make the busybox build static"
grep -qx '# CONFIG_FEATURE_SH_STANDALONE is not set' "$src/.config" || die "busybox defconfig has FEATURE_SH_STANDALONE"
make -C "$src" -s -j"$(nproc)" busybox >"$work/make.log" 2>&1 || { tail -30 "$work/make.log" >&2; die "busybox build failed"; }
for applet in top pgrep ipcs brctl ping pidof netstat httpd; do
  "$src/busybox" --list | grep -qx "$applet" || die "busybox lacks $applet"
done

mkdir -p "$OUT.tmp"
cp "$src/busybox" "$OUT.tmp/busybox"
gcc -static -O2 -o "$OUT.tmp/nnp" "$HACK/critest/nnp.c"
gcc -static -O2 -o "$OUT.tmp/pause" "$HACK/critest/pause.c"
strip "$OUT.tmp/nnp" "$OUT.tmp/pause"
echo "$stamp" >"$OUT.tmp/stamp"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
