/*
 * Throughput writer for bench/write-path.ts.
 *
 *   line-writer MODE PATH LINES LINE_BYTES START_AT_NS
 *
 * MODE: "line"  one write() per line
 *       "stdio" fwrite() of each line to a FILE* with glibc's default buffering, then fclose()
 *       "chunk" write() calls of 64 KiB holding consecutive lines (lines straddle calls)
 * Every line is LINE_BYTES long including its '\n'. START_AT_NS (CLOCK_REALTIME, 0 = now) lets
 * parallel writers start together. Prints one JSON object: CLOCK_REALTIME ns at start, after the
 * write loop and after close() (which waits for durability on logFS), st_blksize of the open file,
 * the stdio buffer glibc chose, the number of write calls and this process's CPU time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_START_WAIT_NS 10000000000LL

#define CHUNK_BYTES (64 * 1024)

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "line-writer: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fill_line(char *p, size_t len, unsigned long long n) {
  /* A visible counter then filler: every line differs a little, like real logs. */
  int k = snprintf(p, len, "line %012llu ", n);
  for (size_t i = (size_t)k; i + 1 < len; i++) p[i] = (char)('a' + (i % 26));
  p[len - 1] = '\n';
}

static void write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    len -= (size_t)w;
  }
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: line-writer line|stdio|chunk PATH LINES LINE_BYTES START_AT_NS\n");
    return 2;
  }
  const char *mode = argv[1], *path = argv[2];
  unsigned long long lines = strtoull(argv[3], NULL, 10);
  size_t line_bytes = strtoul(argv[4], NULL, 10);
  long long start_at = strtoll(argv[5], NULL, 10);
  if (line_bytes < 24 || lines == 0) {
    fprintf(stderr, "line-writer: LINES must be > 0 and LINE_BYTES >= 24\n");
    return 2;
  }

  /* One pattern long enough for a chunk starting at any line offset. */
  size_t pattern_lines = CHUNK_BYTES / line_bytes + 2;
  char *pattern = malloc(pattern_lines * line_bytes);
  if (!pattern) die("malloc");
  for (size_t i = 0; i < pattern_lines; i++) fill_line(pattern + i * line_bytes, line_bytes, i);
  char *line = malloc(line_bytes + 1);
  if (!line) die("malloc");

  long long blksize = -1, stdio_buf = -1, calls = 0;
  int fd = -1;
  FILE *fp = NULL;
  if (strcmp(mode, "stdio") == 0) {
    fp = fopen(path, "a");
    if (!fp) die("fopen");
  } else {
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) die("open");
  }
  struct stat st;
  if (fstat(fp ? fileno(fp) : fd, &st) == 0) blksize = (long long)st.st_blksize;

  /* A start more than 10 s away: the system clock was stepped back after the benchmark chose it
     (a VM's time sync steps it by seconds to an hour). Start now rather than sleep that long; the
     benchmark reports the run as INVALID. */
  if (start_at > 0 && start_at - now_ns() > MAX_START_WAIT_NS) start_at = 0;
  while (start_at > 0 && now_ns() < start_at) {
    struct timespec ts = {start_at / 1000000000LL, start_at % 1000000000LL};
    clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
  }

  long long t0 = now_ns();
  if (strcmp(mode, "line") == 0) {
    for (unsigned long long i = 0; i < lines; i++) {
      fill_line(line, line_bytes, i);
      write_all(fd, line, line_bytes);
    }
    calls = (long long)lines;
  } else if (strcmp(mode, "stdio") == 0) {
    for (unsigned long long i = 0; i < lines; i++) {
      fill_line(line, line_bytes, i);
      if (fwrite(line, 1, line_bytes, fp) != line_bytes) die("fwrite");
      if (i == 0) stdio_buf = (long long)__fbufsize(fp);
    }
    if (fflush(fp) != 0) die("fflush");
    calls = -1; /* counted by strace if needed; stdio decides */
  } else if (strcmp(mode, "chunk") == 0) {
    unsigned long long total = lines * line_bytes, done = 0;
    while (done < total) {
      size_t off = (size_t)(done % line_bytes);
      size_t n = total - done < CHUNK_BYTES ? (size_t)(total - done) : CHUNK_BYTES;
      write_all(fd, pattern + off, n);
      done += n;
      calls++;
    }
  } else {
    fprintf(stderr, "line-writer: unknown mode %s\n", mode);
    return 2;
  }
  long long t1 = now_ns();
  if (fp) {
    if (fclose(fp) != 0) die("fclose");
  } else if (close(fd) != 0) {
    die("close");
  }
  long long t2 = now_ns();

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  printf("{\"startNs\":%lld,\"loopEndNs\":%lld,\"closeEndNs\":%lld,\"blksize\":%lld,\"stdioBuf\":%lld,"
         "\"calls\":%lld,\"cpuS\":%.6f}\n",
         t0, t1, t2, blksize, stdio_buf, calls, cpu);
  return 0;
}
