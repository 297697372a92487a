/*
 * Latency writer for bench/write-path.ts.
 *
 *   paced-writer PATH RATE SECONDS LINE_BYTES
 *
 * Writes RATE lines per second for SECONDS, one write() per line, each line starting with its
 * sequence number, the CLOCK_REALTIME ns it was due by the schedule and the CLOCK_REALTIME ns just
 * before its write():  "<seq> <due ns> <sent ns> filler\n". The due time lets a reader count the
 * time a line waited behind a slow write() (coordinated omission) as well.
 * Pacing is by absolute deadlines, so a slow write() delays later lines only until it catches up.
 * Prints one JSON object with the write() syscall latency percentiles seen by the writer and the
 * time close() took.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: paced-writer PATH RATE SECONDS LINE_BYTES\n");
    return 2;
  }
  const char *path = argv[1];
  double rate = strtod(argv[2], NULL), seconds = strtod(argv[3], NULL);
  size_t line_bytes = strtoul(argv[4], NULL, 10);
  long long lines = (long long)(rate * seconds);
  if (rate <= 0 || lines <= 0 || line_bytes < 64) {
    fprintf(stderr, "paced-writer: RATE and SECONDS must be > 0 and LINE_BYTES >= 64\n");
    return 2;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) {
    fprintf(stderr, "paced-writer: open %s: %s\n", path, strerror(errno));
    return 1;
  }
  char *line = malloc(line_bytes);
  long long *lat = malloc(sizeof(long long) * (size_t)lines);
  if (!line || !lat) return 1;
  long long start = now_ns(), late = 0;
  double period = 1e9 / rate;
  for (long long i = 0; i < lines; i++) {
    long long due = start + (long long)(i * period);
    long long t = now_ns();
    if (due - t > 1000000000LL) {
      /* The system clock was stepped back: keep the pace from here rather than sleep out the step
         (the benchmark reports the run as INVALID). */
      start -= due - t;
      due = t;
    }
    if (t < due) {
      struct timespec ts = {due / 1000000000LL, due % 1000000000LL};
      clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
    } else if (t - due > 1000000) {
      late++; /* more than 1 ms behind schedule */
    }
    long long sent = now_ns();
    int k = snprintf(line, line_bytes, "%lld %lld %lld ", i, due, sent);
    memset(line + k, 'x', line_bytes - 1 - (size_t)k);
    line[line_bytes - 1] = '\n';
    if (write(fd, line, line_bytes) != (ssize_t)line_bytes) {
      fprintf(stderr, "paced-writer: write: %s\n", strerror(errno));
      return 1;
    }
    lat[i] = now_ns() - sent;
  }
  long long loop_end = now_ns();
  if (close(fd) != 0) {
    fprintf(stderr, "paced-writer: close: %s\n", strerror(errno));
    return 1;
  }
  long long close_end = now_ns();
  qsort(lat, (size_t)lines, sizeof(long long), cmp_ll);
  printf("{\"lines\":%lld,\"startNs\":%lld,\"loopEndNs\":%lld,\"closeEndNs\":%lld,\"lateLines\":%lld,"
         "\"writeP50Ns\":%lld,\"writeP99Ns\":%lld,\"writeMaxNs\":%lld}\n",
         lines, start, loop_end, close_end, late, lat[lines / 2], lat[(lines * 99) / 100], lat[lines - 1]);
  return 0;
}
