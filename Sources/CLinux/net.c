// CLinux, networking part: thin wrappers over GNU extensions (see include/CLinuxNet.h).
#define _GNU_SOURCE
#include "CLinuxNet.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

int liftoff_net_unshare(void) { return unshare(CLONE_NEWNET); }

int liftoff_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

long liftoff_net_fs_type(const char *path) {
  struct statfs fs;
  if (statfs(path, &fs) != 0) return -1;
  return (long)fs.f_type;
}

struct liftoff_netns_socket_job {
  int nsfd;
  int fd;
  int err;
};

static void *liftoff_netns_socket_thread(void *arg) {
  struct liftoff_netns_socket_job *job = arg;
  // Only this throwaway thread changes namespace; it ends right after, so nothing else runs in it.
  if (setns(job->nsfd, CLONE_NEWNET) != 0) {
    job->err = errno;
    return NULL;
  }
  job->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (job->fd < 0) job->err = errno;
  return NULL;
}

int liftoff_socket_in_netns(const char *netns_path) {
  int nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return -errno;
  struct liftoff_netns_socket_job job = {nsfd, -1, 0};
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, liftoff_netns_socket_thread, &job);
  if (rc != 0) {
    close(nsfd);
    return -rc;
  }
  pthread_join(thread, NULL);
  close(nsfd);
  return job.fd >= 0 ? job.fd : -job.err;
}
