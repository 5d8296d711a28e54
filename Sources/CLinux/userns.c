// User namespaces and idmapped mounts (mount API of Linux 5.12+): safe to call from a multi-threaded
// process (liftoff-cri's start-up probe): the helper child only blocks in read(2) and exits.
#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/// The helper: holds the namespace until the parent closes its end of the pipe (EOF).
static int liftoff_userns_child(void *arg) {
  int *p = (int *)arg;
  close(p[1]);
  char b;
  while (read(p[0], &b, 1) < 0 && errno == EINTR) {}
  _exit(0);
}

static int liftoff_write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = strlen(text);
  ssize_t w = write(fd, text, n);
  int e = errno;
  close(fd);
  if (w != (ssize_t)n) {
    errno = w < 0 ? e : EIO;
    return -1;
  }
  return 0;
}

int liftoff_userns_create(const char *uid_map, const char *gid_map, int *step) {
  int p[2];
  *step = 0;
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  size_t size = 64 * 1024;
  char *stack = malloc(size);
  if (stack == NULL) {
    close(p[0]);
    close(p[1]);
    errno = ENOMEM;
    return -1;
  }
  pid_t child = clone(liftoff_userns_child, stack + size, CLONE_NEWUSER | SIGCHLD, p);
  if (child < 0) {
    int e = errno;
    free(stack);
    close(p[0]);
    close(p[1]);
    errno = e;
    return -1;
  }
  close(p[0]);
  char path[64];
  int result = -1;
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)child);
  *step = 1;
  if (liftoff_write_file(path, uid_map) != 0) goto out;
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)child);
  *step = 2;
  if (liftoff_write_file(path, gid_map) != 0) goto out;
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
  *step = 3;
  result = open(path, O_RDONLY | O_CLOEXEC);
out:;
  int e = errno;
  close(p[1]);
  while (waitpid(child, NULL, __WALL) < 0 && errno == EINTR) {}
  free(stack);
  errno = e;
  return result;
}

int liftoff_idmap_clone(const char *source, int userns_fd, int recursive, int *step) {
  *step = 0;
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
  if (tree < 0) return -1;
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (unsigned long long)userns_fd;
  *step = 1;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) != 0) {
    int e = errno;
    close(tree);
    errno = e;
    return -1;
  }
  return tree;
}

int liftoff_idmap_mount(const char *source, const char *target, int userns_fd, int recursive, int *step) {
  int tree = liftoff_idmap_clone(source, userns_fd, recursive, step);
  if (tree < 0) return -1;
  *step = 2;
  int rc = (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
  int e = errno;
  close(tree);
  errno = e;
  return rc;
}

int liftoff_idmap_probe(const char *dir, int userns_fd) {
  int step = 0;
  int tree = liftoff_idmap_clone(dir, userns_fd, 0, &step);
  if (tree < 0) return errno;
  close(tree);
  return 0;
}

int liftoff_clone_from_namespace(int mntns_fd, const char *source, int *step) {
  *step = 0;
  int own = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (own < 0) return -1;
  *step = 1;
  if (setns(mntns_fd, CLONE_NEWNS) != 0) {
    int e = errno;
    close(own);
    errno = e;
    return -1;
  }
  *step = 2;
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  int e = errno;
  // Back home whatever happened: failing that leaves us in the other namespace, which the caller
  // must treat as fatal (step 3).
  if (setns(own, CLONE_NEWNS) != 0) {
    e = errno;
    close(own);
    if (tree >= 0) close(tree);
    *step = 3;
    errno = e;
    return -1;
  }
  close(own);
  errno = e;
  return tree;
}
