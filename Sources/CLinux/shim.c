#include "CLinux.h"
#include <fcntl.h>

int liftoff_open_mode(const char *path, int flags, mode_t mode) {
  return open(path, flags, mode);
}
