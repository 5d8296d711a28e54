// CLinux — C shims for what Swift cannot do safely: spawning from a multi-threaded process,
// namespace entry before the Swift runtime starts, variadic syscalls.
#ifndef LIFTOFF_CLINUX_H
#define LIFTOFF_CLINUX_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// The ioctl/fcntl-style variadic calls Swift cannot import.
int liftoff_open_mode(const char *path, int flags, mode_t mode);

// MARK: processes (single-threaded callers only: stage1)

/// fork(2) through clone(2) with extra namespace flags (CLONE_NEWPID, …): returns 0 in the child,
/// the child's pid in the parent, -1 with errno on failure.
pid_t liftoff_clone(unsigned long flags);
/// A signalfd for the given signals, which are blocked first. -1 with errno on failure.
int liftoff_signalfd(const int *signals, int count);
/// Unblocks every signal and resets all handlers to default (in a child, before exec).
void liftoff_reset_signals(void);
/// Reads one signalfd_siginfo: returns the signal number, 0 on EAGAIN, -1 on error.
int liftoff_signalfd_read(int fd);

// MARK: prctl and friends
int liftoff_set_no_new_privs(void);
int liftoff_set_pdeathsig(int sig);
int liftoff_set_keepcaps(int on);
int liftoff_set_child_subreaper(void);
int liftoff_set_name(const char *name);
/// PR_SET_DUMPABLE: a process that is not dumpable cannot be ptraced, and its /proc/PID files (root,
/// cwd, fd, exe, environ, mem) are root-owned and closed to others without CAP_SYS_PTRACE.
int liftoff_set_dumpable(int on);
int liftoff_cap_bounding_drop(int cap);
int liftoff_cap_bounding_read(int cap);
int liftoff_ambient_clear(void);
int liftoff_ambient_raise(int cap);
/// capset(2) with 64-bit sets (version 3).
int liftoff_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);

// MARK: namespaces and mounts
int liftoff_unshare(int flags);
int liftoff_setns(int fd, int nstype);
int liftoff_pivot_root(const char *new_root, const char *put_old);
/// pidfd_open(2): a descriptor that polls readable once the process has exited (-1 and errno on error).
int liftoff_pidfd_open(pid_t pid);
/// mount_setattr(2) setting MOUNT_ATTR_RDONLY on the mount at `path` (and every mount below it
/// when `recursive`). -1 with errno (ENOSYS before Linux 5.12).
int liftoff_mount_setattr_rdonly(const char *path, int recursive);
/// 1 when the kernel has mount_setattr(2).
int liftoff_has_mount_setattr(void);
/// Creates a new network namespace bound at `path` (an existing empty file) without changing the
/// calling thread's namespace: unshare on this thread, bind-mount, setns back. Thread-safe.
int liftoff_netns_create(const char *path);
/// Brings the loopback interface of the caller's network namespace up.
int liftoff_loopback_up(void);

// MARK: user namespaces and idmapped mounts (userns.c; safe in multi-threaded processes)
/// A new user namespace with these uid_map/gid_map texts: an O_CLOEXEC fd of it, or -1 with errno and
/// *step the call that failed (0 clone, 1 uid_map, 2 gid_map, 3 open ns/user).
int liftoff_userns_create(const char *uid_map, const char *gid_map, int *step);
/// open_tree(OPEN_TREE_CLONE[, AT_RECURSIVE]) of source, mount_setattr(MOUNT_ATTR_IDMAP, userns_fd),
/// move_mount onto target. 0, or -1 with errno and *step (0 open_tree, 1 mount_setattr, 2 move_mount).
int liftoff_idmap_mount(const char *source, const char *target, int userns_fd, int recursive, int *step);
/// Whether an idmapped clone of dir's mount can be made (nothing is attached): 0 or the errno.
int liftoff_idmap_probe(const char *dir, int userns_fd);
/// A detached idmapped clone of `source`'s mount (open_tree(OPEN_TREE_CLONE[, AT_RECURSIVE]) +
/// mount_setattr(MOUNT_ATTR_IDMAP, userns_fd)): its fd, or -1 with errno and *step (0 open_tree, 1 mount_setattr).
int liftoff_idmap_clone(const char *source, int userns_fd, int recursive, int *step);
/// A detached recursive clone of `source` as the mount namespace `mntns_fd` sees it (a peer of its
/// mounts: propagation both ways when they are shared), to attach in the caller's namespace.
/// Single-threaded callers only. The tree's fd, or -1 with errno and *step (0 open own ns, 1 setns
/// there, 2 open_tree, 3 setns back — the caller is left in the other namespace).
int liftoff_clone_from_namespace(int mntns_fd, const char *source, int *step);

// MARK: paths inside a root and mounts by descriptor (rootfs.c)
/// openat2(2) with RESOLVE_NO_MAGICLINKS and, by scope: 0 nothing more; 1 RESOLVE_IN_ROOT (dirfd is the
/// root: symlinks and ".." resolve as if it were /); 2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (no
/// symlink anywhere, nothing above dirfd); 3 RESOLVE_BENEATH (symlinks followed while they stay below
/// dirfd; "..", or an absolute symlink, that would leave it: EXDEV). O_CLOEXEC is added. Retries EAGAIN. -1 with errno.
int liftoff_openat2(int dirfd, const char *path, int flags, mode_t mode, int scope);
/// open_tree(OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC[, AT_RECURSIVE]) of dirfd+path (path NULL or "": dirfd itself).
int liftoff_open_tree(int dirfd, const char *path, int recursive);
/// move_mount(2) of a detached tree (open_tree/fsmount fd) onto the file or directory target_fd.
int liftoff_move_mount(int tree_fd, int target_fd);
/// mount_setattr(2) on the mount of fd (AT_EMPTY_PATH), recursively or not: MOUNT_ATTR_* to set and
/// clear, and a propagation (MS_SHARED, MS_SLAVE, MS_PRIVATE or 0).
int liftoff_mount_setattr_fd(int fd, int recursive, uint64_t set, uint64_t clear, uint64_t propagation);
/// A new detached mount of filesystem fstype (fsopen, fsconfig with each "key=value" or "flag" of the
/// comma-separated options, create, fsmount with MOUNT_ATTR_* attrs). On failure -1 with errno and what
/// the kernel logged in err.
int liftoff_fsmount_new(const char *fstype, const char *source, const char *options, uint64_t attrs, char *err, size_t errlen);
/// 1 when fd is the character device major:minor.
int liftoff_fd_is_char_device(int fd, unsigned major_, unsigned minor_);
/// mknodat(2) with the file type in mode.
int liftoff_mknodat(int dirfd, const char *name, mode_t mode, unsigned major_, unsigned minor_);
/// 1 when the directory fd carries trusted.overlay.opaque = "y" (an overlayfs opaque directory).
int liftoff_is_overlay_opaque(int fd);
/// Closes every descriptor >= 3 except the `count` in keep (close_range between them).
int liftoff_close_except(const int *keep, int count);

// MARK: seccomp
/// Loads a classic BPF program (`len` bytes of struct sock_filter) as a seccomp filter.
int liftoff_seccomp_load(const void *filter, size_t len);

/// getrandom(2).
ssize_t liftoff_getrandom(void *buf, size_t len);

/// GNU extensions Swift's Glibc module does not import.
int liftoff_setresuid(uid_t uid);
int liftoff_setresgid(gid_t gid);
int liftoff_setrlimit(int resource, uint64_t soft, uint64_t hard);
int liftoff_o_path(void);
int liftoff_accept_cloexec(int fd);
int liftoff_mknod_char(const char *path, mode_t mode, unsigned major, unsigned minor);
/// mknod(2) with the file type in `mode` (S_IFCHR or S_IFBLK); major(3)/minor(3) of a dev_t.
int liftoff_mknod(const char *path, mode_t mode, unsigned major, unsigned minor);
unsigned liftoff_dev_major(unsigned long long dev);
unsigned liftoff_dev_minor(unsigned long long dev);

/// A memfd (O_CLOEXEC) holding `len` bytes of `data`, positioned at its start: -1 with errno.
int liftoff_memfd_with(const void *data, size_t len);
/// madvise(MADV_DONTNEED).
int liftoff_madvise_dontneed(void *addr, size_t len);
/// malloc_trim(0): free heap back to the kernel.
void liftoff_malloc_trim(void);
/// Closes every descriptor >= from except keep (a child before exec).
void liftoff_close_from_except(int from, int keep);

// MARK: terminals
int liftoff_set_ctty(int fd);
/// Opens a new pty in the devpts instance that `ptmx` belongs to (the caller's /dev/ptmx, say, inside
/// a container): the master (O_CLOEXEC) in *master, the slave (O_NOCTTY|O_CLOEXEC) in *slave. 0 or -1
/// with errno.
int liftoff_open_pty_at(const char *ptmx, int *master, int *slave);
/// Sends `fd` over a Unix socket (SCM_RIGHTS, one byte of data). 0 or -1 with errno.
int liftoff_send_fd(int sock, int fd);
/// Receives one descriptor sent with liftoff_send_fd (made close-on-exec): the fd, or -1 with errno
/// (ENODATA when the peer closed without sending one).
int liftoff_recv_fd(int sock);

#include "CLinuxNet.h"
#include "CLinuxBPF.h"

// MARK: pseudo-terminals and spawning (LiftoffOS Subprocess; spawn_stdio.c)

/// Opens a new pseudo-terminal pair: the master (O_RDWR|O_NOCTTY|O_CLOEXEC) in *master and the
/// slave's path (/dev/pts/N) in name. Returns 0 or an errno.
int liftoff_open_pty(int *master, char *name, size_t name_len);

/// TIOCSWINSZ on a terminal fd. Returns 0 or an errno.
int liftoff_set_winsize(int fd, unsigned short rows, unsigned short cols);

/// What liftoff_spawn gives the child for a standard descriptor: these, or an fd >= 0 (dup2'ed, so it
/// may be CLOEXEC in the parent).
#define LIFTOFF_SPAWN_NULL (-1)
#define LIFTOFF_SPAWN_INHERIT (-2)

struct liftoff_spawn_attr {
  /// An fd >= 0, LIFTOFF_SPAWN_NULL (/dev/null) or LIFTOFF_SPAWN_INHERIT (the caller's own).
  int stdin_fd, stdout_fd, stderr_fd;
  /// Not NULL: the child starts a new session and opens this terminal as fds 0-2, which makes it the
  /// controlling terminal (the three fds above and process_group are then ignored).
  const char *tty_path;
  /// 1: the child leads a new process group (so that the whole group can be signalled).
  int process_group;
  /// The child's working directory; NULL: the caller's.
  const char *cwd;
  /// These become the child's fds 3, 4, … (any numbers, CLOEXEC or not).
  const int *extra_fds;
  int extra_count;
};

/// posix_spawn of path with argv/envp as `a` says, from a single- or multi-threaded caller: signals
/// unblocked and at their defaults, every descriptor above stdio and the extra fds closed. Returns 0
/// (pid in *pid) or the errno of the failed spawn or exec.
int liftoff_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                  const struct liftoff_spawn_attr *a);

#endif
