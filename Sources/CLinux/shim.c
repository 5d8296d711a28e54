#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int liftoff_open_mode(const char *path, int flags, mode_t mode) {
  return open(path, flags, mode);
}

pid_t liftoff_clone(unsigned long flags) {
  // A raw clone with no new stack behaves like fork(2) (this is what glibc's fork does underneath).
  return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

int liftoff_signalfd(const int *signals, int count) {
  sigset_t set;
  sigemptyset(&set);
  for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

void liftoff_reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &sa, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigprocmask(SIG_SETMASK, &set, NULL);
}

int liftoff_signalfd_read(int fd) {
  struct signalfd_siginfo si;
  ssize_t n = read(fd, &si, sizeof si);
  if (n == (ssize_t)sizeof si) return (int)si.ssi_signo;
  if (n < 0 && errno == EAGAIN) return 0;
  return -1;
}

int liftoff_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int liftoff_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
int liftoff_set_keepcaps(int on) { return prctl(PR_SET_KEEPCAPS, on, 0, 0, 0); }
int liftoff_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int liftoff_set_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }
int liftoff_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, on, 0, 0, 0); }
int liftoff_cap_bounding_drop(int cap) { return prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); }
int liftoff_cap_bounding_read(int cap) { return prctl(PR_CAPBSET_READ, cap, 0, 0, 0); }
int liftoff_ambient_clear(void) { return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); }
int liftoff_ambient_raise(int cap) { return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0); }

int liftoff_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  data[0].effective = (uint32_t)effective;
  data[1].effective = (uint32_t)(effective >> 32);
  data[0].permitted = (uint32_t)permitted;
  data[1].permitted = (uint32_t)(permitted >> 32);
  data[0].inheritable = (uint32_t)inheritable;
  data[1].inheritable = (uint32_t)(inheritable >> 32);
  return (int)syscall(SYS_capset, &hdr, data);
}

int liftoff_unshare(int flags) { return unshare(flags); }
int liftoff_setns(int fd, int nstype) { return setns(fd, nstype); }

int liftoff_pivot_root(const char *new_root, const char *put_old) {
  return (int)syscall(SYS_pivot_root, new_root, put_old);
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
int liftoff_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
int liftoff_mount_setattr_rdonly(const char *path, int recursive) {
  // struct mount_attr of <linux/mount.h> (which clashes with glibc's <sys/mount.h>).
  struct { uint64_t attr_set, attr_clr, propagation, userns_fd; } attr = {0x00000001 /* MOUNT_ATTR_RDONLY */, 0, 0, 0};
  return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? 0x8000 /* AT_RECURSIVE */ : 0, &attr, sizeof attr);
}
int liftoff_has_mount_setattr(void) {
  // Arguments it must reject: only a kernel without the call says ENOSYS.
  return !(syscall(SYS_mount_setattr, -1, NULL, 0, NULL, 0) == -1 && errno == ENOSYS);
}

int liftoff_netns_create(const char *path) {
  int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig < 0) return -1;
  if (unshare(CLONE_NEWNET) != 0) {
    int e = errno;
    close(orig);
    errno = e;
    return -1;
  }
  int rc = mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL);
  int e = errno;
  if (setns(orig, CLONE_NEWNET) != 0 && rc == 0) {
    // Could not go back: this thread is stranded in the new namespace. Report it loudly.
    e = errno;
    rc = -1;
  }
  close(orig);
  errno = e;
  return rc;
}

int liftoff_loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int e = errno;
  close(s);
  errno = e;
  return rc;
}

int liftoff_seccomp_load(const void *filter, size_t len) {
  if (len == 0 || len % sizeof(struct sock_filter) != 0) {
    errno = EINVAL;
    return -1;
  }
  struct sock_fprog prog;
  prog.len = (unsigned short)(len / sizeof(struct sock_filter));
  prog.filter = (struct sock_filter *)filter;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

int liftoff_set_ctty(int fd) { return ioctl(fd, TIOCSCTTY, 0); }

int liftoff_open_pty_at(const char *ptmx, int *master, int *slave) {
  int m = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return -1;
  int unlock = 0;
  // TIOCGPTPEER opens the slave through the master itself: right devpts instance, no path lookup.
  int s = -1;
  if (ioctl(m, TIOCSPTLCK, &unlock) == 0) s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    int e = errno;
    close(m);
    errno = e;
    return -1;
  }
  *master = m;
  *slave = s;
  return 0;
}

int liftoff_send_fd(int sock, int fd) {
  char data = 'F';
  struct iovec iov = {.iov_base = &data, .iov_len = 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : -1;
}

int liftoff_recv_fd(int sock) {
  char data;
  struct iovec iov = {.iov_base = &data, .iov_len = 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n;
  do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (n == 0 || c == NULL || c->cmsg_type != SCM_RIGHTS) {
    errno = ENODATA;
    return -1;
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

ssize_t liftoff_getrandom(void *buf, size_t len) { return getrandom(buf, len, 0); }

int liftoff_setresuid(uid_t uid) { return setresuid(uid, uid, uid); }
int liftoff_setresgid(gid_t gid) { return setresgid(gid, gid, gid); }
int liftoff_setrlimit(int resource, uint64_t soft, uint64_t hard) {
  struct rlimit r = {(rlim_t)soft, (rlim_t)hard};
  return prlimit(0, (__rlimit_resource_t)resource, &r, NULL);
}
int liftoff_o_path(void) { return O_PATH; }
int liftoff_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }
int liftoff_mknod_char(const char *path, mode_t mode, unsigned major, unsigned minor) {
  return mknod(path, S_IFCHR | mode, makedev(major, minor));
}

int liftoff_mknod(const char *path, mode_t mode, unsigned major, unsigned minor) {
  return mknod(path, mode, makedev(major, minor));
}
unsigned liftoff_dev_major(unsigned long long dev) { return major(dev); }
unsigned liftoff_dev_minor(unsigned long long dev) { return minor(dev); }

int liftoff_madvise_dontneed(void *addr, size_t len) { return madvise(addr, len, MADV_DONTNEED); }
void liftoff_malloc_trim(void) { malloc_trim(0); }
void liftoff_close_from_except(int from, int keep) {
  // close_range(2) where the kernel has it; a loop over the descriptor table otherwise.
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  if (keep >= from) {
    if (keep > from && syscall(SYS_close_range, (unsigned)from, (unsigned)(keep - 1), 0) != 0)
      for (int fd = from; fd < keep; fd++) close(fd);
    if (syscall(SYS_close_range, (unsigned)(keep + 1), ~0U, 0) != 0)
      for (int fd = keep + 1; fd < max; fd++) close(fd);
  } else if (syscall(SYS_close_range, (unsigned)from, ~0U, 0) != 0) {
    for (int fd = from; fd < max; fd++) close(fd);
  }
}

int liftoff_memfd_with(const void *data, size_t len) {
  int fd = memfd_create("liftoff-input", MFD_CLOEXEC);
  if (fd < 0) return -1;
  const char *p = data;
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, p + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    done += (size_t)n;
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}
