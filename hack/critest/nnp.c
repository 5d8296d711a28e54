// Stand-in for registry.k8s.io/e2e-test-images/nonewprivs (critest's NoNewPrivs specs): installed
// setuid root in the image, it prints the effective user ID it ran with — 0 when the setuid bit took
// effect, the caller's own when no_new_privs kept it from doing so.
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("Effective uid: %d\n", (int)geteuid());
  return 0;
}
