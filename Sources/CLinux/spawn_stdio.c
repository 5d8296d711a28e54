// Pseudo-terminals and posix_spawn with redirected stdio, for processes started by a multi-threaded
// Swift program (never fork there). glibc's posix_spawn uses CLONE_VFORK and reports the child's exec
// errno as its return value.
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

// liftoff_spawn_stdio, in working directory cwd when it is not NULL.
static int spawn_stdio_in(pid_t *pid, const char *path, char *const argv[], char *const envp[], int stdin_fd,
                          int stdout_fd, int stderr_fd, const char *tty_path, const char *cwd) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int rc = posix_spawn_file_actions_init(&actions);
  if (rc != 0) return rc;
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return rc;
  }
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  if (tty_path != NULL) {
    // setsid runs before the file actions, so opening the slave makes it the controlling tty.
    flags |= POSIX_SPAWN_SETSID;
    rc = posix_spawn_file_actions_addopen(&actions, 0, tty_path, O_RDWR, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, 0, 1);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, 0, 2);
  } else {
    // Its own process group, so that the whole group can be signalled.
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
    rc = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
  }
  if (rc == 0 && cwd != NULL) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd);
  // Only stdio: none of the server's own descriptors (CLOEXEC or not) reaches the child.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
  if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

int liftoff_spawn_stdio(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                        int stdin_fd, int stdout_fd, int stderr_fd, const char *tty_path) {
  return spawn_stdio_in(pid, path, argv, envp, stdin_fd, stdout_fd, stderr_fd, tty_path, NULL);
}

// An OCI hook: its own process group (killed whole at its timeout), stdout and stderr one pipe.
int liftoff_spawn_hook(pid_t *pid, const char *path, char *const argv[], char *const envp[], int stdin_fd,
                       int output_fd, const char *cwd) {
  return spawn_stdio_in(pid, path, argv, envp, stdin_fd, output_fd, output_fd, NULL, cwd);
}
