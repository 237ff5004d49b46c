// zwatch PID1 FIFO N TIMEOUT_MS [trickle]: release the N orphans of a running `app orphans N FIFO`
// (one byte to FIFO) and watch PID1's children (host pids) until all N are reaped. With
// `trickle` (for `app trickle N FIFO MS`): release the maker, and watch until it and every orphan
// it made are reaped (PID1 has one child fewer than before and no zombie); few children exist
// at a time then, so the zombies are counted at every round (every ~200 µs).
// Prints: "<ns from release to last reaped> <peak zombies> <PID1 cpu ns> <zombies left> <timed out 0|1>".
// PID1's CPU time is the sum of /proc/PID1/task/*/schedstat (ns on CPU, all threads).
// The end is detected by the cheap test (PID1 has N fewer children: every orphan exits at once,
// so an unreaped one is a zombie or about to be); the zombie count comes from scanning the
// children's /proc/PID/stat, which costs O(N), so it runs at most every ~2 ms.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char *buf;
static size_t cap = 1 << 20;
static int *kids;
static int nkids;
static int pid1;

static size_t slurp(const char *path, char *out, size_t max) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  size_t len = 0;
  ssize_t r;
  while (len < max - 1 && (r = read(fd, out + len, max - 1 - len)) > 0) len += r;
  close(fd);
  out[len] = 0;
  return len;
}

// Children of every thread of PID1 (orphans go to the init thread, but be thorough).
static int children(void) {
  char path[320];
  nkids = 0;
  snprintf(path, sizeof path, "/proc/%d/task", pid1);
  DIR *d = opendir(path);
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%d/task/%s/children", pid1, e->d_name);
    slurp(path, buf, cap);
    for (char *p = buf; *p;) {
      while (*p == ' ') p++;
      if (!*p) break;
      int k = (int)strtol(p, &p, 10);
      if (nkids < 65536) kids[nkids++] = k;
    }
  }
  closedir(d);
  return nkids;
}

static int zombies(void) {
  char path[64], st[512];
  int z = 0;
  for (int i = 0; i < nkids; i++) {
    snprintf(path, sizeof path, "/proc/%d/stat", kids[i]);
    if (!slurp(path, st, sizeof st)) continue;
    char *close = strrchr(st, ')');
    if (close && close[1] == ' ' && close[2] == 'Z') z++;
  }
  return z;
}

static long long cpu(void) {
  char path[320], st[256];
  long long sum = 0;
  snprintf(path, sizeof path, "/proc/%d/task", pid1);
  DIR *d = opendir(path);
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", pid1, e->d_name);
    if (slurp(path, st, sizeof st)) sum += atoll(st);
  }
  closedir(d);
  return sum;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) { fputs("usage: zwatch PID1 FIFO N TIMEOUT_MS [trickle]\n", stderr); return 2; }
  int trickle = argc == 6 && strcmp(argv[5], "trickle") == 0;
  pid1 = atoi(argv[1]);
  int n = atoi(argv[3]);
  long long timeout = atoll(argv[4]) * 1000000LL;
  buf = malloc(cap);
  kids = malloc(sizeof(int) * 65536);
  int base = children();
  int gone = trickle ? 1 : n; // trickling, only the maker is there before the release
  if (base < gone) { fprintf(stderr, "zwatch: PID1 has %d children, expected at least %d\n", base, gone); return 1; }
  int target = base - gone;
  int fifo = open(argv[2], O_WRONLY | O_NONBLOCK);
  if (fifo < 0) { perror("zwatch: open fifo"); return 1; }
  long long c0 = cpu();
  long long t0 = ns();
  if (write(fifo, "x", 1) != 1) { perror("zwatch: write fifo"); return 1; }
  int peak = 0, timedout = 0;
  long long end = 0, nextScan = 0;
  struct timespec nap = {0, 200000};
  for (;;) {
    int c = children();
    long long t = ns();
    if (trickle) {
      int z = zombies();
      if (z > peak) peak = z;
      if (c >= 0 && c <= target && z == 0) { end = t; break; }
      if (t - t0 > timeout) { end = t; timedout = 1; break; }
      nanosleep(&nap, NULL);
      continue;
    }
    if (c >= 0 && c <= target) { end = t; break; }
    if (t - t0 > timeout) { end = t; timedout = 1; break; }
    if (t >= nextScan) {
      int z = zombies();
      if (z > peak) peak = z;
      long long after = ns();
      nextScan = after + (after - t > 2000000 ? after - t : 2000000);
    }
    nanosleep(&nap, NULL);
  }
  long long c1 = cpu();
  children();
  int left = zombies();
  if (left > peak) peak = left;
  printf("%lld %d %lld %d %d\n", end - t0, peak, c1 - c0, left, timedout);
  return 0;
}
