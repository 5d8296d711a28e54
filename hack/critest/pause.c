// Stand-in for registry.k8s.io/pause (critest pulls it under two registry names and runs it with its
// default entrypoint): waits for a signal and exits 0 on SIGTERM or SIGINT, as the real pause does.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void done(int sig) {
  (void)sig;
  _exit(0);
}

int main(void) {
  signal(SIGTERM, done);
  signal(SIGINT, done);
  for (;;) pause();
}
