// Paths inside a container's root, resolved inside it, and mounts attached by descriptor (openat2(2),
// open_tree(2), fsopen(2)/fsmount(2), move_mount(2), mount_setattr(2); Linux 5.12+, 5.6 for openat2).
// Every mount stage1 makes inside an app's rootfs goes through these: a path is never joined as a
// string onto the rootfs and handed to mount(2), so a symlink an image or a running container planted
// (`/cni -> /etc/cni/net.d`, `/dev/null -> /etc/shadow`) cannot send a mount, a mknod or a new file
// outside the rootfs (runc CVE-2021-30465, CVE-2025-31133 classes).
#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

int liftoff_openat2(int dirfd, const char *path, int flags, mode_t mode, int scope) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_NO_MAGICLINKS;
  if (scope == 1) how.resolve |= RESOLVE_IN_ROOT;
  if (scope == 2) how.resolve |= RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  if (scope == 3) how.resolve |= RESOLVE_BENEATH;
  // EAGAIN: a rename raced the lookup (RESOLVE_IN_ROOT checks for that); try again a few times.
  for (int i = 0; i < 16; i++) {
    int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) return fd;
  }
  errno = EAGAIN;
  return -1;
}

int liftoff_open_tree(int dirfd, const char *path, int recursive) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  if (path == NULL || *path == 0) {
    flags |= AT_EMPTY_PATH;
    path = "";
  }
  return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

int liftoff_move_mount(int tree_fd, int target_fd) {
  return (int)syscall(SYS_move_mount, tree_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

int liftoff_mount_setattr_fd(int fd, int recursive, uint64_t set, uint64_t clear, uint64_t propagation) {
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = set;
  attr.attr_clr = clear;
  attr.propagation = propagation;
  return (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr);
}

/// Appends what the filesystem context logged (fsopen's fd reads back "e …" / "w …" lines) to err.
static void liftoff_fs_log(int fsfd, char *err, size_t errlen) {
  if (err == NULL || errlen == 0) return;
  char line[512];
  for (int i = 0; i < 8; i++) {
    ssize_t n = read(fsfd, line, sizeof line - 1);
    if (n <= 0) break;
    line[n] = 0;
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = 0;
    size_t used = strlen(err);
    if (used + 3 >= errlen) break;
    snprintf(err + used, errlen - used, "%s%s", used ? "; " : "", line);
  }
}

int liftoff_fsmount_new(const char *fstype, const char *source, const char *options, uint64_t attrs, char *err, size_t errlen) {
  if (err != NULL && errlen > 0) err[0] = 0;
  int fsfd = (int)syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC);
  if (fsfd < 0) return -1;
  int e = 0;
  if (source != NULL && *source != 0 && syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, "source", source, 0) != 0) {
    e = errno;
    goto fail;
  }
  if (options != NULL && *options != 0) {
    char *copy = strdup(options);
    if (copy == NULL) {
      e = ENOMEM;
      goto fail;
    }
    for (char *save = NULL, *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(opt, '=');
      long rc;
      if (eq != NULL) {
        *eq = 0;
        rc = syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, opt, eq + 1, 0);
      } else {
        rc = syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_FLAG, opt, NULL, 0);
      }
      if (rc != 0) {
        e = errno;
        if (err != NULL && errlen > 0) snprintf(err, errlen, "option %s: ", opt);
        free(copy);
        goto fail;
      }
    }
    free(copy);
  }
  if (syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) {
    e = errno;
    goto fail;
  }
  int mfd = (int)syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, (unsigned)attrs);
  if (mfd < 0) {
    e = errno;
    goto fail;
  }
  close(fsfd);
  return mfd;
fail:
  liftoff_fs_log(fsfd, err, errlen);
  close(fsfd);
  errno = e;
  return -1;
}

int liftoff_fd_is_char_device(int fd, unsigned major_, unsigned minor_) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  return S_ISCHR(st.st_mode) && liftoff_dev_major(st.st_rdev) == major_ && liftoff_dev_minor(st.st_rdev) == minor_;
}

int liftoff_mknodat(int dirfd, const char *name, mode_t mode, unsigned major_, unsigned minor_) {
  return mknodat(dirfd, name, mode, makedev(major_, minor_));
}

int liftoff_close_except(const int *keep, int count) {
  // Every descriptor from 3 up, except those in keep: close_range over the gaps between them.
  int sorted[64];
  int n = 0;
  for (int i = 0; i < count && n < 64; i++) {
    if (keep[i] >= 3) sorted[n++] = keep[i];
  }
  for (int i = 1; i < n; i++) {
    for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
      int t = sorted[j];
      sorted[j] = sorted[j - 1];
      sorted[j - 1] = t;
    }
  }
  unsigned from = 3;
  for (int i = 0; i <= n; i++) {
    unsigned to = i < n ? (unsigned)sorted[i] : ~0U;
    if (to > from && syscall(SYS_close_range, from, to - 1, 0) != 0) {
      // Before close_range (5.9): one by one up to the limit.
      long max = sysconf(_SC_OPEN_MAX);
      for (long fd = from; fd < (long)to && fd < max; fd++) close((int)fd);
    }
    if (i < n) from = (unsigned)sorted[i] + 1;
  }
  return 0;
}

int liftoff_is_overlay_opaque(int fd) {
  char value = 0;
  return fgetxattr(fd, "trusted.overlay.opaque", &value, 1) == 1 && value == 'y';
}
