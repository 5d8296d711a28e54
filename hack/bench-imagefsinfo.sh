#!/usr/bin/env bash
# ImageFsInfo benchmark (not a test): a store of N images (default 50) and the time of the RPC kubelet
# sends every ~10 s, against two liftoff-cri builds on the same store.
#   hack/bench-imagefsinfo.sh [N] [CALLS]     (root; python3-grpcio and protobuf-compiler, as hack/stress.py)
#   BEFORE_BIN=DIR   a build directory of the older liftoff-cri (walked the whole store on every call)
#   AFTER_BIN=DIR    the build to measure (default: this tree's newest debug or release build)
# Each image: a base layer shared by all (600 files) and a layer of its own (2,000 files of 1-8 KiB in
# 40 directories), in one OCI layout, fetched with `liftoff fetch oci-layout:…` into a private --dir.
# Printed per build: the median and max of CALLS calls with warm caches, a first call after
# `drop_caches`, and the used bytes and inodes reported (they must agree between the builds).
set -euo pipefail
N=${1:-50}
CALLS=${2:-20}
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HACK/.." && pwd)
AFTER_BIN=${AFTER_BIN:-$(dirname "$(ls -t "$ROOT"/.build*/release/liftoff-cri "$ROOT"/.build*/debug/liftoff-cri 2>/dev/null | head -1)")}
WORK=${BENCH_DIR:-/var/tmp/liftoff-bench-fsinfo}
[[ -x $AFTER_BIN/liftoff-cri ]] || { echo "bench-imagefsinfo: build liftoff-cri first" >&2; exit 1; }
mkdir -p "$WORK"

if [[ ! -f $WORK/layout-$N/index.json ]]; then
  echo "building $N images…"
  python3 - "$WORK/layout-$N" "$N" <<'PY'
import hashlib, io, json, os, random, sys, tarfile
lay, n = sys.argv[1], int(sys.argv[2])
blobs = os.path.join(lay, "blobs", "sha256"); os.makedirs(blobs, exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest(); open(os.path.join(blobs, d), "wb").write(data); return "sha256:" + d, len(data)
def layer(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d in sorted({os.path.dirname(p) for p, _ in files} - {""}):
            ti = tarfile.TarInfo(d); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
        for p, data in files:
            ti = tarfile.TarInfo(p); ti.size = len(data); ti.mode = 0o644; t.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    digest, size = put(raw)  # uncompressed layers: the diff ID is the blob digest
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}, digest
rnd = random.Random(1)
base, base_diff = layer([(f"usr/lib/base/{i // 50}/f{i}", rnd.randbytes(rnd.randint(100, 4000))) for i in range(600)])
manifests = []
for k in range(n):
    own, own_diff = layer([(f"app{k}/d{i // 50}/f{i}", rnd.randbytes(rnd.randint(1024, 8192))) for i in range(2000)])
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"], "Env": [f"K={k}"]},
                      "rootfs": {"type": "layers", "diff_ids": [base_diff, own_diff]}}).encode()
    cd, cs = put(cfg)
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                    "layers": [base, own]}).encode()
    md, ms = put(m)
    manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
                      "annotations": {"org.opencontainers.image.ref.name": f"img{k}"}})
json.dump({"schemaVersion": 2, "manifests": manifests}, open(os.path.join(lay, "index.json"), "w"))
open(os.path.join(lay, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
fi

STORE=$WORK/store-$N
if [[ ! -d $STORE/images/layers ]]; then
  echo "fetching $N images into $STORE…"
  for k in $(seq 0 $((N - 1))); do
    "$AFTER_BIN/liftoff" --dir "$STORE" fetch "oci-layout:$WORK/layout-$N:img$k" >/dev/null
  done
fi
echo "store: $N images, $(ls "$STORE/images/layers" | wc -l) layers, du: $(du -sh "$STORE/images" | cut -f1), $(find "$STORE/images" -xdev | wc -l) inodes"

measure() {  # $1 label, $2 bin dir
  local sock=$WORK/cri.sock log=$WORK/cri-$1.log
  "$2/liftoff-cri" --socket "$sock" --dir "$STORE" --cni-conf-dir "$WORK/net.d" --cni-default-network=false --trust-dir "$WORK/trust" --log-level warning >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
  python3 - "$sock" "$1" "$CALLS" <<'PY'
import os, statistics, sys, time
sys.path.insert(0, os.environ["HACK"])
import cri_client
pb = cri_client.load()
c = cri_client.Client(pb, sys.argv[1])
label, calls = sys.argv[2], int(sys.argv[3])
c.img("ImageFsInfo", pb.ImageFsInfoRequest())  # connection set up
os.system("sync; echo 3 > /proc/sys/vm/drop_caches")
t = time.perf_counter(); r = c.img("ImageFsInfo", pb.ImageFsInfoRequest()); cold = (time.perf_counter() - t) * 1000
times = []
for _ in range(calls):
    t = time.perf_counter(); r = c.img("ImageFsInfo", pb.ImageFsInfoRequest()); times.append((time.perf_counter() - t) * 1000)
fs = r.image_filesystems[0]
print(f"{label}: warm median {statistics.median(times):.2f} ms (max {max(times):.2f}) over {calls} calls; "
      f"first after drop_caches {cold:.1f} ms; images used {fs.used_bytes.value} bytes, {fs.inodes_used.value} inodes")
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
export HACK
mkdir -p "$WORK/net.d" "$WORK/trust"
if [[ -n ${BEFORE_BIN:-} ]]; then measure before "$BEFORE_BIN"; fi
measure after "$AFTER_BIN"
