// Seccomp: the RuntimeDefault profile (an allow-list equivalent to containerd's default profile,
// `contrib/seccomp/seccomp_default.go`, for x86-64 and aarch64), compiled with libseccomp in the parent
// (stage0 writes the BPF to `apps/<name>/seccomp.bpf`) and loaded as raw BPF in the child right before
// execve — crun's approach: the child needs no libseccomp and does no allocation-heavy work.
import CLinux
import CSeccomp
import Glibc
import LiftoffCore

public enum Seccomp {
  /// Syscalls every container may make.
  public static let defaultAllowed: [String] = [
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
    "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
    "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
    "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat",
    "listen", "listxattr", "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
    "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
    "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
    "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
    "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
    "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
    "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
    "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
    "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget",
    "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair",
    "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
    "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
    "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes",
    "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
    // architecture-specific (x86-64 / aarch64)
    "arch_prctl", "modify_ldt",
  ]

  /// Syscalls allowed only when the app keeps a capability (containerd's cap-conditional rules).
  public static let allowedWithCapability: [(String, [String])] = [
    ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
    ("CAP_SYS_ADMIN", [
      "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
      "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
      "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
    ]),
    ("CAP_SYS_BOOT", ["reboot"]),
    ("CAP_SYS_CHROOT", ["chroot"]),
    ("CAP_SYS_MODULE", ["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", ["acct"]),
    ("CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
    ("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
    ("CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", ["vhangup"]),
    ("CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", ["syslog"]),
    ("CAP_BPF", ["bpf"]),
    ("CAP_PERFMON", ["perf_event_open"]),
  ]

  static let actAllow: UInt32 = 0x7fff_0000
  static func actErrno(_ e: Int32) -> UInt32 { 0x0005_0000 | (UInt32(e) & 0xffff) }

  /// Compiles the RuntimeDefault profile for an app holding `capabilities` and writes the BPF
  /// program to `fd`. Syscalls this libseccomp does not know are skipped (they do not exist here).
  public static func compileRuntimeDefault(capabilities: [String], to fd: Int32) throws(LiftoffError) {
    guard let ctx = seccomp_init(actErrno(EPERM)) else { throw .internal("seccomp_init failed") }
    defer { seccomp_release(ctx) }
    let caps = Set(capabilities.compactMap { Capabilities.normalize($0) })
    var allowed = Set(defaultAllowed)
    for (cap, calls) in allowedWithCapability where caps.contains(cap) { allowed.formUnion(calls) }

    func resolve(_ name: String) -> Int32? {
      let nr = seccomp_syscall_resolve_name(name)
      return nr == __NR_SCMP_ERROR ? nil : nr
    }
    func add(_ action: UInt32, _ name: String, _ args: [scmp_arg_cmp] = []) throws(LiftoffError) {
      guard let nr = resolve(name) else { return }
      let rc = args.withUnsafeBufferPointer { seccomp_rule_add_array(ctx, action, nr, UInt32($0.count), $0.baseAddress) }
      // -EACCES/-EDOM: not valid on this architecture; skip like the runtimes do.
      if rc != 0 && rc != -EDOM && rc != -EACCES && rc != -EEXIST {
        throw .internal("seccomp rule for \(name): \(errnoDescription(-rc))")
      }
    }
    for name in allowed.sorted() { try add(actAllow, name) }

    // personality(2) only with the values glibc and tools use.
    for v: UInt64 in [0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff] {
      try add(actAllow, "personality", [scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: v, datum_b: 0)])
    }
    // socket(2): everything but AF_VSOCK (40).
    try add(actAllow, "socket", [scmp_arg_cmp(arg: 0, op: SCMP_CMP_NE, datum_a: 40, datum_b: 0)])
    if !caps.contains("CAP_SYS_ADMIN") {
      // clone(2) without namespace flags; clone3 gets ENOSYS so libc falls back to clone.
      let nsFlags: UInt64 = 0x7E02_0000  // NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
      try add(actAllow, "clone", [scmp_arg_cmp(arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: nsFlags, datum_b: 0)])
      try add(actErrno(ENOSYS), "clone3")
    }
    let rc = seccomp_export_bpf(ctx, fd)
    guard rc == 0 else { throw .internal("seccomp_export_bpf: \(errnoDescription(-rc))") }
  }

  /// Loads a BPF program read from a file compiled by `compileRuntimeDefault`. Needs no_new_privs
  /// or CAP_SYS_ADMIN. The last thing to do before execve.
  public static func load(_ program: [UInt8]) throws(SystemCallError) {
    let rc = program.withUnsafeBytes { liftoff_seccomp_load($0.baseAddress, $0.count) }
    guard rc == 0 else { throw SystemCallError("prctl PR_SET_SECCOMP", errno: errno) }
  }
}
