#!/bin/bash
# bench-pod.sh — the pod executor's two figures (issue 4):
#   1. stage1 memory: PSS of each liftoff-stage1 with 10 pods running (from /proc/PID/smaps_rollup)
#   2. wall time of `liftoff run --net=none IMAGE --exec /bin/true` with the image already stored
#      (hyperfine, page cache warm: nothing is read from disk that a second run would not find)
#   3. run + gc with --net=default on a private CNI bridge network (bridge + host-local + portmap from
#      /usr/lib/cni; own conf dir, bridge and 10.254.x.0/24 subnet) against run + gc with --net=none
# Usage: hack/bench-pod.sh [BIN_DIR]   (default: .build-bench/release, else .build/release)
#   e.g. swift build -c release --product liftoff-stage1 && LIFTOFF_STAGE1=.build/release/liftoff-stage1 hack/bench-pod.sh .build/debug
# Env:   PODS=10 RUNS=30 LIFTOFF_STAGE1=… (another stage1 binary)
# Needs root, busybox-static and hyperfine. Cleans up after itself (stop, gc, rm -rf).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
if [ -z "$BIN" ]; then
  for d in .build-bench/release .build/release; do [ -x "$d/liftoff" ] && BIN=$d && break; done
fi
[ -n "$BIN" ] && [ -x "$BIN/liftoff" ] || { echo "no liftoff binary; build with: swift build -c release" >&2; exit 1; }
PODS=${PODS:-10}
RUNS=${RUNS:-30}
WORK=$(mktemp -d /tmp/liftoff-bench.XXXXXX)
DATA=$WORK/data
ROOTFS=$WORK/rootfs
LIFTOFF="$BIN/liftoff --dir $DATA"
BRIDGE=lfbench$((RANDOM % 10000))
NETNAME=liftoff-bench-$BRIDGE

cleanup() {
  for id in $($LIFTOFF list --format json 2>/dev/null | python3 -c 'import json,sys; [print(p["id"]) for p in json.load(sys.stdin) if p["state"]=="running"]' 2>/dev/null); do
    $LIFTOFF stop --force "$id" >/dev/null 2>&1 || true
  done
  wait 2>/dev/null || true
  $LIFTOFF gc --grace-period 0 >/dev/null 2>&1 || true
  ip link del "$BRIDGE" >/dev/null 2>&1 || true
  rm -rf "/var/lib/cni/networks/$NETNAME"
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$ROOTFS/bin" "$ROOTFS/etc"
cp /bin/busybox "$ROOTFS/bin/"
for a in sh sleep true; do ln -s busybox "$ROOTFS/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOTFS/etc/passwd"
echo 'root:x:0:' > "$ROOTFS/etc/group"

STAGE1=${LIFTOFF_STAGE1:-$BIN/liftoff-stage1}
echo "liftoff: $BIN/liftoff; stage1: $STAGE1 ($(stat -c %s "$STAGE1") bytes)"
echo "kernel: $(uname -r), $(nproc) CPUs"

# 1. stage1 PSS with $PODS pods
for i in $(seq "$PODS"); do
  $LIFTOFF run --net=none "$ROOTFS" --exec /bin/sleep -- 100000 >/dev/null 2>&1 &
done
for _ in $(seq 200); do
  n=$($LIFTOFF list --format json | python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin) if p["state"]=="running" and all(a["state"]=="running" for a in p["apps"])))')
  [ "$n" -ge "$PODS" ] && break
  sleep 0.1
done
sleep 1
pids=$($LIFTOFF list --format json | python3 -c 'import json,sys; [print(p["pid"]) for p in json.load(sys.stdin) if p.get("pid")]')
total=0; count=0; rss_total=0
for p in $pids; do
  pss=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup)
  rss=$(awk '/^Rss:/ {print $2}' /proc/$p/smaps_rollup)
  total=$((total + pss)); rss_total=$((rss_total + rss)); count=$((count + 1))
done
echo "stage1 with $count pods running: PSS per pod $(awk "BEGIN {printf \"%.2f\", $total/$count/1024}") MiB" \
  "(total $(awk "BEGIN {printf \"%.2f\", $total/1024}") MiB), RSS per pod $(awk "BEGIN {printf \"%.2f\", $rss_total/$count/1024}") MiB"
for id in $($LIFTOFF list --format json | python3 -c 'import json,sys; [print(p["id"]) for p in json.load(sys.stdin) if p["state"]=="running"]'); do
  $LIFTOFF stop --force "$id" >/dev/null
done
wait 2>/dev/null || true
$LIFTOFF gc --grace-period 0 >/dev/null

# 2. wall time of one immutable pod running /bin/true (gc between runs keeps the state small)
hyperfine --warmup 3 --runs "$RUNS" --export-json "$WORK/run.json" \
  --cleanup "$LIFTOFF gc --grace-period 0 >/dev/null" \
  "$LIFTOFF run --net=none $ROOTFS --exec /bin/true" >/dev/null
python3 - "$WORK/run.json" <<'PY'
import json, sys, statistics
r = json.load(open(sys.argv[1]))["results"][0]
t = sorted(r["times"])
print(f"liftoff run --net=none IMAGE --exec /bin/true: median {statistics.median(t)*1000:.1f} ms, "
      f"mean {r['mean']*1000:.1f} ms ± {r['stddev']*1000:.1f}, min {t[0]*1000:.1f} ms ({len(t)} runs)")
PY

# 3. the same on a CNI network (ADD before stage1 starts; DEL in the gc after each run, so both counted)
mkdir -p "$WORK/net.d"
cat > "$WORK/net.d/10-bench.conflist" <<EOF
{"cniVersion":"1.0.0","name":"$NETNAME","plugins":[
 {"type":"bridge","bridge":"$BRIDGE","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.254.$((RANDOM % 256)).0/24"}]]}},
 {"type":"portmap","capabilities":{"portMappings":true},"snat":true}]}
EOF
NET="$LIFTOFF --cni-conf-dir $WORK/net.d --cni-bin-dir /usr/lib/cni --cni-default-network=false"
hyperfine --warmup 3 --runs "$RUNS" --export-json "$WORK/cni.json" \
  "$NET run --net=default $ROOTFS --exec /bin/true; $NET gc --grace-period 0 >/dev/null" >/dev/null
hyperfine --warmup 3 --runs "$RUNS" --export-json "$WORK/none-gc.json" \
  "$LIFTOFF run --net=none $ROOTFS --exec /bin/true; $LIFTOFF gc --grace-period 0 >/dev/null" >/dev/null
python3 - "$WORK/cni.json" "$WORK/none-gc.json" <<'PY'
import json, sys, statistics
cni = sorted(json.load(open(sys.argv[1]))["results"][0]["times"])
none = sorted(json.load(open(sys.argv[2]))["results"][0]["times"])
m1, m0 = statistics.median(cni) * 1000, statistics.median(none) * 1000
print(f"run + gc with --net=default (CNI bridge): median {m1:.1f} ms; with --net=none: median {m0:.1f} ms; "
      f"CNI adds {m1 - m0:.1f} ms ({len(cni)} runs each)")
PY
