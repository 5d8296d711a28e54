#!/usr/bin/env bash
# The README's test command: on a fresh Debian 12 machine (as root), install the dependencies, build,
# run the fuzz targets briefly, start the test environment (a local registry on 127.0.0.1 with test
# images), run the whole test suite, then critest (the CRI validation suite, hack/critest.sh) over
# both streaming transports, and stop the environment again. With arguments (passed to `swift test`,
# e.g. --filter) the fuzz run, critest and the VM suites are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "hack/test.sh: run as root" >&2; exit 1; }
export PATH=/opt/swift/usr/bin:$PATH

hack/install-deps.sh
hack/check-generated.sh
hack/check-deps.sh
swift build
export LIFTOFF_BIN_DIR=$(swift build --show-bin-path)
# A short libFuzzer run of each fuzz target (hack/fuzz.sh, README "Fuzzing"; its own sanitizer build in
# .build-fuzz, about 1.5 minutes cold): a crash or failed check fails this script after the rest has
# run. LIFTOFF_FUZZ_SECONDS sets the time per target; left out with arguments.
fuzz_status=0
if [[ $# -eq 0 ]]; then
  hack/fuzz.sh "${LIFTOFF_FUZZ_SECONDS:-15}" || fuzz_status=1
fi
if [[ -x hack/test-env.sh ]]; then
  trap 'hack/test-env.sh stop' EXIT
  hack/test-env.sh start
  # shellcheck disable=SC1091
  source /run/liftoff-test/env
fi
# Serially: many suites are root integration tests on the same kernel (veths, iptables, cgroups,
# mounts); in parallel they disturb what others observe (e.g. the host's interface list) and starve
# timing-sensitive streaming tests on 2 cores. Serial, the suite takes about 1.5 minutes.
swift test --no-parallel "$@"
[[ $# -eq 0 ]] || exit 0
# critest against a private liftoff-cri, SPDY then WebSocket streaming; both run, then either failing
# fails this script (hack/critest.sh lists what it leaves out and why).
status=$fuzz_status
hack/critest.sh || status=1
hack/critest.sh --websocket || status=1
# Soak (100 lifecycles), load (50 clients, 60 s) and faults (20 rounds of SIGKILL) against a private
# liftoff-cri, each followed by a leak check (hack/stress.py; README "Soak, load, faults").
/usr/bin/python3 hack/stress.py all || status=1
# A pod made by the previous release (built from this clone's history into .build-upgrade, about 5
# minutes cold) managed by this build (README "Upgrades").
hack/upgrade-test.sh "$LIFTOFF_BIN_DIR" || status=1

# VM suites (hack/vm; README "Tests in VMs"): the cgroup/device/resource suites on cgroup v2, with a
# minimal init and with systemd as PID 1, from the bundle `swift test` just built, and critest in the
# v2 VM. LIFTOFF_VM_TESTS=0 leaves them out.
if [[ ${LIFTOFF_VM_TESTS:-1} == 1 ]]; then
  hack/vm/install-deps.sh
  hack/vm/test.sh --scratch-path .build || status=1
fi
exit $status
