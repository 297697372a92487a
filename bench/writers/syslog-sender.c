/*
 * Load generator (and discard sink) for bench/syslog.ts: RFC 5424 messages of a fixed size over
 * UDP, a unix datagram socket or TCP, as fast as the socket takes them or at a given rate.
 *
 *   syslog-sender send MODE ADDRESS COUNT MSG_BYTES START_AT_NS RATE FIRST_SEQ
 *   syslog-sender sink MODE ADDRESS FRAME_BYTES EXPECT IDLE_MS
 *
 * MODE: "udp" (RFC 5426: one message per datagram), "unix" (datagram, like syslog(3)),
 *       "tcp-octet" (RFC 6587 section 3.4.1 octet counting: "LEN SP MSG"),
 *       "tcp-lf" (RFC 6587 section 3.4.2 non-transparent framing: MSG LF).
 * ADDRESS: HOST:PORT (IPv4) or a socket path. MSG_BYTES is the size of MSG itself, framing aside.
 * START_AT_NS (CLOCK_REALTIME, 0 = now) lets parallel senders start together. RATE is messages per
 * second (0 = unpaced). Every message carries its sequence number (FIRST_SEQ, FIRST_SEQ+1, ...) in
 * its structured data, so a reader can tell which ones are missing.
 *
 * send prints {"sent","startNs","endNs","cpuS","errors"}: datagrams the kernel refused (ENOBUFS,
 * ECONNREFUSED when nobody listens) are counted, not retried: that is what a syslog client does.
 * sink receives and discards until EXPECT messages arrived or nothing came for IDLE_MS, and prints
 * {"received","bytes","firstNs","lastNs"}: it measures the sender alone. Frames are all the same size,
 * so TCP messages are counted as bytes / FRAME_BYTES.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Datagrams per sendmmsg(): amortises the syscall without changing what goes on the wire. */
#define BATCH 64
/* TCP: bytes of consecutive frames per write(); a client with a backlog writes like this too. */
#define TCP_CHUNK (256 * 1024)

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "syslog-sender: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void sleep_until(long long wall_ns) {
  long long d = wall_ns - now_ns();
  /* More than 10 s: the system clock was stepped back since the time was chosen; go on now. */
  if (d <= 0 || d > 10000000000LL) return;
  struct timespec ts = {(time_t)(d / 1000000000LL), (long)(d % 1000000000LL)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* An address: IPv4 HOST:PORT or a unix socket path (anything containing '/'). */
static socklen_t parse_address(const char *text, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (strchr(text, '/')) {
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    un->sun_family = AF_UNIX;
    if (strlen(text) >= sizeof un->sun_path) { errno = ENAMETOOLONG; die(text); }
    strcpy(un->sun_path, text);
    return sizeof *un;
  }
  const char *colon = strrchr(text, ':');
  if (!colon) { errno = EINVAL; die(text); }
  char host[64];
  size_t n = (size_t)(colon - text);
  if (n >= sizeof host) { errno = EINVAL; die(text); }
  memcpy(host, text, n);
  host[n] = 0;
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  in->sin_family = AF_INET;
  in->sin_port = htons((unsigned short)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &in->sin_addr) != 1) { errno = EINVAL; die(host); }
  return sizeof *in;
}

/* Severities rotate over err, warning, notice, info (facility local0) so records get classes. */
static const int PRIS[] = {131, 132, 133, 134};

/* Writes message `seq` (exactly msg_bytes) at p: header, SD with the sequence number, filler. */
static void fill_message(char *p, size_t msg_bytes, const char *stamp, unsigned long long seq) {
  int k = snprintf(p, msg_bytes + 1, "<%d>1 %s bench-host bench-app 4242 BENCH [bench@32473 seq=\"%012llu\"] ",
                   PRIS[seq % 4], stamp, seq);
  if (k < 0 || (size_t)k > msg_bytes) { fprintf(stderr, "syslog-sender: MSG_BYTES %zu is below the header\n", msg_bytes); exit(2); }
  for (size_t i = (size_t)k; i < msg_bytes; i++) p[i] = (char)('a' + (i % 26));
}

static int do_send(const char *mode, const char *address, unsigned long long count, size_t msg_bytes,
                   long long start_at, double rate, unsigned long long first_seq) {
  int udp = !strcmp(mode, "udp"), unix_dgram = !strcmp(mode, "unix");
  int octet = !strcmp(mode, "tcp-octet"), lf = !strcmp(mode, "tcp-lf");
  if (!udp && !unix_dgram && !octet && !lf) { fprintf(stderr, "syslog-sender: unknown MODE %s\n", mode); return 2; }
  struct sockaddr_storage ss;
  socklen_t sl = parse_address(address, &ss);
  int fd = socket(ss.ss_family, udp || unix_dgram ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (octet || lf) {
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  } else {
    int sndbuf = 4 * 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }

  /* The timestamp is taken once: formatting it per message would measure strftime, not sockets. */
  char stamp[64];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);

  char prefix[24] = "";
  size_t prefix_len = 0, frame = msg_bytes;
  if (octet) { prefix_len = (size_t)snprintf(prefix, sizeof prefix, "%zu ", msg_bytes); frame += prefix_len; }
  if (lf) frame += 1;
  size_t per_chunk = (octet || lf) ? (TCP_CHUNK / frame > 0 ? TCP_CHUNK / frame : 1) : BATCH;
  char *buf = malloc(per_chunk * frame);
  if (!buf) die("malloc");
  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  memset(msgs, 0, sizeof msgs);

  sleep_until(start_at);
  long long start = now_ns();
  unsigned long long sent = 0, errors = 0;
  while (sent + errors < count) {
    unsigned long long done = sent + errors;
    if (rate > 0) sleep_until(start + (long long)((double)done * 1e9 / rate));
    size_t n = per_chunk;
    if (count - done < n) n = (size_t)(count - done);
    /* Paced: small steps so the rate holds within a millisecond or so. */
    if (rate > 0 && n > 16) n = 16;
    for (size_t i = 0; i < n; i++) {
      char *f = buf + i * frame;
      memcpy(f, prefix, prefix_len);
      fill_message(f + prefix_len, msg_bytes, stamp, first_seq + done + i);
      if (lf) f[frame - 1] = '\n';
    }
    if (octet || lf) {
      const char *p = buf;
      size_t left = n * frame;
      while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) { if (errno == EINTR) continue; die("write"); }
        p += w;
        left -= (size_t)w;
      }
      sent += n;
    } else {
      for (size_t i = 0; i < n; i++) {
        iovs[i].iov_base = buf + i * frame;
        iovs[i].iov_len = frame;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &ss;
        msgs[i].msg_hdr.msg_namelen = sl;
      }
      size_t off = 0;
      while (off < n) {
        int r = sendmmsg(fd, msgs + off, (unsigned)(n - off), 0);
        if (r < 0) {
          if (errno == EINTR) continue;
          /* This datagram is lost at the sender; count it and go on, as syslog(3) would. */
          if (errno == ENOBUFS || errno == ECONNREFUSED || errno == EAGAIN || errno == ENOENT) { errors++; off++; continue; }
          die("sendmmsg");
        }
        sent += (unsigned)r;
        off += (unsigned)r;
      }
    }
  }
  long long end = now_ns();
  close(fd);
  printf("{\"sent\":%llu,\"startNs\":%lld,\"endNs\":%lld,\"cpuS\":%.3f,\"errors\":%llu}\n", sent, start, end, cpu_seconds(), errors);
  return 0;
}

static int do_sink(const char *mode, const char *address, size_t frame_bytes, unsigned long long expect, int idle_ms) {
  int stream = !strcmp(mode, "tcp-octet") || !strcmp(mode, "tcp-lf");
  struct sockaddr_storage ss;
  socklen_t sl = parse_address(address, &ss);
  if (ss.ss_family == AF_UNIX) unlink(address);
  int lfd = socket(ss.ss_family, stream ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (lfd < 0) die("socket");
  int one = 1, rcvbuf = 8 * 1024 * 1024;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind(lfd, (struct sockaddr *)&ss, sl) < 0) die("bind");
  if (stream && listen(lfd, 64) < 0) die("listen");
  /* Tells the parent it may start the sender. */
  printf("ready\n");
  fflush(stdout);
  int fd = lfd;
  if (stream) {
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) die("accept");
  }
  static char buf[1 << 20];
  unsigned long long received = 0, bytes = 0;
  long long first = 0, last = 0;
  struct pollfd pfd = {fd, POLLIN, 0};
  while (received < expect) {
    int r = poll(&pfd, 1, idle_ms);
    if (r == 0) break;
    if (r < 0) { if (errno == EINTR) continue; die("poll"); }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) { if (errno == EINTR) continue; die("recv"); }
    if (n == 0) break;
    last = now_ns();
    if (!first) first = last;
    bytes += (unsigned long long)n;
    received = stream ? bytes / frame_bytes : received + 1;
  }
  if (ss.ss_family == AF_UNIX) unlink(address);
  printf("{\"received\":%llu,\"bytes\":%llu,\"firstNs\":%lld,\"lastNs\":%lld}\n", received, bytes, first, last);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 9 && !strcmp(argv[1], "send")) {
    return do_send(argv[2], argv[3], strtoull(argv[4], NULL, 10), strtoul(argv[5], NULL, 10), strtoll(argv[6], NULL, 10),
                   strtod(argv[7], NULL), strtoull(argv[8], NULL, 10));
  }
  if (argc == 7 && !strcmp(argv[1], "sink")) {
    return do_sink(argv[2], argv[3], strtoul(argv[4], NULL, 10), strtoull(argv[5], NULL, 10), atoi(argv[6]));
  }
  fprintf(stderr,
          "usage: syslog-sender send udp|unix|tcp-octet|tcp-lf ADDRESS COUNT MSG_BYTES START_AT_NS RATE FIRST_SEQ\n"
          "       syslog-sender sink udp|unix|tcp-octet|tcp-lf ADDRESS FRAME_BYTES EXPECT IDLE_MS\n");
  return 2;
}
