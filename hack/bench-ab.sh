#!/usr/bin/env bash
# A/B benchmark of two builds (not a test): liftoff-cri from BIN_DIR_A and from BIN_DIR_B, alternately
# (A, B, A, B, …: drift of a busy machine falls on both), each round on a fresh data directory and CNI
# bridge, with hack/bench-reads.py's persistent client (PODS running pods, reads and lifecycles). Prints,
# per RPC, the median over rounds of each round's median for A and for B, and B/A; and, with `perf`
# installed, the CPU time and instructions of the whole runtime per round (liftoff-cri and all it
# starts: liftoff, stage1, CNI plugins), the steadier figure on a noisy machine.
#   hack/bench-ab.sh BIN_DIR_A BIN_DIR_B [ROUNDS] [PODS]   (root; hack/test-env.sh start; grpcio, grpcio-tools)
# E.g. a release build of the commit before a change against one of the change (issue 17's "CRI
# benchmark no slower"). Sends traffic only to the Unix socket and to pods on its own bridge.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: hack/bench-ab.sh BIN_DIR_A BIN_DIR_B [ROUNDS] [PODS]" >&2; exit 2; }
A=$(cd "$1" && pwd)
B=$(cd "$2" && pwd)
ROUNDS=${3:-3}
PODS=${4:-5}
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REG=${LIFTOFF_TEST_REGISTRY:-127.0.0.1:5000}
IMAGE=$REG/liftoff-test/busybox:latest
for d in "$A" "$B"; do [[ -x $d/liftoff-cri && -x $d/liftoff ]] || { echo "bench-ab: no liftoff-cri in $d" >&2; exit 1; }; done
python3 -c 'import grpc, grpc_tools' 2>/dev/null || { echo "bench-ab: needs pip install grpcio grpcio-tools" >&2; exit 1; }
curl -sf "http://$REG/v2/" >/dev/null || { echo "bench-ab: no registry at $REG: hack/test-env.sh start" >&2; exit 1; }
W=$(mktemp -d /tmp/liftoff-bench-ab.XXXXXX)
BR=lab$((RANDOM % 1000))
mkdir -p "$W/net.d"
cat > "$W/net.d/10-bench.conflist" <<JSON
{"cniVersion":"1.0.0","name":"liftoff-ab","plugins":[
 {"type":"bridge","bridge":"$BR","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.253.0.0/16"}]],"dataDir":"$W/ipam"}},
 {"type":"portmap","capabilities":{"portMappings":true}},{"type":"loopback"}]}
JSON
PID=
stop_server() {  # BIN_DIR DATA_DIR
  # liftoff-cri itself (under perf stat, its child): SIGTERM, a graceful stop; perf then writes its counts.
  local cri; cri=$(pgrep -P "$PID" -x liftoff-cri || echo "$PID")
  kill "$cri" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
  "$1/liftoff" --dir "$2" gc --grace-period 0 >/dev/null 2>&1 || true
}
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null || true
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
echo "A: $A"
echo "B: $B"
for r in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$A; [[ $side == B ]] && bin=$B
    sock=$W/$side-$r.sock data=$W/data-$side-$r
    if command -v perf >/dev/null; then
      perf stat -x, -o "$W/$side-$r.perf" -e task-clock,instructions -- \
        "$bin/liftoff-cri" --socket "$sock" --dir "$data" --cni-conf-dir "$W/net.d" >"$W/$side-$r.log" 2>&1 &
    else
      "$bin/liftoff-cri" --socket "$sock" --dir "$data" --cni-conf-dir "$W/net.d" >"$W/$side-$r.log" 2>&1 &
    fi
    PID=$!
    for _ in $(seq 1 100); do [[ -S $sock ]] && break; sleep 0.1; done
    python3 "$HACK/bench-reads.py" "$sock" "$IMAGE" --pods "$PODS" --runs 40 > "$W/$side-$r.txt"
    stop_server "$bin" "$data"
    echo "round $r $side: lifecycle $(awk '/^lifecycle/ {print $3}' "$W/$side-$r.txt") ms"
  done
done
python3 - "$W" "$ROUNDS" <<'PY'
import glob, os, re, statistics, sys
w, rounds = sys.argv[1], int(sys.argv[2])
sides = {"A": {}, "B": {}}
for side in sides:
    for r in range(1, rounds + 1):
        for line in open(os.path.join(w, f"{side}-{r}.txt")):
            m = re.match(r"(.+?)\s+median\s+([\d.]+)", line)
            if m:
                sides[side].setdefault(m.group(1).strip(), []).append(float(m.group(2)))
print(f"{'median of round medians, ms':40} {'A':>9} {'B':>9} {'B/A':>6}")
for name, a in sides["A"].items():
    b = sides["B"].get(name)
    if not b:
        continue
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:40} {ma:9.3f} {mb:9.3f} {mb / ma:6.2f}")
perf = {"A": {}, "B": {}}
for side in perf:
    for r in range(1, rounds + 1):
        f = os.path.join(w, f"{side}-{r}.perf")
        if not os.path.exists(f):
            continue
        for line in open(f):
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[0] and parts[0][0].isdigit():
                perf[side].setdefault(parts[2], []).append(float(parts[0]))
for event, unit, scale in [("task-clock", "CPU s", 1e-3), ("instructions", "instructions ×10⁹", 1e-9)]:
    a, b = perf["A"].get(event), perf["B"].get(event)
    if a and b:
        ma, mb = statistics.median(a) * scale, statistics.median(b) * scale
        print(f"{'whole runtime, ' + unit + ' per round':40} {ma:9.3f} {mb:9.3f} {mb / ma:6.2f}")
PY
