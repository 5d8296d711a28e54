#!/usr/bin/env bash
# fuzz: builds liftoff-fuzz with libFuzzer (-sanitize=fuzzer) into .build-fuzz and runs each fuzz
# target for a while (README "Fuzzing"; Sources/liftoff-fuzz/Fuzz.swift says what each checks).
#   hack/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]      (default 20 s; targets: json imageref toml
#                                                     manifest cniresult attach spdy spdyheaders
#                                                     websocket httphead grpcframes)
# LIFTOFF_FUZZ_SCRATCH=PATH builds there instead of .build-fuzz (.build-fuzz-asan with ASan).
# Each target starts from a temporary copy of Tests/Fuzz/corpus/<target>/; every file there is first
# replayed as it is, so an input that once crashed (kept there) keeps being checked. A crash or a failed
# check fails the script, naming the reproducer. hack/test.sh runs it briefly.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=/opt/swift/usr/bin:$PATH
ALL=(json imageref toml manifest cniresult attach spdy spdyheaders websocket httphead grpcframes)
SECONDS_EACH=20
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then SECONDS_EACH=$1; shift; fi
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL[@]}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL[*]} " == *" $t "* ]] || { echo "hack/fuzz.sh: unknown target $t (targets: ${ALL[*]})" >&2; exit 2; }
done

# The sanitizer build has its own scratch path: its flags must not reach the normal build. Go through
# build-slot where the machine has one (at most two compiles at once).
SLOT=()
[[ -x /work/bin/build-slot ]] && SLOT=(/work/bin/build-slot)
# LIFTOFF_FUZZ_ASAN=1 adds AddressSanitizer (its own scratch path; about half the exec/s).
SCRATCH=.build-fuzz SANITIZE=fuzzer
[[ ${LIFTOFF_FUZZ_ASAN:-0} == 1 ]] && SCRATCH=.build-fuzz-asan SANITIZE=fuzzer,address
SCRATCH=${LIFTOFF_FUZZ_SCRATCH:-$SCRATCH}
FLAGS=(--scratch-path "$SCRATCH" --product liftoff-fuzz -Xswiftc -sanitize=$SANITIZE -Xswiftc -DLIFTOFF_FUZZ)
start=$SECONDS
"${SLOT[@]}" swift build "${FLAGS[@]}" 2>&1 | grep -E "error|warning: .*liftoff-fuzz|Build of product" || true
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)/liftoff-fuzz"
[[ -x $BIN ]] || { echo "hack/fuzz.sh: build failed (no $BIN)" >&2; exit 1; }
echo "hack/fuzz.sh: built in $((SECONDS - start)) s"

WORK=$(mktemp -d /tmp/liftoff-fuzz.XXXXXX)
status=0
for t in "${TARGETS[@]}"; do
  seeds="Tests/Fuzz/corpus/$t"
  mkdir -p "$WORK/$t/corpus" "$WORK/$t/artifacts"
  [[ -d $seeds ]] && cp -r "$seeds/." "$WORK/$t/corpus/"
  # The Swift runtime's backtracer would take the crash before libFuzzer could save the input.
  set +e
  SWIFT_BACKTRACE=enable=no LIFTOFF_FUZZ_TARGET=$t "$BIN" "$WORK/$t/corpus" \
    -max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$WORK/$t/artifacts/" >"$WORK/$t/log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t/log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$WORK/$t/log")
  found=$(ls "$WORK/$t/artifacts" 2>/dev/null || true)
  if [[ $rc -ne 0 || -n $found ]]; then
    status=1
    echo "hack/fuzz.sh: $t FAILED (exit $rc)"
    grep -E "liftoff-fuzz $t:|Fatal error|SUMMARY|ERROR: libFuzzer" "$WORK/$t/log" | head -5 | sed 's/^/    /'
    for f in $found; do
      echo "    reproducer: $WORK/$t/artifacts/$f"
      echo "    replay:     SWIFT_BACKTRACE=enable=no LIFTOFF_FUZZ_TARGET=$t $BIN $WORK/$t/artifacts/$f"
      echo "    once fixed, keep it: cp $WORK/$t/artifacts/$f Tests/Fuzz/corpus/$t/"
    done
    echo "    log: $WORK/$t/log"
  else
    echo "hack/fuzz.sh: $t ok: ${runs:-?} runs in ${SECONDS_EACH} s (${speed:-?} exec/s), corpus $(ls "$WORK/$t/corpus" | wc -l) inputs"
  fi
done
if [[ $status -eq 0 ]]; then rm -rf "$WORK"; else echo "hack/fuzz.sh: inputs and logs kept in $WORK"; fi
exit $status
