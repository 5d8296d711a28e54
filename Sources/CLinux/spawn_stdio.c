// Pseudo-terminals and posix_spawn with redirected stdio, for processes started by a multi-threaded
// Swift program (never fork there; LiftoffOS/Subprocess.swift is the one Swift caller). glibc's
// posix_spawn uses CLONE_VFORK and reports the child's exec errno as its return value.
#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int liftoff_open_pty(int *master, char *name, size_t name_len) {
  int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return errno;
  if (grantpt(fd) != 0 || unlockpt(fd) != 0) {
    int e = errno;
    close(fd);
    return e;
  }
  int rc = ptsname_r(fd, name, name_len);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  *master = fd;
  return 0;
}

int liftoff_set_winsize(int fd, unsigned short rows, unsigned short cols) {
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = rows;
  ws.ws_col = cols;
  return ioctl(fd, TIOCSWINSZ, &ws) == 0 ? 0 : errno;
}

// One posix_spawn for every process a Liftoff program starts from a possibly multi-threaded process
// (see CLinux.h). The order of the file actions matters: setsid/setpgid run before them, so opening
// the tty makes it the controlling terminal; the extra fds are moved to 3, 4, … only after stdio is
// in place, from copies above every target (so that no dup2 overwrites a later source); closefrom
// comes last.
static void close_and_free(int *fds, int count) {
  for (int i = 0; i < count; i++)
    if (fds[i] >= 0) close(fds[i]);
  free(fds);
}

int liftoff_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                  const struct liftoff_spawn_attr *a) {
  int count = a->extra_count > 0 ? a->extra_count : 0;
  int *high = calloc((size_t)count + 1, sizeof(int));
  if (high == NULL) return ENOMEM;
  int rc = 0;
  for (int i = 0; i < count; i++) high[i] = -1;
  for (int i = 0; i < count && rc == 0; i++) {
    high[i] = fcntl(a->extra_fds[i], F_DUPFD_CLOEXEC, 3 + count);
    if (high[i] < 0) rc = errno;
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  if (rc == 0) rc = posix_spawn_file_actions_init(&actions);
  if (rc == 0) {
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) posix_spawn_file_actions_destroy(&actions);
  }
  if (rc != 0) {
    close_and_free(high, count);
    return rc;
  }
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  if (a->tty_path != NULL) {
    flags |= POSIX_SPAWN_SETSID;
    rc = posix_spawn_file_actions_addopen(&actions, 0, a->tty_path, O_RDWR, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, 0, 1);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, 0, 2);
  } else {
    if (a->process_group) {
      flags |= POSIX_SPAWN_SETPGROUP;
      posix_spawnattr_setpgroup(&attr, 0);
    }
    const int given[3] = {a->stdin_fd, a->stdout_fd, a->stderr_fd};
    for (int target = 0; target < 3 && rc == 0; target++) {
      if (given[target] == LIFTOFF_SPAWN_NULL)
        rc = posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0);
      else if (given[target] >= 0)
        rc = posix_spawn_file_actions_adddup2(&actions, given[target], target);
      // LIFTOFF_SPAWN_INHERIT: the caller's descriptor stays.
    }
  }
  for (int i = 0; i < count && rc == 0; i++) rc = posix_spawn_file_actions_adddup2(&actions, high[i], 3 + i);
  if (rc == 0 && a->cwd != NULL) rc = posix_spawn_file_actions_addchdir_np(&actions, a->cwd);
  // Only stdio and the extra fds: none of the caller's own descriptors (CLOEXEC or not) reaches the child.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3 + count);
  if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
  if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close_and_free(high, count);
  return rc;
}
