// libarchive for layer unpacking and archive import/export, plus the system headers the unpacker
// needs that Swift's Glibc module leaves out (extended attributes).
#include <archive.h>
#include <archive_entry.h>
#include <sys/xattr.h>

// glibc declares these only under _GNU_SOURCE, which Swift's Glibc module is not built with.
int pipe2(int pipefd[2], int flags);
int syncfs(int fd);
#define LIFTOFF_F_SETPIPE_SZ 1031
