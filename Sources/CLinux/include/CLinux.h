// CLinux — C shims for what Swift cannot do safely: spawning from a multi-threaded process,
// namespace entry before the Swift runtime starts, variadic syscalls.
#ifndef LIFTOFF_CLINUX_H
#define LIFTOFF_CLINUX_H
#include <sys/types.h>

/// The ioctl/fcntl-style variadic calls Swift cannot import.
int liftoff_open_mode(const char *path, int flags, mode_t mode);

#include "CLinuxNet.h"

#endif
