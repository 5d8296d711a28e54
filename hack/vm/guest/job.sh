#!/bin/bash
# Runs in the VM once PID 1 is up (busybox init's inittab in the v2 profile, liftoff-vm-job.service
# under systemd): finishes the guest's setup, starts the test registries, runs the job the host wrote
# (/run/liftoff-vm/io/job, a bash script from hack/vm/run.sh) with its output in io/output, records its
# exit code in io/rc and the times in io/times, and powers the VM off.
#
# Setup, by profile:
#   v2       cgroup2 alone on /sys/fs/cgroup (nsdelegate, memory_recursiveprot, as systemd mounts it),
#            devpts, /dev/shm, mqueue, bpffs; loopback up
#   systemd  systemd has mounted all of that; nothing more
# Both: the host's test environment (/run/liftoff-test: registry storage, TLS files, test images) is
# laid in (a tmpfs overlay over the host's) and hack/test-env.sh starts its registries on the guest's own 127.0.0.1 (the guest has no
# network device at all: nothing leaves it).
set -uo pipefail
io=/run/liftoff-vm/io
repo=$(cat /run/liftoff-vm/repo)
profile=$(cat /run/liftoff-vm/profile)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
read -r booted _ </proc/uptime

finish() {
  sync
  if [[ $profile == v2 ]]; then /bin/busybox poweroff -f; fi
  exit 0
}

setup() {
  if [[ $profile == v2 ]]; then
    mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
    mkdir -p /dev/pts /dev/shm /dev/mqueue
    mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
    mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
    mount -t mqueue mqueue /dev/mqueue
    mount -t bpf -o mode=0700 bpf /sys/fs/bpf
    # What udev or systemd would add to devtmpfs.
    ln -sfn /proc/self/fd /dev/fd
    ln -sfn /proc/self/fd/0 /dev/stdin
    ln -sfn /proc/self/fd/1 /dev/stdout
    ln -sfn /proc/self/fd/2 /dev/stderr
    ln -sfn /proc/kcore /dev/core
    ip link set lo up
  fi
  # As on the host: loop devices (tests use /dev/loop0 and /dev/loop-control as host devices).
  modprobe loop
  [[ -e $io/no-test-env ]] && return 0
  local host_env=/run/liftoff-vm/host/run/liftoff-test
  if [[ -f $host_env/env && -f $host_env/pushed ]]; then
    # Copy-on-write over the host's (copying its thousands of files over 9p takes minutes under TCG).
    mkdir -p /run/liftoff-vm/test-env/upper /run/liftoff-vm/test-env/work /run/liftoff-test
    mount -t overlay -o "lowerdir=$host_env,upperdir=/run/liftoff-vm/test-env/upper,workdir=/run/liftoff-vm/test-env/work" \
      liftoff-test /run/liftoff-test
    rm -f /run/liftoff-test/*/pid
  fi
  "$repo/hack/test-env.sh" start
}

echo "booted $booted" >"$io/times"
(set -ex; setup) >"$io/setup.log" 2>&1
if [[ $? -ne 0 ]]; then
  echo "liftoff-vm: setup failed; see setup.log" >"$io/output"
  echo 125 >"$io/rc.tmp" && mv "$io/rc.tmp" "$io/rc"
  finish
fi
read -r ready _ </proc/uptime
echo "ready $ready" >>"$io/times"
(cd "$repo" && exec /bin/bash "$io/job") >"$io/output" 2>&1 </dev/null
rc=$?
read -r done_ _ </proc/uptime
echo "done $done_" >>"$io/times"
echo "$rc" >"$io/rc.tmp" && mv "$io/rc.tmp" "$io/rc"
finish
