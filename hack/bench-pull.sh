#!/usr/bin/env bash
# Pull benchmark (not a test): a ~200 MB single-layer image from the local test registry.
#   hack/bench-pull.sh [RUNS]        (root; needs hack/test-env.sh start and a built liftoff)
# Compares, with page caches dropped before every run (this VM's page cache degrades repeated I/O):
#   liftoff fetch     download + verify + unpack into a fresh --dir
#   tar -xzf          of the same layer file from local disk (no network, no verification)
#   ctr images pull   containerd's pull + unpack into its overlayfs snapshotter (when `containerd`
#                     and `ctr` are installed: apt-get install containerd)
# The layer is built from this machine's /usr/bin and /usr/lib/x86_64-linux-gnu (first ~200 MB,
# uncompressed), gzip -6, pushed as 127.0.0.1:5000/liftoff-bench/big:latest.
set -euo pipefail
RUNS=${1:-3}
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HACK/.." && pwd)
LIFTOFF=${LIFTOFF:-$(ls -t "$ROOT"/.build*/release/liftoff "$ROOT"/.build*/debug/liftoff 2>/dev/null | head -1)}
REG=${LIFTOFF_TEST_REGISTRY:-127.0.0.1:5000}
WORK=${BENCH_DIR:-/var/tmp/liftoff-bench}
IMAGE=$REG/liftoff-bench/big:latest
[[ -x $LIFTOFF ]] || { echo "bench-pull: build liftoff first (swift build -c release)" >&2; exit 1; }
mkdir -p "$WORK"

if [[ ! -f $WORK/layout/index.json ]]; then
  echo "building the ~200 MB layer…"
  # Whole files until ~200 MB.
  (cd / && find usr/bin usr/lib/x86_64-linux-gnu -xdev -type f -size -20M 2>/dev/null | sort) | python3 -c '
import os, sys
total = 0
for line in sys.stdin:
    p = line.strip()
    try: s = os.path.getsize("/" + p)
    except OSError: continue
    if total + s > 200 * 1024 * 1024: continue  # read on: no SIGPIPE upstream
    total += s
    print(p)
' > "$WORK/files"
  tar -C / -cf "$WORK/layer.tar" -T "$WORK/files"
  gzip -6 -c "$WORK/layer.tar" > "$WORK/layer.tar.gz"
  python3 - "$WORK" <<'PY'
import hashlib, json, os, sys
w = sys.argv[1]
lay = os.path.join(w, "layout"); b = os.path.join(lay, "blobs", "sha256"); os.makedirs(b, exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest(); open(os.path.join(b, d), "wb").write(data); return "sha256:" + d
diff = "sha256:" + hashlib.sha256(open(os.path.join(w, "layer.tar"), "rb").read()).hexdigest()
gz = open(os.path.join(w, "layer.tar.gz"), "rb").read()
layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(gz), "size": len(gz)}
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/usr/bin/true"]},
                  "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
c = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)}
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c, "layers": [layer]}).encode()
md = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(m), "size": len(m),
      "annotations": {"org.opencontainers.image.ref.name": "latest"}}
json.dump({"schemaVersion": 2, "manifests": [md]}, open(os.path.join(lay, "index.json"), "w"))
open(os.path.join(lay, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
  python3 "$HACK/push-image.py" "$WORK/layout" "$IMAGE" >/dev/null
  rm -f "$WORK/layer.tar"
fi
echo "layer: $(du -m "$WORK/layer.tar.gz" | cut -f1) MB gzip, $(du -sm --apparent-size -c $(sed 's|^|/|' "$WORK/files") 2>/dev/null | tail -1 | cut -f1) MB unpacked"

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
report() { python3 -c "import sys,statistics; v=[float(x) for x in sys.argv[2:]]; print('%-18s runs=%d  median %.2fs  min %.2fs  max %.2fs' % (sys.argv[1], len(v), statistics.median(v), min(v), max(v)))" "$@"; }

L=(); T=(); C=()
for i in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/liftoff-dir"; drop
  s=$(now); "$LIFTOFF" --dir "$WORK/liftoff-dir" --registry-config-dir "$WORK/none" fetch --no-progress "$IMAGE" >/dev/null; e=$(now)
  L+=("$(echo "$e - $s" | bc)")
  rm -rf "$WORK/tar-dir"; mkdir -p "$WORK/tar-dir"; drop
  s=$(now); tar -xzf "$WORK/layer.tar.gz" -C "$WORK/tar-dir"; sync -f "$WORK/tar-dir"; e=$(now)
  T+=("$(echo "$e - $s" | bc)")
done
rm -rf "$WORK/liftoff-dir" "$WORK/tar-dir"
report "liftoff fetch" "${L[@]}"
report "tar -xzf" "${T[@]}"

if command -v containerd >/dev/null && command -v ctr >/dev/null; then
  for i in $(seq 1 "$RUNS"); do
    CT=$WORK/containerd; rm -rf "$CT"; mkdir -p "$CT"
    printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\n[grpc]\n  address = "%s/sock"\n[plugins."io.containerd.grpc.v1.cri"]\n  disable_cgroup = true\n' "$CT" "$CT" "$CT" > "$CT/config.toml"
    containerd --config "$CT/config.toml" >"$CT/log" 2>&1 &
    cpid=$!
    for _ in $(seq 1 100); do [[ -S $CT/sock ]] && break; sleep 0.1; done
    drop
    s=$(now); ctr -a "$CT/sock" images pull --plain-http "$IMAGE" >/dev/null; e=$(now)
    C+=("$(echo "$e - $s" | bc)")
    kill "$cpid"; wait "$cpid" 2>/dev/null || true
    umount -R "$CT/root" 2>/dev/null || true
    rm -rf "$CT"
  done
  report "ctr images pull" "${C[@]}"
else
  echo "ctr images pull    skipped: containerd not installed (apt-get install containerd)"
fi
