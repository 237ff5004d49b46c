// stamp-exec CMD ARGS...: print "X <pid> <CLOCK_MONOTONIC ns>" on stdout, then exec CMD in this
// same process. Run as PID 1 of a namespace it marks the instant the supervisor is exec'd.
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) { fputs("usage: stamp-exec CMD [ARGS...]\n", stderr); return 2; }
  char buf[64];
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int n = snprintf(buf, sizeof buf, "X %d %lld\n", (int)getpid(), (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
  (void)!write(1, buf, n);
  execvp(argv[1], argv + 1);
  perror("stamp-exec: exec");
  return 127;
}
