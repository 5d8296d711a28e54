// liftoff-enter: running a command inside a running app, with the app's whole confinement (what
// `liftoff enter` and CRI Exec/ExecSync run). A small C program of its own: setns(2) into a mount
// namespace fails in a multi-threaded process, and it is the one process that crosses from the host
// into a container, so it carries nothing it does not need (runc's nsexec, without the Go runtime).
//
// Crossing safely (runc CVE-2019-5736 and CVE-2016-9962 classes):
//   - It is not dumpable from its first instruction to the command's execve: nothing in the container
//     can ptrace it or open its /proc/PID/{exe,root,cwd,fd,mem}.
//   - It runs from a sealed memfd copy of itself (it re-executes itself from one first): even a
//     container process with CAP_SYS_PTRACE that reaches /proc/PID/exe finds a copy it cannot write,
//     never the host's binary.
//   - The container's environment never is its own: it reads it as data (LIFTOFF_NSENTER_ENV, a file
//     of NUL-separated KEY=VALUE entries) and sets it only for the command's execve.
//   - The app's process is found by PID and checked to be the same process (its start time, read
//     through a pidfd that is polled again once its namespaces and root are open).
//   - The working directory is resolved inside the app's root (openat2 RESOLVE_IN_ROOT), never
//     through host paths or /proc magic links.
//
// Started with argv = [anything, CMD, ARGS…] and only these variables (all but the first optional):
//   LIFTOFF_NSENTER_PID=<pid>          a process inside the app: its namespaces and root are joined
//   LIFTOFF_NSENTER_PID_START=<ticks>  that process's start time (/proc/PID/stat field 22), checked
//   LIFTOFF_NSENTER_ENV=<path>         the command's environment: NUL-separated KEY=VALUE entries
//   LIFTOFF_NSENTER_CWD=<dir>          working directory inside the app
//   LIFTOFF_NSENTER_CGROUPS=<d1>:<d2>  host cgroup directories of the app (cgroup.procs is written)
//   LIFTOFF_NSENTER_UID / _GID=<n>     user and primary group
//   LIFTOFF_NSENTER_GROUPS=<g1>,<g2>   supplementary groups (empty: none); set with UID
//   LIFTOFF_NSENTER_CAPS=<hex>         bounding, permitted and effective set (absent: keep the caller's)
//   LIFTOFF_NSENTER_AMBIENT=<hex>      inheritable and ambient set (within CAPS; absent: none)
//   LIFTOFF_NSENTER_NNP=1              no_new_privs
//   LIFTOFF_NSENTER_SECCOMP=<path>     a raw BPF program (struct sock_filter[]) loaded just before execve
//   LIFTOFF_NSENTER_TTY=1              the child starts a session and makes its stdin (a terminal)
//                                      its controlling terminal
//   LIFTOFF_NSENTER_TTY=inner          the same with a new pty of the app's own devpts (so ttyname()
//                                      works inside): this process then relays between its stdio (set
//                                      raw, restored at the end) and the pty's master, and copies the
//                                      window size on SIGWINCH (liftoff-cri signals it after a resize)
//
//   parent (this process)                      child
//   [re-exec from a sealed memfd]
//   open pidfd, check start time, open ns fds, root, cwd (in root), cgroup.procs, seccomp, env
//   pidfd still alive? setns ipc uts net pid mnt (cgroup), chroot, fchdir, user (last, when the app has its own)
//   fork ─────────────────────────────────────▶ [tty: setsid, TIOCSCTTY] → cgroup.procs ← 0
//   wait; exit with the child's status           → bounding set → groups, gid, uid → capsets
//   (128 + signal when killed)                   → PR_SET_PDEATHSIG(SIGKILL), parent still there?
//                                                → close fds ≥ 3 → no_new_privs → seccomp → environment
//                                                  → execvp (seccomp first of all when no_new_privs is off)
// Failures before exec exit 125 (126/127 when exec fails) with one line on stderr. The child gets
// SIGKILL when this process dies, so killing liftoff-enter ends the command it ran; so does the
// reader of this process's stdout or stderr going away (a pipe's reader closed, a terminal hung up).
#define _GNU_SOURCE
#include "CLinux.h"
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <termios.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#define NSENTER_MAX_CGROUPS 16
#define NSENTER_MAX_GROUPS 64

static void liftoff_nsenter_fail(const char *what, const char *detail) {
  fprintf(stderr, "liftoff enter: %s %s: %s\n", what, detail ? detail : "", strerror(errno));
  _exit(125);
}

/// getenv + a private copy + unsetenv (so CMD never sees our variables).
static char *liftoff_nsenter_take(const char *name) {
  const char *v = getenv(name);
  char *copy = v ? strdup(v) : NULL;
  unsetenv(name);
  return copy;
}

static int liftoff_nsenter_parse_u32(const char *s, unsigned long *out) {
  if (s == NULL || *s == 0) return -1;
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || *end != 0 || v > 0xffffffffUL) return -1;
  *out = v;
  return 0;
}

/// Reads a whole file (the seccomp program) into a malloc'ed buffer.
static void *liftoff_nsenter_read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) liftoff_nsenter_fail("open", path);
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
    }
    if (buf == NULL) liftoff_nsenter_fail("read", path);
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) liftoff_nsenter_fail("read", path);
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  *len = n;
  return buf;
}

/// Opens a pty of the container's devpts. The container may have changed its /dev (this process is
/// still fully privileged): the last component is not followed and what was opened must be a ptmx
/// (char 5:2). On any failure *master stays -1 and the command gets the outer terminal instead.
static void liftoff_nsenter_open_inner_pty(int *master, int *slave) {
  int m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (m < 0) return;
  struct stat st;
  int unlock = 0;
  int s = -1;
  if (fstat(m, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 5 && minor(st.st_rdev) == 2 &&
      ioctl(m, TIOCSPTLCK, &unlock) == 0) {
    s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  }
  if (s < 0) {
    close(m);
    return;
  }
  fcntl(m, F_SETFL, fcntl(m, F_GETFL) & ~O_NONBLOCK);
  *master = m;
  *slave = s;
}

static int liftoff_nsenter_write_all(int fd, const char *b, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/// Relays between this process's stdio (the outer terminal) and the inner pty's master until the
/// child exits (then drains what it left in the pty); window size changes follow SIGWINCH. The child
/// is killed when the outer side goes away (terminal hung up, output's reader gone).
static void liftoff_nsenter_relay(int master, int winch, pid_t child, int pidfd, int *status) {
  char buf[16384];
  int in_open = 1, master_open = 1;
  for (;;) {
    pid_t r = waitpid(child, status, WNOHANG);
    if (r == child) break;
    struct pollfd p[5] = {
        {.fd = in_open ? 0 : -1, .events = POLLIN}, {.fd = master_open ? master : -1, .events = POLLIN},
        {.fd = winch, .events = POLLIN},           {.fd = pidfd, .events = POLLIN},
        {.fd = 1, .events = 0},
    };
    int n = poll(p, 5, pidfd >= 0 ? -1 : 200);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (p[4].revents & (POLLERR | POLLHUP))) goto kill_child;
    if (p[0].revents & POLLIN) {
      ssize_t k = read(0, buf, sizeof buf);
      if (k > 0 && liftoff_nsenter_write_all(master, buf, (size_t)k) != 0) master_open = 0;
      if (k == 0) in_open = 0;
      if (k < 0 && errno != EINTR && errno != EAGAIN) goto kill_child;
    } else if (p[0].revents & (POLLHUP | POLLERR)) {
      goto kill_child;  // the outer terminal hung up: the session is over
    }
    if (p[1].revents & POLLIN) {
      ssize_t k = read(master, buf, sizeof buf);
      if (k > 0 && liftoff_nsenter_write_all(1, buf, (size_t)k) != 0) goto kill_child;
      if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) master_open = 0;
    } else if (p[1].revents & (POLLHUP | POLLERR)) {
      master_open = 0;  // every slave closed: wait for the child's exit
    }
    if (p[2].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(winch, &si, sizeof si) == (ssize_t)sizeof si) {}
      struct winsize size;
      if (ioctl(0, TIOCGWINSZ, &size) == 0) ioctl(master, TIOCSWINSZ, &size);
    }
  }
  // The child is gone; what it wrote last may still be in the pty (not what its children keep writing).
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  for (;;) {
    ssize_t k = read(master, buf, sizeof buf);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0 || liftoff_nsenter_write_all(1, buf, (size_t)k) != 0) break;
  }
  return;
kill_child:
  kill(child, SIGKILL);
  while (waitpid(child, status, 0) < 0 && errno == EINTR) {}
}

/// The Swift driver links every executable with swiftrt.o, whose constructor registers the image with
/// the Swift runtime. This one has no Swift code: defining the hook here keeps the runtime (and
/// libstdc++) out of the static link — ~100 KiB instead of ~7 MiB to copy into a memfd on every exec.
void swift_addNewDSOImage(const void *image) { (void)image; }

/// Runs this program from a sealed memfd copy of itself (runc's cloned binary): returns when it already
/// does; otherwise copies /proc/self/exe into a memfd, seals it against every change and execs it with
/// the same argv and environment. /proc/PID/exe of the process that crosses into the container is
/// then a copy nothing can write.
static void liftoff_enter_run_sealed(char **argv, char **envp) {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) liftoff_nsenter_fail("open", "/proc/self/exe");
  int seals = fcntl(self, F_GET_SEALS);
  int want = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  if (seals >= 0 && (seals & want) == want) {
    close(self);
    return;
  }
  struct stat st;
  if (fstat(self, &st) != 0) liftoff_nsenter_fail("stat", "/proc/self/exe");
  int mem = memfd_create("liftoff-enter", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mem < 0) liftoff_nsenter_fail("memfd_create", NULL);
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(mem, self, &off, (size_t)(st.st_size - off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) liftoff_nsenter_fail("copy", "/proc/self/exe");
  }
  close(self);
  if (fcntl(mem, F_ADD_SEALS, want) != 0) liftoff_nsenter_fail("seal", "memfd");
  fexecve(mem, argv, envp);
  liftoff_nsenter_fail("exec", "memfd");
}

/// Field 22 of /proc/PID/stat (the start time in clock ticks since boot), or 0.
static unsigned long long liftoff_enter_start_time(const char *pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');  // the command name may hold spaces and parentheses
  if (p == NULL) return 0;
  p++;
  for (int field = 3; field < 22 && p != NULL; field++) p = strchr(p + 1, ' ');  // p: the space before field 22
  return p ? strtoull(p + 1, NULL, 10) : 0;
}

/// The command's environment: a file of NUL-separated KEY=VALUE entries (the last NUL may be
/// missing), read whole into a NULL-terminated array.
static char **liftoff_enter_read_env(const char *path) {
  size_t len = 0;
  char *data = liftoff_nsenter_read_file(path, &len);
  char *text = realloc(data, len + 1);
  if (text == NULL) liftoff_nsenter_fail("read", path);
  text[len] = 0;
  size_t count = 1;
  for (size_t i = 0; i < len; i++) count += text[i] == 0;
  char **env = calloc(count + 1, sizeof(char *));
  if (env == NULL) liftoff_nsenter_fail("read", path);
  size_t k = 0;
  for (size_t start = 0; start < len; start += strlen(text + start) + 1) {
    if (text[start] != 0) env[k++] = text + start;
  }
  env[k] = NULL;
  return env;
}

int main(int argc, char **argv, char **envp) {
  // Not dumpable until the command's execve (which makes it dumpable again, as any process).
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) liftoff_nsenter_fail("prctl PR_SET_DUMPABLE", NULL);
  liftoff_enter_run_sealed(argv, envp);
  const char *pidstr = getenv("LIFTOFF_NSENTER_PID");
  if (pidstr == NULL || *pidstr == 0) {
    errno = EINVAL;
    liftoff_nsenter_fail("LIFTOFF_NSENTER_PID is not set", NULL);
  }
  char pid[32];
  snprintf(pid, sizeof pid, "%s", pidstr);
  unsetenv("LIFTOFF_NSENTER_PID");
  char *cwd = liftoff_nsenter_take("LIFTOFF_NSENTER_CWD");
  char *cgroups = liftoff_nsenter_take("LIFTOFF_NSENTER_CGROUPS");
  char *uidstr = liftoff_nsenter_take("LIFTOFF_NSENTER_UID");
  char *gidstr = liftoff_nsenter_take("LIFTOFF_NSENTER_GID");
  char *groupsstr = liftoff_nsenter_take("LIFTOFF_NSENTER_GROUPS");
  char *capsstr = liftoff_nsenter_take("LIFTOFF_NSENTER_CAPS");
  char *ambientstr = liftoff_nsenter_take("LIFTOFF_NSENTER_AMBIENT");
  char *nnpstr = liftoff_nsenter_take("LIFTOFF_NSENTER_NNP");
  char *seccomppath = liftoff_nsenter_take("LIFTOFF_NSENTER_SECCOMP");
  char *ttystr = liftoff_nsenter_take("LIFTOFF_NSENTER_TTY");
  char *startstr = liftoff_nsenter_take("LIFTOFF_NSENTER_PID_START");
  char *envpath = liftoff_nsenter_take("LIFTOFF_NSENTER_ENV");
  if (argc < 2) {
    errno = EINVAL;
    liftoff_nsenter_fail("no command", NULL);
  }

  // Parse everything up front: a bad value fails before anything is joined.
  int setuser = uidstr != NULL;
  unsigned long uid = 0, gid = 0;
  gid_t groups[NSENTER_MAX_GROUPS];
  int ngroups = 0;
  if (setuser) {
    errno = EINVAL;
    if (liftoff_nsenter_parse_u32(uidstr, &uid) != 0) liftoff_nsenter_fail("bad LIFTOFF_NSENTER_UID", uidstr);
    if (liftoff_nsenter_parse_u32(gidstr, &gid) != 0) liftoff_nsenter_fail("bad LIFTOFF_NSENTER_GID", gidstr);
    if (groupsstr != NULL && *groupsstr != 0) {
      for (char *save = NULL, *g = strtok_r(groupsstr, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
        unsigned long v;
        errno = EINVAL;
        if (ngroups == NSENTER_MAX_GROUPS || liftoff_nsenter_parse_u32(g, &v) != 0) {
          liftoff_nsenter_fail("bad LIFTOFF_NSENTER_GROUPS", g);
        }
        groups[ngroups++] = (gid_t)v;
      }
    }
  }
  int setcaps = capsstr != NULL;
  uint64_t caps = 0;
  if (setcaps) {
    char *end = NULL;
    errno = 0;
    caps = strtoull(capsstr, &end, 16);
    if (errno != 0 || *capsstr == 0 || *end != 0) {
      errno = EINVAL;
      liftoff_nsenter_fail("bad LIFTOFF_NSENTER_CAPS", capsstr);
    }
  }
  uint64_t ambient = 0;
  if (ambientstr != NULL) {
    char *end = NULL;
    errno = 0;
    ambient = strtoull(ambientstr, &end, 16);
    if (errno != 0 || *ambientstr == 0 || *end != 0 || !setcaps) {
      errno = EINVAL;
      liftoff_nsenter_fail("bad LIFTOFF_NSENTER_AMBIENT", ambientstr);
    }
  }
  int nnp = nnpstr != NULL && strcmp(nnpstr, "1") == 0;
  int innertty = ttystr != NULL && strcmp(ttystr, "inner") == 0;
  int tty = innertty || (ttystr != NULL && strcmp(ttystr, "1") == 0);

  // Open everything on the host's side first: the paths stop resolving once we are inside the
  // app's mount namespace and root.
  int cgroupfds[NSENTER_MAX_CGROUPS];
  int ncgroups = 0;
  if (cgroups != NULL && *cgroups != 0) {
    for (char *save = NULL, *d = strtok_r(cgroups, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
      char path[4200];
      snprintf(path, sizeof path, "%s/cgroup.procs", d);
      if (ncgroups == NSENTER_MAX_CGROUPS) {
        errno = E2BIG;
        liftoff_nsenter_fail("too many cgroups at", path);
      }
      int fd = open(path, O_WRONLY | O_CLOEXEC);
      if (fd < 0) liftoff_nsenter_fail("open", path);
      cgroupfds[ncgroups++] = fd;
    }
  }
  void *seccomp = NULL;
  size_t seccomplen = 0;
  if (seccomppath != NULL && *seccomppath != 0) seccomp = liftoff_nsenter_read_file(seccomppath, &seccomplen);
  int lastcap = 63;
  {
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    char b[16] = {0};
    if (fd >= 0 && read(fd, b, sizeof b - 1) > 0) lastcap = atoi(b);
    if (fd >= 0) close(fd);
  }

  // The app's process, by PID: held as a pidfd and checked to be the process that was started (its
  // start time), and checked again to be alive once its namespaces and root are open below — so that
  // none of them can belong to another process that got the PID after the app's exited.
  int pidfd = (int)syscall(SYS_pidfd_open, atoi(pid), 0);
  if (pidfd < 0) liftoff_nsenter_fail("pidfd_open", pid);
  if (startstr != NULL && *startstr != 0) {
    unsigned long long want = strtoull(startstr, NULL, 10);
    if (liftoff_enter_start_time(pid) != want) {
      errno = ESRCH;
      liftoff_nsenter_fail("the app's process is gone: pid", pid);
    }
  }
  char **cmdenv = envpath != NULL && *envpath != 0 ? liftoff_enter_read_env(envpath) : NULL;
  static const struct { const char *name; int type; } kinds[] = {
      {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
      {"net", CLONE_NEWNET},       {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
  };
  int fds[6];
  for (int i = 0; i < 6; i++) {
    char path[96];
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, kinds[i].name);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0 && !(errno == ENOENT && kinds[i].type == CLONE_NEWCGROUP)) liftoff_nsenter_fail("open", path);
  }
  // The app's user namespace, when it is not ours (a pod with `userNamespace`): the app's other
  // namespaces belong to the host's user namespace, so it is joined last, after chroot, as stage1's
  // apps join it (entering it first would leave us without the right to join the mount namespace).
  int userfd = -1;
  {
    char path[96];
    snprintf(path, sizeof path, "/proc/%s/ns/user", pid);
    userfd = open(path, O_RDONLY | O_CLOEXEC);
    if (userfd < 0) liftoff_nsenter_fail("open", path);
    struct stat theirs, ours;
    if (fstat(userfd, &theirs) != 0 || stat("/proc/self/ns/user", &ours) != 0) liftoff_nsenter_fail("stat", path);
    if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) {
      close(userfd);
      userfd = -1;
    }
  }
  // The app's root: after pivot_root it is the mount namespace's root; for fly it is a chroot.
  char rootpath[96];
  snprintf(rootpath, sizeof rootpath, "/proc/%s/root", pid);
  int rootfd = open(rootpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) liftoff_nsenter_fail("open", rootpath);
  // The working directory, resolved inside the app's root (a missing one: its root, as before).
  const char *dir = cwd != NULL && *cwd != 0 ? cwd : "/";
  int cwdfd = liftoff_openat2(rootfd, dir, O_PATH | O_DIRECTORY, 0, 1);
  if (cwdfd < 0) cwdfd = liftoff_openat2(rootfd, "/", O_PATH | O_DIRECTORY, 0, 1);
  if (cwdfd < 0) liftoff_nsenter_fail("open working directory", dir);
  struct pollfd alivecheck = {.fd = pidfd, .events = POLLIN};
  if (poll(&alivecheck, 1, 0) != 0) {
    errno = ESRCH;
    liftoff_nsenter_fail("the app's process exited: pid", pid);
  }
  for (int i = 0; i < 6; i++) {
    if (fds[i] < 0) continue;
    if (setns(fds[i], kinds[i].type) != 0) liftoff_nsenter_fail("setns", kinds[i].name);
    close(fds[i]);
  }
  if (fchdir(rootfd) != 0 || chroot(".") != 0) liftoff_nsenter_fail("chroot", rootpath);
  close(rootfd);
  if (fchdir(cwdfd) != 0) liftoff_nsenter_fail("chdir", dir);
  close(cwdfd);
  if (userfd >= 0) {
    if (setns(userfd, CLONE_NEWUSER) != 0) liftoff_nsenter_fail("setns", "user");
    close(userfd);
    // setns keeps our IDs (host root, unmapped in there): become the namespace's root (EINVAL when
    // its 0 is not mapped: then we stay as we are).
    if (liftoff_setresgid(0) != 0 && errno != EINVAL) liftoff_nsenter_fail("setresgid", "0");
    if (liftoff_setresuid(0) != 0 && errno != EINVAL) liftoff_nsenter_fail("setresuid", "0");
  }

  // An inner terminal: SIGWINCH is caught (blocked, read from a signalfd) before the outer size is
  // copied, so that no resize falls between the two.
  int inner_master = -1, inner_slave = -1, winch = -1;
  struct termios outer;
  int outer_saved = 0;
  if (innertty && isatty(0)) {
    sigset_t ws;
    sigemptyset(&ws);
    sigaddset(&ws, SIGWINCH);
    sigprocmask(SIG_BLOCK, &ws, NULL);
    winch = signalfd(-1, &ws, SFD_CLOEXEC | SFD_NONBLOCK);
    liftoff_nsenter_open_inner_pty(&inner_master, &inner_slave);
  }
  if (inner_master >= 0) {
    struct winsize size;
    if (ioctl(0, TIOCGWINSZ, &size) == 0) ioctl(inner_master, TIOCSWINSZ, &size);
    if (tcgetattr(0, &outer) == 0) {
      outer_saved = 1;
      tcsetattr(inner_slave, TCSANOW, &outer);  // the command sees the modes the outer terminal had
      struct termios raw = outer;
      cfmakeraw(&raw);
      tcsetattr(0, TCSANOW, &raw);  // the outer one only carries bytes now
    }
  }

  // Closed by the kernel when this process dies: the child checks it after arming its death signal.
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) != 0) liftoff_nsenter_fail("pipe", NULL);
  pid_t child = fork();
  if (child < 0) liftoff_nsenter_fail("fork", NULL);
  if (child == 0) {
    close(alive[1]);
    sigset_t unblock;  // SIGWINCH may have been blocked for the relay above
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGWINCH);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    if (inner_slave >= 0) {
      if (setsid() < 0) liftoff_nsenter_fail("setsid", NULL);
      for (int fd = 0; fd <= 2; fd++) dup2(inner_slave, fd);
      if (ioctl(0, TIOCSCTTY, 0) != 0) liftoff_nsenter_fail("ioctl TIOCSCTTY", "/dev/ptmx");
      if (setuser) (void)fchown(0, (uid_t)uid, (gid_t)-1);
      close(inner_slave);
      close(inner_master);
    } else if (tty && isatty(0)) {
      if (setsid() < 0) liftoff_nsenter_fail("setsid", NULL);
      // Fails (EPERM) only when the terminal is some other session's; the command then runs without one.
      (void)ioctl(0, TIOCSCTTY, 0);
    }
    for (int i = 0; i < ncgroups; i++) {
      if (write(cgroupfds[i], "0", 1) != 1) liftoff_nsenter_fail("join cgroup", cgroups);
      close(cgroupfds[i]);
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we still hold it, as
    // runc and stage1 do (the filter then also covers the credential changes below).
    int seccomp_loaded = 0;
    if (!nnp && seccomp != NULL) {
      if (liftoff_seccomp_load(seccomp, seccomplen) != 0) liftoff_nsenter_fail("seccomp", seccomppath);
      seccomp_loaded = 1;
    }
    if (setcaps) {
      for (int cap = 0; cap <= lastcap; cap++) {
        if (caps & (1ULL << cap)) continue;
        if (liftoff_cap_bounding_read(cap) == 1 && liftoff_cap_bounding_drop(cap) != 0) {
          liftoff_nsenter_fail("prctl PR_CAPBSET_DROP", NULL);
        }
      }
    }
    if (setuser) {
      if (liftoff_set_keepcaps(1) != 0) liftoff_nsenter_fail("prctl PR_SET_KEEPCAPS", NULL);
      if (setgroups((size_t)ngroups, groups) != 0) liftoff_nsenter_fail("setgroups", NULL);
      if (liftoff_setresgid((gid_t)gid) != 0) liftoff_nsenter_fail("setresgid", gidstr);
      if (liftoff_setresuid((uid_t)uid) != 0) liftoff_nsenter_fail("setresuid", uidstr);
      (void)liftoff_set_keepcaps(0);
    }
    if (setcaps) {
      // Never more than we hold (root here lacks CAP_SYS_RESOURCE, for one), as stage1 does.
      uint64_t permitted = ~0ULL;
      int sfd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
      if (sfd >= 0) {
        char text[8192];
        ssize_t n = read(sfd, text, sizeof text - 1);
        close(sfd);
        if (n > 0) {
          text[n] = 0;
          char *p = strstr(text, "\nCapPrm:");
          if (p != NULL) permitted = strtoull(p + 8, NULL, 16);
        }
      }
      uint64_t inheritable = ambient & caps & permitted;
      if (liftoff_capset(caps & permitted, caps & permitted, inheritable) != 0) liftoff_nsenter_fail("capset", capsstr);
      (void)liftoff_ambient_clear();
      for (int cap = 0; cap < 64; cap++) {
        if ((inheritable & (1ULL << cap)) && liftoff_ambient_raise(cap) != 0) {
          liftoff_nsenter_fail("prctl PR_CAP_AMBIENT_RAISE", ambientstr);
        }
      }
    }
    // After the credential change, which clears it; then make sure the parent did not already go.
    if (liftoff_set_pdeathsig(SIGKILL) != 0) liftoff_nsenter_fail("prctl PR_SET_PDEATHSIG", NULL);
    struct pollfd pfd = {.fd = alive[0], .events = POLLIN};
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLIN))) _exit(125);
    close(alive[0]);
    // Nothing of the caller's (liftoff-cri's sockets, say) may reach the container: only stdio.
    liftoff_close_from_except(3, -1);
    if (nnp && liftoff_set_no_new_privs() != 0) liftoff_nsenter_fail("prctl PR_SET_NO_NEW_PRIVS", NULL);
    if (seccomp != NULL && !seccomp_loaded && liftoff_seccomp_load(seccomp, seccomplen) != 0) {
      liftoff_nsenter_fail("seccomp", seccomppath);
    }
    if (cmdenv != NULL) environ = cmdenv;  // the container's environment, for the command only
    execvp(argv[1], argv + 1);
    int e = errno;
    fprintf(stderr, "liftoff enter: exec %s: %s\n", argv[1], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  close(alive[0]);
  for (int i = 0; i < ncgroups; i++) close(cgroupfds[i]);
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  // Wait for the command; meanwhile, if whoever reads our stdout/stderr goes away (a pipe's reader
  // gone: POLLERR; a terminal hung up or a socket closed: POLLHUP) — liftoff-cri killed with SIGKILL,
  // say — nobody can see the command any more: kill it rather than leave it running in the container.
  close(pidfd);
  pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  int status = 0;
  if (inner_master >= 0) {
    close(inner_slave);
    liftoff_nsenter_relay(inner_master, winch, child, pidfd, &status);
    if (outer_saved) tcsetattr(0, TCSANOW, &outer);
  }
  while (inner_master < 0) {
    pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) liftoff_nsenter_fail("waitpid", NULL);
    struct pollfd p[3] = {{.fd = 1, .events = 0}, {.fd = 2, .events = 0}, {.fd = pidfd, .events = POLLIN}};
    int n = poll(p, pidfd >= 0 ? 3 : 2, pidfd >= 0 ? -1 : 200);
    if (n > 0 && ((p[0].revents | p[1].revents) & (POLLERR | POLLHUP))) {
      kill(child, SIGKILL);
      while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
      break;
    }
  }
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
  _exit(1);
}
