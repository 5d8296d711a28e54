#!/bin/bash
# bench-attach.sh — what attach costs stage1 (issue 7): PSS of each liftoff-stage1 with PODS mutable
# pods whose app has a CRI log, a stdin and an attach socket (`app add --stdin --log-path`), first with
# no client, then with one attached client per pod that has exchanged a line (its buffers allocated),
# then after the clients left.
# Usage: hack/bench-attach.sh [BIN_DIR]   (default: .build/debug for liftoff; stage1 from
#   LIFTOFF_STAGE1, else BIN_DIR/liftoff-stage1 — use a release stage1, as pods get in production:
#   swift build -c release --product liftoff-stage1 && LIFTOFF_STAGE1=.build/release/liftoff-stage1 hack/bench-attach.sh)
# Env: PODS=10. Needs root, busybox-static, python3. Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build/debug}
[ -x "$BIN/liftoff" ] || { echo "no $BIN/liftoff; build first" >&2; exit 1; }
PODS=${PODS:-10}
WORK=$(mktemp -d /tmp/liftoff-bench-attach.XXXXXX)
DATA=$WORK/data
ROOTFS=$WORK/rootfs
LIFTOFF="$BIN/liftoff --dir $DATA"
export LIFTOFF_STAGE1=${LIFTOFF_STAGE1:-$BIN/liftoff-stage1}
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  for id in $(ls "$DATA/pods/run" 2>/dev/null); do $LIFTOFF stop --force "$id" >/dev/null 2>&1 || true; done
  $LIFTOFF gc --grace-period 0 >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$ROOTFS/bin" "$ROOTFS/etc"
cp /bin/busybox "$ROOTFS/bin/"
for a in sh cat; do ln -s busybox "$ROOTFS/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOTFS/etc/passwd"
echo 'root:x:0:' > "$ROOTFS/etc/group"
echo "stage1: $LIFTOFF_STAGE1 ($(stat -c %s "$LIFTOFF_STAGE1") bytes); kernel $(uname -r), $(nproc) CPUs"

pods=()
for i in $(seq "$PODS"); do
  id=$($LIFTOFF app sandbox --net none)
  $LIFTOFF app add "$id" "$ROOTFS" --name app --stdin --log-path "$WORK/logs/$i.log" --exec /bin/cat >/dev/null
  $LIFTOFF app start --app app "$id"
  pods+=("$id")
done
measure() {
  sleep 1
  local total=0 count=0
  for id in "${pods[@]}"; do
    p=$(cat "$DATA/pods/run/$id/stage1/pid")
    total=$((total + $(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup))); count=$((count + 1))
  done
  echo "$1: stage1 PSS per pod $(awk "BEGIN {printf \"%.2f\", $total/$count/1024}") MiB ($count pods)"
}
measure "attach sockets, no client"
# One client per pod (a tiny Python client of LiftoffCore/AttachProtocol.swift): hello-with-stdin, a
# line, its echo back, then it stays connected while we measure.
for id in "${pods[@]}"; do
  python3 - "$DATA/pods/run/$id/apps/app" <<'PY' &
import os, socket, struct, sys, time
d = os.open(sys.argv[1], os.O_PATH)
s = socket.socket(socket.AF_UNIX)
s.connect(f"/proc/self/fd/{d}/attach.sock")
s.sendall(bytes([4]) + struct.pack(">I", 0))
line = b"hello attach\n"
s.sendall(bytes([1]) + struct.pack(">I", len(line)) + line)
got = b""
while line not in got:
    got += s.recv(4096)
time.sleep(30)
PY
done
sleep 2
measure "one attached client per pod"
kill $(jobs -p) 2>/dev/null || true
wait 2>/dev/null || true
measure "after the clients left"
