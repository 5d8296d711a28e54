// CLinux, networking part (used by LiftoffNet): GNU-only calls the Swift Glibc module does not export.
#ifndef LIFTOFF_CLINUX_NET_H
#define LIFTOFF_CLINUX_NET_H

/// unshare(CLONE_NEWNET) for the calling thread; 0 or -1 with errno.
int liftoff_net_unshare(void);
/// pipe2(fds, O_CLOEXEC) (also used by LiftoffOS).
int liftoff_pipe_cloexec(int fds[2]);
/// statfs(path).f_type, or -1 with errno.
long liftoff_net_fs_type(const char *path);
/// A TCP/IPv4 socket (SOCK_CLOEXEC) that belongs to the network namespace bound at `netns_path`:
/// created on a throwaway pthread that joins the namespace, so no other thread changes namespace.
/// Connect it from any thread. The fd, or -errno.
int liftoff_socket_in_netns(const char *netns_path);

#endif
