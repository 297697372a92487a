/*
 * unix-dgram-relay: binds a unix datagram socket (Node has none) and writes every datagram it
 * receives to stdout as `u32 BE header | bytes`, where the header's low 31 bits are the length
 * written and the top bit says the datagram was longer than the buffer and was cut. logfsd
 * (inputs/syslog/unix-dgram.ts) compiles this file with `cc -O2` on first use and reads stdout.
 *
 *   unix-dgram-relay bind PATH MODE   bind PATH (which must not exist), chmod MODE (octal), relay
 *   unix-dgram-relay probe PATH       exit 0 when a process receives on PATH, 1 when nobody does
 *
 * It exits when stdout closes (logfsd went away) or its parent dies, and on SIGTERM after relaying
 * the datagrams already queued; it does not remove PATH: logfsd owns the path's life (it may have to put a saved socket back).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Above the largest datagram Linux lets a sender queue on a unix socket by default (~208 KiB). */
#define MAX_DGRAM (256 * 1024)
#define OUT_BUF (1024 * 1024)

static unsigned char out[OUT_BUF];
static size_t out_len;
static volatile sig_atomic_t stopping;

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static int fill_addr(struct sockaddr_un *addr, const char *path) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr->sun_path) {
    fprintf(stderr, "unix-dgram-relay: path %s is longer than %zu bytes\n", path, sizeof addr->sun_path - 1);
    return -1;
  }
  strcpy(addr->sun_path, path);
  return 0;
}

static void flush_out(void) {
  size_t off = 0;
  while (off < out_len) {
    ssize_t n = write(STDOUT_FILENO, out + off, out_len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(0); /* the reader is gone */
    }
    off += (size_t)n;
  }
  out_len = 0;
}

static int probe(const char *path) {
  struct sockaddr_un addr;
  if (fill_addr(&addr, path) < 0) return 2;
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0) return 2;
  /* connect() on a datagram socket fails with ECONNREFUSED when nobody has the path bound. */
  int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  close(fd);
  return rc == 0 ? 0 : 1;
}

static int relay(const char *path, const char *mode_text) {
  struct sockaddr_un addr;
  if (fill_addr(&addr, path) < 0) return 2;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fprintf(stderr, "unix-dgram-relay: socket: %s\n", strerror(errno));
    return 2;
  }
  int rcvbuf = 4 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf); /* best effort; capped by rmem_max */
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    fprintf(stderr, "unix-dgram-relay: bind %s: %s\n", path, strerror(errno));
    return 3;
  }
  if (chmod(path, (mode_t)strtol(mode_text, NULL, 8)) < 0) {
    fprintf(stderr, "unix-dgram-relay: chmod %s: %s\n", path, strerror(errno));
    return 3;
  }
  /* Tell logfsd the socket is bound: a header of length 0 (empty datagrams are never relayed). */
  memset(out, 0, 4);
  out_len = 4;
  flush_out();

  static unsigned char buf[MAX_DGRAM];
  for (;;) {
    /* Drain what is queued without blocking, then flush once: one write() per burst, not per datagram. */
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (out_len > 0) flush_out();
      /* On SIGTERM, what was queued has been relayed: stop (the sender saw it accepted). */
      if (stopping) return 0;
      n = recv(fd, buf, sizeof buf, MSG_TRUNC);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "unix-dgram-relay: recv: %s\n", strerror(errno));
      return 4;
    }
    if (n == 0) continue; /* an empty datagram carries no message */
    uint32_t len = (uint32_t)n;
    uint32_t header = len;
    if (len > sizeof buf) {
      len = sizeof buf;
      header = len | 0x80000000u;
    }
    if (out_len + 4 + len > OUT_BUF) flush_out();
    out[out_len++] = (unsigned char)(header >> 24);
    out[out_len++] = (unsigned char)(header >> 16);
    out[out_len++] = (unsigned char)(header >> 8);
    out[out_len++] = (unsigned char)header;
    memcpy(out + out_len, buf, len);
    out_len += len;
  }
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGPIPE, SIG_IGN);
  /* No SA_RESTART: a blocking recv() returns EINTR, and the loop drains the queue before exiting. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  /* Ctrl-C reaches the whole process group: logfsd decides when the relay stops, not the terminal. */
  signal(SIGINT, SIG_IGN);
  if (argc == 3 && strcmp(argv[1], "probe") == 0) return probe(argv[2]);
  if (argc == 4 && strcmp(argv[1], "bind") == 0) return relay(argv[2], argv[3]);
  fprintf(stderr, "usage: unix-dgram-relay bind PATH MODE | probe PATH\n");
  return 2;
}
