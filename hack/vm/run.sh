#!/usr/bin/env bash
# hack/vm/run.sh [--profile v2|systemd] [--timeout SECONDS] [--memory MiB] [--cpus N] [--keep] [--no-test-env]
#                 [--] COMMAND [ARG…]
#
# Boots Debian's kernel (linux-image-amd64) under qemu (qemu-system-x86) with this machine's root
# filesystem shared read-only over virtio-9p under a tmpfs overlay, runs COMMAND in the guest as root
# in the current directory (which the guest sees at the same path, read-only below the overlay: the
# build tree with its binaries and test bundle), prints its output as it comes and exits with its exit
# code. Profiles (hack/vm/guest/init):
#   v2       cgroup v2 unified hierarchy, busybox init as PID 1 (default)
#   systemd  Debian's systemd as PID 1, systemd.unified_cgroup_hierarchy=1, D-Bus
# The guest has no network device: its registries (hack/test-env.sh, with the host's test images and
# registry storage copied in from /run/liftoff-test) listen on its own 127.0.0.1. Exported LIFTOFF_*
# variables and PATH are passed in. Exit codes: COMMAND's; 124 when the VM ran out of time; 125 when the
# VM or its setup failed (the console log and the setup log are printed).
#
# Environment: LIFTOFF_VM_DIR (work directory: initramfs cache and run directories; default
# .build/vm), LIFTOFF_VM_ACCEL (tcg — the default: nested KVM guests hang before the kernel prints on
# this machine — or kvm), LIFTOFF_VM_KERNEL (a kernel version in /boot and /lib/modules; default the
# newest installed *-amd64 one).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

profile=v2 timeout=1800 memory=4096 cpus=2 keep=0 test_env=1
usage() { sed -n '2,3p' "$0" | sed 's/^# //' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --profile) profile=${2:?}; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    --memory) memory=${2:?}; shift 2 ;;
    --cpus) cpus=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    --no-test-env) test_env=0; shift ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || usage
[[ $profile == v2 || $profile == systemd ]] || { echo "vm: unknown profile $profile (v2 or systemd)" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "vm: run as root (the guest shares the host's root filesystem as root)" >&2; exit 2; }
qemu=$(command -v qemu-system-x86_64) || { echo "vm: qemu-system-x86_64 missing (hack/vm/install-deps.sh)" >&2; exit 2; }

kver=${LIFTOFF_VM_KERNEL:-}
if [[ -z $kver ]]; then
  kver=$(for k in /boot/vmlinuz-*-amd64; do v=${k#/boot/vmlinuz-}; [[ -d /lib/modules/$v ]] && echo "$v"; done | sort -V | tail -1)
fi
[[ -n $kver && -f /boot/vmlinuz-$kver ]] || { echo "vm: no Debian kernel in /boot (hack/vm/install-deps.sh)" >&2; exit 2; }

work=${LIFTOFF_VM_DIR:-$repo/.build/vm}
mkdir -p "$work"
initrd=$work/initramfs-$kver.cpio.gz
if [[ ! -f $initrd || $initrd -ot $here/initramfs.sh || $initrd -ot $here/guest/init ]]; then
  "$here/initramfs.sh" "$kver" "$initrd"
fi

run=$(mktemp -d "$work/run.XXXXXX")
chmod 0755 "$run"
cleanup() {
  [[ -n ${qemu_pid:-} ]] && kill "$qemu_pid" 2>/dev/null
  [[ -n ${tail_pid:-} ]] && kill "$tail_pid" 2>/dev/null
  if [[ $keep == 1 ]]; then echo "vm: run directory kept: $run" >&2; else rm -rf "$run"; fi
}
trap cleanup EXIT

# The job: the environment to pass (CI too: in CI a critest that is not found fails instead of
# skipping, in the guest as on the host), the directory, the command (each word quoted for bash).
{
  echo "set -e"
  while IFS= read -r name; do
    printf 'export %s=%q\n' "$name" "${!name}"
  done < <(compgen -e | grep -E '^(LIFTOFF_|PATH$|SWIFT_|CI$|CRITEST$|VM_CRITEST_)' | grep -Ev '^LIFTOFF_VM_')
  printf 'cd %q\n' "$PWD"
  printf 'set +e\n'
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$run/job"
: >"$run/output"
[[ $test_env == 1 ]] || : >"$run/no-test-env"

accel=${LIFTOFF_VM_ACCEL:-tcg}
case $accel in
  tcg) accel_args=(-accel tcg,thread=multi,tb-size=512 -cpu max) ;;
  kvm) accel_args=(-accel kvm -cpu host) ;;
  *) echo "vm: LIFTOFF_VM_ACCEL=$accel is not tcg or kvm" >&2; exit 2 ;;
esac
append="console=ttyS0 panic=-1 quiet loglevel=4 liftoff.profile=$profile liftoff.repo=$repo${LIFTOFF_VM_MSIZE:+ liftoff.msize=$LIFTOFF_VM_MSIZE}"
case $profile in
  v2) append+=" cgroup_no_v1=all" ;;
  systemd) append+=" systemd.unified_cgroup_hierarchy=1 systemd.unit=liftoff-vm.target systemd.show_status=error" ;;
esac

started=$(date +%s.%N)
"$qemu" -nodefaults -no-user-config -nographic -no-reboot \
  "${accel_args[@]}" -smp "$cpus" -m "$memory" \
  -kernel "/boot/vmlinuz-$kver" -initrd "$initrd" -append "$append" \
  -serial "file:$run/console.log" -monitor none -nic none \
  -fsdev local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -fsdev local,id=vmio,path="$run",security_model=passthrough \
  -device virtio-9p-pci,fsdev=vmio,mount_tag=vmio \
  -device virtio-rng-pci \
  </dev/null >"$run/qemu.log" 2>&1 &
qemu_pid=$!
tail -n +1 -f --pid="$qemu_pid" "$run/output" &
tail_pid=$!

timed_out=0
deadline=$((SECONDS + timeout))
while kill -0 "$qemu_pid" 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    timed_out=1
    kill "$qemu_pid" 2>/dev/null
    break
  fi
  sleep 1
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
wait "$tail_pid" 2>/dev/null || true
tail_pid=
ended=$(date +%s.%N)

# Times: the VM's own clock from boot to the job's start and end, and the whole run on the host.
awk -v profile="$profile" -v accel="$accel" -v kver="$kver" -v total="$(awk -v a="$started" -v b="$ended" 'BEGIN {print b - a}')" '
  {t[$1] = $2}
  END {printf "vm: profile %s, %s, kernel %s: boot %.1f s, setup %.1f s, job %.1f s, total %.1f s\n",
    profile, accel, kver, t["booted"], t["ready"] - t["booted"], t["done"] - t["ready"], total}' \
  "$run/times" >&2 2>/dev/null || true

if [[ -f $run/rc ]]; then
  rc=$(cat "$run/rc")
  if [[ $rc == 125 && -f $run/setup.log ]]; then
    echo "vm: the guest's setup failed:" >&2
    cat "$run/setup.log" >&2
  fi
  exit "$rc"
fi
if [[ $timed_out == 1 ]]; then
  echo "vm: no result after ${timeout} s; the console's end:" >&2
  tail -n 40 "$run/console.log" >&2
  exit 124
fi
echo "vm: the VM stopped without a result; qemu said:" >&2
cat "$run/qemu.log" >&2
echo "vm: the console's end:" >&2
tail -n 40 "$run/console.log" >&2
exit 125
