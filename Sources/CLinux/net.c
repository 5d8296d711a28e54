// CLinux, networking part: thin wrappers over GNU extensions (see include/CLinuxNet.h).
#define _GNU_SOURCE
#include "CLinuxNet.h"
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

int liftoff_net_unshare(void) { return unshare(CLONE_NEWNET); }

int liftoff_net_memfd_cloexec(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int liftoff_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int liftoff_net_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
  return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

long liftoff_net_fs_type(const char *path) {
  struct statfs fs;
  if (statfs(path, &fs) != 0) return -1;
  return (long)fs.f_type;
}
