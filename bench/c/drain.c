/* The log consumer of the output bench (bench/output.mjs): reads stdin to its end in 128 KiB
 * reads, and prints the bytes read and the nanoseconds from the first byte to the end, as JSON.
 * Timing from the first byte leaves out how long the writer (or pidone) took to start. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void) {
  static char buf[128 * 1024];
  long long first = 0, total = 0;
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0) return 1;
    if (n == 0) break;
    if (total == 0) first = now_ns();
    total += n;
  }
  printf("{\"bytes\":%lld,\"ns\":%lld}\n", total, total ? now_ns() - first : 0);
  return 0;
}
