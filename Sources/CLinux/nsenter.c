// `liftoff enter`: joining a running app's namespaces. setns(2) into a mount namespace fails in a
// multi-threaded process, and the Swift runtime may start threads, so the joining happens here, in a
// constructor that runs before Swift's main (runc's nsexec trick).
//
// Trigger: stage0 re-executes itself (/proc/self/exe) with
//   LIFTOFF_NSENTER_PID=<pid of a process inside the app>   whose namespaces to join
//   LIFTOFF_NSENTER_CWD=<dir>                                optional working directory
// and argv = [anything, CMD, ARGS…]; the rest of the environment is passed to CMD as it is.
// The constructor joins the app's user-visible namespaces (ipc, uts, net, pid, mnt; cgroup when
// present), forks (a PID namespace applies to children only), execs CMD in the child, waits, and
// exits with CMD's status (128 + signal when killed). It never returns to Swift.
// The command runs as root with the full capability set of the caller, like `rkt enter`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void liftoff_nsenter_fail(const char *what, const char *detail) {
  fprintf(stderr, "liftoff enter: %s %s: %s\n", what, detail ? detail : "", strerror(errno));
  _exit(125);
}

__attribute__((constructor)) static void liftoff_nsenter(int argc, char **argv, char **envp) {
  (void)envp;
  const char *pidstr = getenv("LIFTOFF_NSENTER_PID");
  if (pidstr == NULL || *pidstr == 0) return;
  char *cwd = getenv("LIFTOFF_NSENTER_CWD");
  char cwdcopy[4096] = "/";
  if (cwd != NULL) snprintf(cwdcopy, sizeof cwdcopy, "%s", cwd);
  char pid[32];
  snprintf(pid, sizeof pid, "%s", pidstr);
  unsetenv("LIFTOFF_NSENTER_PID");
  unsetenv("LIFTOFF_NSENTER_CWD");
  if (argc < 2) {
    errno = EINVAL;
    liftoff_nsenter_fail("no command", NULL);
  }
  // Open every namespace first (the paths stop resolving once we are inside the mount namespace).
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
  // The app's root: after pivot_root it is the mount namespace's root; for fly it is a chroot.
  char rootpath[96];
  snprintf(rootpath, sizeof rootpath, "/proc/%s/root", pid);
  int rootfd = open(rootpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) liftoff_nsenter_fail("open", rootpath);
  for (int i = 0; i < 6; i++) {
    if (fds[i] < 0) continue;
    if (setns(fds[i], kinds[i].type) != 0) liftoff_nsenter_fail("setns", kinds[i].name);
    close(fds[i]);
  }
  if (fchdir(rootfd) != 0 || chroot(".") != 0) liftoff_nsenter_fail("chroot", rootpath);
  close(rootfd);
  if (chdir(cwdcopy) != 0 && chdir("/") != 0) liftoff_nsenter_fail("chdir", cwdcopy);
  pid_t child = fork();
  if (child < 0) liftoff_nsenter_fail("fork", NULL);
  if (child == 0) {
    execvp(argv[1], argv + 1);
    fprintf(stderr, "liftoff enter: exec %s: %s\n", argv[1], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) liftoff_nsenter_fail("waitpid", NULL);
  }
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
  _exit(1);
}
