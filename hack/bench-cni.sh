#!/bin/sh
# Measures the time CNI networking adds per pod: netns create, CNI ADD and DEL of the embedded default
# network (bridge + host-local + portmap with one 127.0.0.1 hostPort + loopback, Debian's plugins in
# /usr/lib/cni) and netns removal; medians over N runs after one warm-up run.
# Usage (root): hack/bench-cni.sh [RUNS]      env: PORTMAP=0 to benchmark without a hostPort.
# Debug build: the time is spent in the plugins (Go binaries, iptables), not in Liftoff's code.
# Uses its own bridge, subnet and directories; touches neither /etc/cni/net.d nor liftoff0.
set -eu
RUNS=${1:-50}
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build-bench}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
[ "$(id -u)" = 0 ] || { echo "bench-cni.sh: must run as root (network namespaces, iptables)" >&2; exit 1; }
LIFTOFF_BENCH_CNI_RUNS=$RUNS LIFTOFF_BENCH_CNI_OUT=$OUT LIFTOFF_BENCH_CNI_PORTMAP=${PORTMAP:-1} \
  ${BUILDSLOT-buildslot} swift test --scratch-path "$SCRATCH" --filter 'CNIBenchmark' >/dev/null 2>&1 || {
    echo "bench-cni.sh: benchmark run failed; rerun: swift test --filter CNIBenchmark" >&2; exit 1; }
[ -s "$OUT" ] || { echo "bench-cni.sh: no result (was the benchmark skipped?)" >&2; exit 1; }
cat "$OUT"
