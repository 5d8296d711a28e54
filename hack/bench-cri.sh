#!/usr/bin/env bash
# CRI benchmark (not a test), issue 5: crictl against liftoff-cri and, when it is installed, against
# containerd (Debian's 1.6 with runc), same image, same pod and container configs, same CNI plugins
# (a private bridge network each, no masquerade). Per runtime, RUNS iterations of
#   RunPodSandbox · CreateContainer+StartContainer · ExecSync (`true`) · StopContainer+RemoveContainer
# each timed around the crictl calls (crictl's own start-up is in both figures) and, from each runtime's
# own debug log, inside the server (hack/rpc-durations.py: no client start-up), then the daemon's RSS
# with PODS pods each running one container, and the per-pod memory beside it (liftoff-stage1 PSS;
# containerd-shim + pause PSS).
#   hack/bench-cri.sh [RUNS] [PODS]     (root; needs hack/test-env.sh start, crictl, a built liftoff)
# Then, with READS=N (default 20; 0 skips it), hack/bench-reads.py against the same server: one persistent
# gRPC client timing kubelet's reads (lists, a status per container and sandbox) with N running pods, a
# lifecycle per RPC, and exit -> event latency (needs Python's grpcio and grpcio-tools).
# With ROUNDS=N (default 1) the read benchmark runs N times per runtime, alternating liftoff, containerd,
# liftoff, …, and ends with each figure's per-round medians side by side and in how many rounds
# liftoff-cri's was the lower: this VM's speed drifts by up to ~20 % over minutes, more than some of
# the differences measured, so one run of each, one after the other, decides nothing on its own.
# Env: BIN_DIR (default: newest of .build*/release, else .build/debug), READS, ROUNDS.
set -euo pipefail
RUNS=${1:-10}
PODS=${2:-10}
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HACK/.." && pwd)
BIN_DIR=${BIN_DIR:-$(dirname "$(ls -t "$ROOT"/.build*/release/liftoff-cri "$ROOT"/.build/debug/liftoff-cri 2>/dev/null | head -1)")}
REG=${LIFTOFF_TEST_REGISTRY:-127.0.0.1:5000}
IMAGE=$REG/liftoff-test/busybox:latest
PAUSE=$REG/liftoff-bench/pause:latest
command -v crictl >/dev/null || { echo "bench-cri: needs crictl (cri-tools)" >&2; exit 1; }
[[ -x $BIN_DIR/liftoff-cri ]] || { echo "bench-cri: build first (swift build -c release)" >&2; exit 1; }
curl -sf "http://$REG/v2/" >/dev/null || { echo "bench-cri: no registry at $REG: hack/test-env.sh start" >&2; exit 1; }
W=$(mktemp -d /tmp/liftoff-bench-cri.XXXXXX)
echo "binaries: $BIN_DIR   work: $W"

# A pause image for containerd's sandboxes: the busybox test image with Cmd sleep.
python3 - "$W" "${LIFTOFF_TEST_IMAGES:-/run/liftoff-test/images}/busybox" <<'PY'
import hashlib, json, os, shutil, sys
w, src = sys.argv[1], sys.argv[2]
dst = os.path.join(w, "pause"); shutil.copytree(src, dst)
b = os.path.join(dst, "blobs", "sha256")
def get(d): return json.load(open(os.path.join(b, d.split(":")[1])))
def put(o):
    data = json.dumps(o).encode(); d = hashlib.sha256(data).hexdigest()
    open(os.path.join(b, d), "wb").write(data); return "sha256:" + d, len(data)
idx = json.load(open(os.path.join(dst, "index.json")))
desc = idx["manifests"][0]
m = get(desc["digest"])
cfg = get(m["config"]["digest"]); cfg["config"]["Cmd"] = ["sleep", "2147483647"]
m["config"]["digest"], m["config"]["size"] = put(cfg)
desc["digest"], desc["size"] = put(m)
json.dump(idx, open(os.path.join(dst, "index.json"), "w"))
PY
python3 "$HACK/push-image.py" "$W/pause" "$PAUSE" >/dev/null

netconf() {  # DIR NAME BRIDGE SUBNET
  mkdir -p "$1"
  cat > "$1/10-bench.conflist" <<JSON
{"cniVersion":"1.0.0","name":"$2","plugins":[
 {"type":"bridge","bridge":"$3","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"$4"}]],"dataDir":"$W/ipam-$2"}},
 {"type":"portmap","capabilities":{"portMappings":true}},{"type":"loopback"}]}
JSON
}
cat > "$W/pod.json" <<JSON
{"metadata":{"name":"bench","namespace":"bench","uid":"UID","attempt":0},"log_directory":"$W/logs/UID","linux":{}}
JSON
cat > "$W/ctr.json" <<JSON
{"metadata":{"name":"app"},"image":{"image":"$IMAGE"},"command":["/bin/sleep","3600"],"log_path":"app.log","linux":{}}
JSON

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { python3 -c 'import sys,statistics; print("%.0f" % statistics.median([float(x) for x in sys.argv[1:]]))' "$@"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/ {s+=$2} END {print s+0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

# run_bench NAME ENDPOINT DAEMON_PID → prints the figures; leaves no pod behind.
run_bench() {
  local name=$1 ep=$2 dpid=$3
  local C="crictl -r unix://$ep -i unix://$ep --timeout 60s"
  $C pull "$IMAGE" >/dev/null
  local RP=() CS=() EX=() SR=()
  for i in $(seq 0 "$RUNS"); do
    local uid=$name-$i-$RANDOM
    sed "s/UID/$uid/g" "$W/pod.json" > "$W/pod-$uid.json"
    local t0 t1 t2 t3 t4 t5 t6 p c
    t0=$(now); p=$($C runp "$W/pod-$uid.json"); t1=$(now)
    c=$($C create "$p" "$W/ctr.json" "$W/pod-$uid.json"); $C start "$c" >/dev/null; t2=$(now)
    t3=$(now); $C exec -s "$c" true >/dev/null; t4=$(now)
    t5=$(now); $C stop "$c" >/dev/null; $C rm "$c" >/dev/null; t6=$(now)
    $C stopp "$p" >/dev/null; $C rmp "$p" >/dev/null
    if [[ $i -gt 0 ]]; then  # iteration 0 warms up (containerd pulls its pause image)
      RP+=("$(ms "$t0" "$t1")"); CS+=("$(ms "$t1" "$t2")"); EX+=("$(ms "$t3" "$t4")"); SR+=("$(ms "$t5" "$t6")")
    fi
  done
  printf '%-11s median ms over %d runs: RunPodSandbox %s · Create+Start %s · ExecSync %s · Stop+Remove %s\n' \
    "$name" "$RUNS" "$(median "${RP[@]}")" "$(median "${CS[@]}")" "$(median "${EX[@]}")" "$(median "${SR[@]}")"
  local pods=()
  for i in $(seq 1 "$PODS"); do
    local uid=$name-rss-$i-$RANDOM
    sed "s/UID/$uid/g" "$W/pod.json" > "$W/pod-$uid.json"
    p=$($C runp "$W/pod-$uid.json"); c=$($C create "$p" "$W/ctr.json" "$W/pod-$uid.json"); $C start "$c" >/dev/null
    pods+=("$p")
  done
  sleep 5  # both daemons idle (liftoff-cri gives pages back after 2 s idle)
  local per=0
  if [[ $name == liftoff ]]; then
    for pid in $(pgrep -f "liftoff-stage1 --pod-dir $W/"); do per=$((per + $(pss_kb "$pid"))); done
  else
    for pid in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io -id .* -address $ep"); do
      per=$((per + $(pss_kb "$pid")))
      for k in $(pgrep -P "$pid" -x sleep); do per=$((per + $(pss_kb "$k"))); done  # the pause processes
    done
  fi
  printf '%-11s with %d pods: daemon RSS %d KiB; per pod %d KiB PSS (%s)\n' "$name" "$PODS" "$(rss_kb "$dpid")" \
    $((per / PODS)) "$([[ $name == liftoff ]] && echo "liftoff-stage1" || echo "shim + pause")"
  for p in "${pods[@]}"; do $C stopp "$p" >/dev/null; $C rmp "$p" >/dev/null; done
}

# liftoff-cri
netconf "$W/lnet.d" liftoff-bench lfb$((RANDOM % 1000)) 10.251.0.0/16
"$BIN_DIR/liftoff-cri" --socket "$W/liftoff.sock" --dir "$W/liftoff" --cni-conf-dir "$W/lnet.d" --log-level debug \
  >"$W/liftoff-cri.log" 2>&1 &
LPID=$!
for _ in $(seq 1 100); do [[ -S $W/liftoff.sock ]] && break; sleep 0.1; done
cleanup() {
  kill "$LPID" 2>/dev/null || true
  [[ -n ${CPID:-} ]] && kill "$CPID" 2>/dev/null || true
  sleep 1
  "$BIN_DIR/liftoff" --dir "$W/liftoff" gc --grace-period 0 >/dev/null 2>&1 || true
  for b in $(ip -o link show type bridge | awk -F': ' '{print $2}' | grep -E '^(lfb|ctb)[0-9]+$'); do ip link del "$b" 2>/dev/null || true; done
  umount -R "$W/containerd" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
ROUNDS=${ROUNDS:-1}
reads_ok() { [[ ${READS:-20} -gt 0 ]] && python3 -c 'import grpc, grpc_tools' 2>/dev/null; }
run_reads() {  # NAME ENDPOINT ROUND
  reads_ok || { [[ ${READS:-20} -gt 0 ]] && echo "$1 reads: skipped (pip install grpcio grpcio-tools)"; return 0; }
  echo "$1 reads, persistent client, ${READS:-20} pods$([[ $ROUNDS -gt 1 ]] && echo ", round $3 of $ROUNDS"):"
  python3 "$HACK/bench-reads.py" "$2" "$IMAGE" --pods "${READS:-20}" --runs 20 | tee "$W/reads-$1-$3.txt" | sed "s/^/  $1 /"
}
run_bench liftoff "$W/liftoff.sock" "$LPID"
python3 "$HACK/rpc-durations.py" liftoff "$W/liftoff-cri.log"
HAVE_CONTAINERD=$(command -v containerd >/dev/null && command -v runc >/dev/null && echo 1 || true)
# Alone, or without containerd to alternate with: the reads right after liftoff's lifecycle, as always.
[[ $ROUNDS -gt 1 && -n $HAVE_CONTAINERD ]] || run_reads liftoff "$W/liftoff.sock" 1

if [[ -n $HAVE_CONTAINERD ]]; then
  CT=$W/containerd; mkdir -p "$CT"
  netconf "$W/cnet.d" containerd-bench ctb$((RANDOM % 1000)) 10.252.0.0/16
  cat > "$CT/config.toml" <<TOML
version = 2
root = "$CT/root"
state = "$CT/state"
[grpc]
  address = "$CT/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  restrict_oom_score_adj = true  # root here lacks CAP_SYS_RESOURCE
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/cnet.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REG"]
    endpoint = ["http://$REG"]
TOML
  containerd --config "$CT/config.toml" --log-level debug >"$CT/log" 2>&1 &
  CPID=$!
  for _ in $(seq 1 100); do [[ -S $CT/containerd.sock ]] && break; sleep 0.1; done
  sleep 1
  run_bench containerd "$CT/containerd.sock" "$CPID"
  python3 "$HACK/rpc-durations.py" containerd "$CT/log"
  if [[ $ROUNDS -gt 1 ]]; then
    for r in $(seq 1 "$ROUNDS"); do
      run_reads liftoff "$W/liftoff.sock" "$r"
      run_reads containerd "$CT/containerd.sock" "$r"
    done
    reads_ok && python3 - "$W" "$ROUNDS" <<'PY'
import re, statistics, sys
w, rounds = sys.argv[1], int(sys.argv[2])
def medians(name, r):
    out = {}
    for line in open(f"{w}/reads-{name}-{r}.txt"):
        m = re.match(r"(.+?)\s+median\s+([\d.]+)", line)
        if m: out[m.group(1).strip()] = float(m.group(2))
    return out
lo = [medians("liftoff", r) for r in range(1, rounds + 1)]
ct = [medians("containerd", r) for r in range(1, rounds + 1)]
print(f"reads over {rounds} alternating rounds: per-round medians in ms, liftoff-cri / containerd; rounds liftoff-cri's was lower")
for k in lo[0]:
    if not all(k in d for d in lo + ct): continue
    pairs = " ".join(f"{a[k]:.3f}/{b[k]:.3f}" for a, b in zip(lo, ct))
    below = sum(a[k] <= b[k] for a, b in zip(lo, ct))
    mid = f"{statistics.median(a[k] for a in lo):.3f}/{statistics.median(b[k] for b in ct):.3f}"
    print(f"  {k:34} {pairs}   median {mid}   lower in {below} of {rounds}")
PY
  else
    run_reads containerd "$CT/containerd.sock" 1
  fi
else
  echo "containerd  skipped: not installed (apt-get install containerd)"
fi
