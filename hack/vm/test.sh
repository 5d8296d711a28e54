#!/usr/bin/env bash
# hack/vm/test.sh [--scratch-path DIR] [--profile v2|systemd]…
# The suites CI runs in VMs (hack/vm/run.sh), after the host's: the cgroup, device-filter and resource
# suites on a real cgroup v2 host, once with a minimal init (profile v2) and once with systemd as PID 1
# (profile systemd), from the test bundle and binaries the host built (swift build --build-tests).
# critest runs in profile v2 as well once hack/critest.sh is in the tree (VM_CRITEST_FOCUS, a
# ginkgo regular expression, picks its subset; see README "Tests in VMs" for what and why).
# Exit status: 0 when every run passed. Each run prints its own times (boot, setup, job).
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch=.build
profiles=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --scratch-path) scratch=${2:?}; shift 2 ;;
    --profile) profiles+=("${2:?}"); shift 2 ;;
    *) echo "usage: hack/vm/test.sh [--scratch-path DIR] [--profile v2|systemd]…" >&2; exit 2 ;;
  esac
done
[[ ${#profiles[@]} -gt 0 ]] || profiles=(v2 systemd)

# Suites whose behaviour depends on the cgroup interface or the init system (the rest of the suite
# runs on the host only: it does not change with them, and TCG makes every test ~10× slower).
suites='CgroupV2Tests|CgroupResourcesTests|CgroupsV2FakeHierarchyTests|DeviceFilterKernelTests|DeviceConfinementTests'
suites+='|AppResourcesTests|AppSecurityTests|ContainerResourcesTests|memoryLimitKillsAHog|MutablePodTests|SystemdServiceTests'
suites+='|SystemdCgroupDriverTests|DBusMessageTests|NotifySocketTests'

failed=()
for profile in "${profiles[@]}"; do
  echo "=== VM profile $profile: $suites"
  job=(hack/vm/swift-test.sh --scratch-path "$scratch" "$suites")
  if [[ $profile == v2 && -x hack/critest.sh && ${VM_CRITEST:-1} == 1 ]]; then
    # One boot for both: the swift suites, then critest (its own liftoff-cri, registries in the guest).
    # The user-namespace specs are left out here: the guest's file systems (9p, and tmpfs and overlayfs
    # under Debian 12's 6.1 kernel) cannot be idmapped, so liftoff-cri rightly reports no user
    # namespace support and critest would skip them; they run on the host.
    # critest's stand-in images are built and pushed here, before the boot: the guest's registries serve
    # a copy of this machine's registry storage (built and pushed under TCG they take ~6 minutes, and
    # BusyBox's source could not be fetched there: the guest has no network).
    LIFTOFF_BIN_DIR=$(cd "$scratch/debug" && pwd) hack/critest.sh --push-only "$scratch/critest-images.txt"
    focus=${VM_CRITEST_FOCUS:-}
    job=(bash -c '
      rc=0
      "$@" || rc=$?
      echo "=== critest in the VM${VM_CRITEST_FOCUS:+ (focus: $VM_CRITEST_FOCUS)}"
      LIFTOFF_BIN_DIR=$(cd "'"$scratch"'/debug" && pwd) hack/critest.sh --pushed "'"$scratch"'/critest-images.txt" -- -ginkgo.skip "Security Context UserNamespaces" ${VM_CRITEST_FOCUS:+-ginkgo.focus "$VM_CRITEST_FOCUS"} || rc=$?
      exit $rc' vm-job "${job[@]}")
    export VM_CRITEST_FOCUS=$focus
  fi
  if hack/vm/run.sh --profile "$profile" --timeout "${VM_TIMEOUT:-2400}" -- "${job[@]}"; then
    echo "=== VM profile $profile: passed"
  else
    echo "=== VM profile $profile: FAILED"
    failed+=("$profile")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "VM runs failed: ${failed[*]}" >&2
  exit 1
fi
