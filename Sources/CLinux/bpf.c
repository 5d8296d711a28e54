// CLinux, eBPF part: the bpf(2) calls of cgroup v2 device confinement (see include/CLinuxBPF.h).
#define _GNU_SOURCE
#include "CLinuxBPF.h"
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int liftoff_bpf(int cmd, union bpf_attr *attr) {
  return (int)syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

int liftoff_bpf_device_load(const void *insns, uint32_t count, const char *name, char *log, uint32_t log_size) {
  static const char license[] = "Apache-2.0";
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insn_cnt = count;
  attr.insns = (uint64_t)(uintptr_t)insns;
  attr.license = (uint64_t)(uintptr_t)license;
  if (name) strncpy(attr.prog_name, name, sizeof attr.prog_name - 1);
  if (log && log_size > 1) {
    log[0] = 0;
    attr.log_level = 1;
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = log_size;
  }
  int fd = liftoff_bpf(BPF_PROG_LOAD, &attr);
  if (log && log_size > 1) log[log_size - 1] = 0;
  return fd;
}

int liftoff_bpf_device_attach(int cgroup_fd, int prog_fd) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = (uint32_t)cgroup_fd;
  attr.attach_bpf_fd = (uint32_t)prog_fd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = 0;
  return liftoff_bpf(BPF_PROG_ATTACH, &attr);
}

int liftoff_bpf_device_count(int cgroup_fd, uint32_t *flags) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.query.target_fd = (uint32_t)cgroup_fd;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  // prog_ids NULL: the kernel only reports the count.
  if (liftoff_bpf(BPF_PROG_QUERY, &attr) != 0) return -1;
  if (flags) *flags = attr.query.attach_flags;
  return (int)attr.query.prog_cnt;
}
