// The benchmark's app. Its first instruction reads CLOCK_MONOTONIC, so every time it reports
// excludes its own runtime start-up. It reports on stdout, one line per write(2) (atomic on a
// pipe, and the supervisors pass stdout through):
//   S <pid> <ns>   started (the stamp taken at the top of main)
//   R <pid> <ns>   its SIGTERM handler is installed and it is idle
//   T <pid> <ns>   its SIGTERM handler ran (then it exits 0: "exits promptly on SIGTERM")
//   G <pid> <ns>   (orphans mode) the orphans were released
// Usage: app sleep
//        app orphans N FIFO   leave N orphans to PID 1, blocked on one pipe; one byte written
//                             to FIFO closes the pipe, and all of them exit at once.
//        app trickle N FIFO MS  leave one "maker" to PID 1; one byte written to FIFO releases
//                             it, and it makes N orphans of PID 1 one by one, evenly over MS
//                             milliseconds (as fast as fork allows if that is slower), each of
//                             which exits at once; then it exits itself.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void report(char tag, long long t) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "%c %d %lld\n", tag, (int)getpid(), t);
  (void)!write(1, buf, n);
}

static void on_term(int sig) {
  (void)sig;
  report('T', ns());
  _exit(0);
}

int main(int argc, char **argv) {
  long long start = ns();
  report('S', start);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);

  if (argc >= 5 && strcmp(argv[1], "trickle") == 0) {
    int n = atoi(argv[2]);
    long long spread = atoll(argv[4]) * 1000000LL;
    int p[2];
    if (pipe(p) != 0) { perror("app: pipe"); return 1; }
    pid_t middle = fork();
    if (middle == 0) {
      if (fork() == 0) {
        // The maker: an orphan of PID 1 once `middle` is gone.
        char ch;
        close(p[1]);
        while (read(p[0], &ch, 1) < 0 && errno == EINTR) {}
        long long t0 = ns();
        for (int i = 0; i < n; i++) {
          long long wait = t0 + spread * i / n - ns();
          if (wait > 0) {
            struct timespec d = {wait / 1000000000LL, wait % 1000000000LL};
            nanosleep(&d, NULL);
          }
          // clone(CLONE_PARENT): the orphan is born a child of the maker's parent, PID 1, which
          // did not spawn it: what a double fork leaves, for one fork instead of two (a double
          // fork and its wait pace 10,000 at ~3-5 s on 2 busy cores).
          long c = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
          if (c == 0) syscall(SYS_exit, 0);
          if (c < 0) { perror("app: clone"); _exit(1); }
        }
        _exit(0);
      }
      _exit(0);
    }
    int st;
    waitpid(middle, &st, 0);
    close(p[0]);
    int fifo = open(argv[3], O_RDWR); // O_RDWR: does not block waiting for a writer
    if (fifo < 0) { perror("app: open fifo"); return 1; }
    report('R', ns());
    char ch;
    while (read(fifo, &ch, 1) < 0 && errno == EINTR) {}
    close(p[1]); // the maker's pipe: EOF releases it
    report('G', ns());
  } else if (argc >= 4 && strcmp(argv[1], "orphans") == 0) {
    int n = atoi(argv[2]);
    int p[2];
    if (pipe(p) != 0) { perror("app: pipe"); return 1; }
    pid_t middle = fork();
    if (middle == 0) {
      for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c == 0) {
          char ch;
          close(p[1]);
          while (read(p[0], &ch, 1) < 0 && errno == EINTR) {}
          _exit(0);
        }
        if (c < 0) { perror("app: fork"); _exit(1); }
      }
      _exit(0); // the orphans' parent leaves: they are re-parented to PID 1
    }
    int st;
    waitpid(middle, &st, 0);
    close(p[0]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "app: could not fork %d orphans\n", n); return 1; }
    int fifo = open(argv[3], O_RDWR); // O_RDWR: does not block waiting for a writer
    if (fifo < 0) { perror("app: open fifo"); return 1; }
    report('R', ns());
    char ch;
    while (read(fifo, &ch, 1) < 0 && errno == EINTR) {}
    close(p[1]); // the last writer: every orphan's read returns EOF now
    report('G', ns());
  } else {
    report('R', ns());
  }
  for (;;) pause();
}
