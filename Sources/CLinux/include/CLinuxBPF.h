// CLinux, eBPF part (used by LiftoffOS for cgroup v2 device confinement): bpf(2) is not in Glibc's
// Swift module. The instructions are built in Swift (LiftoffOS/DeviceFilter.swift).
#ifndef LIFTOFF_CLINUX_BPF_H
#define LIFTOFF_CLINUX_BPF_H
#include <stddef.h>
#include <stdint.h>

/// BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program of `count` 8-byte instructions. The
/// program's fd (close-on-exec, as every bpf fd), or -1 with errno. With `log` (may be NULL) the
/// verifier's log is written there (NUL-terminated).
int liftoff_bpf_device_load(const void *insns, uint32_t count, const char *name, char *log, uint32_t log_size);
/// BPF_PROG_ATTACH of `prog_fd` to the cgroup directory `cgroup_fd` as its only BPF_CGROUP_DEVICE
/// program (no flags: a program already attached there is replaced, atomically, and the group's
/// descendants cannot attach their own). 0, or -1 with errno.
int liftoff_bpf_device_attach(int cgroup_fd, int prog_fd);
/// BPF_PROG_QUERY of the BPF_CGROUP_DEVICE programs attached to `cgroup_fd` itself: their number,
/// or -1 with errno; `*flags` gets the attach flags.
int liftoff_bpf_device_count(int cgroup_fd, uint32_t *flags);

#endif
