/*
 * RAAS bench load generator for the line protocol: epoll, non-blocking connect, 1..T threads.
 * Runs in: its own process, started by bench/run.ts (compiled by bench/loadgen.ts with cc -O2).
 *
 * Keeps C connections in flight for D seconds against host:port. Each connection: connect, send
 * the payload + "\n", read until EOF, check the reply equals the reversed payload + "\n", close;
 * then a new one starts in its slot. Latency = connect start -> EOF. Prints one JSON line:
 * {conns, errors, errorsByKind:{...}, seconds, connsPerSec, p50us, p99us, maxus, ..., startWallMs}.
 *
 * Usage: loadgen -h 127.0.0.1 -p PORT [-c 50] [-d 10] [-m "hello world"] [-t 5000 (timeout ms)]
 *                [-e EXPECTED (reply without "\n"; default: the payload byte-reversed)]
 *                [-T 1 (threads: each runs its own epoll loop over its share of the C connections)]
 *                [-i MS (interval lines)] [-r FILE (raw per-connection records)]
 *
 * SIGTERM or SIGINT ends the run early (as if -d had elapsed): the summary is still printed.
 *
 * -i MS: also prints, as it goes, {"type":"start","startWallMs":W,...} then one line per interval
 *   {"type":"interval","i","t0Ms","t1Ms","conns","errors","errorsByKind","p50us","p99us","maxus"}
 *   where t0Ms/t1Ms are offsets from the start (CLOCK_MONOTONIC; wall time = startWallMs + offset,
 *   startWallMs being CLOCK_REALTIME in ms, the clock of JavaScript's Date.now()). A connection
 *   counts in the interval in which it finished (success or error). The summary line comes last.
 * -r FILE: at the end, writes one 16-byte record per finished connection (little-endian uint32s):
 *   start offset us, end offset us, status (0 ok, 1 + index in errorsByKind's order), client port
 *   (errors only, else 0). Connections abandoned at the end are not written, as in the summary.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { E_REFUSED, E_RESET, E_WRONG, E_TIMEOUT, E_OTHER, E_COUNT };
static const char *kind_names[E_COUNT] = {"refused", "reset", "wrongReply", "timeout", "other"};

enum state { S_FREE, S_CONNECTING, S_READING };

#define RBUF 4096

struct conn {
  int fd;
  enum state st;
  uint64_t start_ns;
  size_t got;
  char buf[RBUF];
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Shared, read-only once the threads start. */
static struct sockaddr_in addr;
static char *msg;       /* payload + "\n" */
static size_t msg_len;
static char *expect;    /* reversed payload + "\n" */
static size_t expect_len;
static uint64_t t0, deadline, timeout_ns;
static int interval_on; /* -i given: workers also fill their interval bucket (under its mutex) */
static int raw_on;      /* -r given: workers keep one record per finished connection */
static volatile sig_atomic_t stop_flag; /* SIGTERM/SIGINT: end the run now */

static int stopping(uint64_t now) { return now >= deadline || stop_flag; }

/* What a worker collected since the reporter last took it (-i). */
struct bucket {
  uint64_t n_ok, n_err[E_COUNT];
  uint32_t *lat;
  size_t lat_len, lat_cap;
};

struct rec { uint32_t start_us, end_us, status, port; };

/* One per thread: its own epoll set, connections and counters; merged after join. */
struct worker {
  pthread_t tid;
  int ep;
  int nconns;
  struct conn *conns;
  uint64_t n_ok, n_err[E_COUNT];
  uint32_t *lat;   /* latencies in microseconds, one per success */
  size_t lat_len, lat_cap;
  int in_flight;
  pthread_mutex_t mu; /* guards cur */
  struct bucket cur;
  struct rec *recs;
  size_t recs_len, recs_cap;
};

static void push_u32(uint32_t **arr, size_t *len, size_t *cap, uint32_t v) {
  if (*len == *cap) {
    *cap = *cap ? *cap * 2 : 1 << 12;
    *arr = realloc(*arr, *cap * sizeof **arr);
    if (!*arr) { perror("realloc"); exit(2); }
  }
  (*arr)[(*len)++] = v;
}

static uint32_t us_since_t0(uint64_t ns) { return ns > t0 ? (uint32_t)((ns - t0) / 1000) : 0; }

/* One finished connection, for -i and -r: status 0 = ok (lat_us valid), else 1 + kind. */
static void note(struct worker *w, const struct conn *c, uint64_t end_ns, uint32_t status, uint32_t lat_us) {
  if (interval_on) {
    pthread_mutex_lock(&w->mu);
    if (status == 0) {
      w->cur.n_ok++;
      push_u32(&w->cur.lat, &w->cur.lat_len, &w->cur.lat_cap, lat_us);
    } else {
      w->cur.n_err[status - 1]++;
    }
    pthread_mutex_unlock(&w->mu);
  }
  if (raw_on) {
    if (w->recs_len == w->recs_cap) {
      w->recs_cap = w->recs_cap ? w->recs_cap * 2 : 1 << 14;
      w->recs = realloc(w->recs, w->recs_cap * sizeof *w->recs);
      if (!w->recs) { perror("realloc"); exit(2); }
    }
    uint32_t port = 0;
    if (status != 0 && c->fd >= 0) {
      struct sockaddr_in local;
      socklen_t len = sizeof local;
      if (getsockname(c->fd, (struct sockaddr *)&local, &len) == 0) port = ntohs(local.sin_port);
    }
    w->recs[w->recs_len++] = (struct rec){us_since_t0(c->start_ns), us_since_t0(end_ns), status, port};
  }
}

static void record_latency(struct worker *w, uint64_t us) {
  if (w->lat_len == w->lat_cap) {
    w->lat_cap = w->lat_cap ? w->lat_cap * 2 : 1 << 16;
    w->lat = realloc(w->lat, w->lat_cap * sizeof *w->lat);
    if (!w->lat) { perror("realloc"); exit(2); }
  }
  w->lat[w->lat_len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static enum kind kind_of_errno(int e) {
  switch (e) {
    case ECONNREFUSED: return E_REFUSED;
    case ECONNRESET: case EPIPE: case ECONNABORTED: return E_RESET;
    case ETIMEDOUT: return E_TIMEOUT;
    default: return E_OTHER;
  }
}

static void finish(struct worker *w, struct conn *c, int counted, enum kind k) {
  if (counted && (interval_on || raw_on)) note(w, c, now_ns(), 1 + (uint32_t)k, 0);
  if (c->fd >= 0) close(c->fd); /* close(2) also removes it from the epoll set */
  c->fd = -1;
  c->st = S_FREE;
  if (counted) w->n_err[k]++;
}

/* Starts a connection in slot c (index idx is the epoll cookie). */
static void start(struct worker *w, struct conn *c, uint32_t idx) {
  c->got = 0;
  c->start_ns = now_ns();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { c->fd = -1; finish(w, c, 1, E_OTHER); return; }
  c->fd = fd;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = idx};
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 || errno == EINPROGRESS) {
    c->st = S_CONNECTING;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) finish(w, c, 1, E_OTHER);
    return;
  }
  finish(w, c, 1, kind_of_errno(errno));
}

/* The connection is established: send the payload (small: one write) and wait for the reply. */
static void on_connected(struct worker *w, struct conn *c, uint32_t idx) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) { finish(w, c, 1, kind_of_errno(err)); return; }
  ssize_t sent = send(c->fd, msg, msg_len, MSG_NOSIGNAL);
  if (sent < 0) { finish(w, c, 1, kind_of_errno(errno)); return; }
  if ((size_t)sent != msg_len) { finish(w, c, 1, E_OTHER); return; } /* payloads are small */
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = idx};
  if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) { finish(w, c, 1, E_OTHER); return; }
  c->st = S_READING;
}

/* Returns 1 when the connection finished (slot free), 0 when more data is expected. */
static int on_readable(struct worker *w, struct conn *c) {
  for (;;) {
    char *dst = c->got < RBUF ? c->buf + c->got : c->buf; /* overflow: keep reading, it is wrong anyway */
    size_t room = c->got < RBUF ? RBUF - c->got : RBUF;
    ssize_t r = read(c->fd, dst, room);
    if (r > 0) { c->got += (size_t)r; continue; }
    if (r == 0) {
      uint64_t end = now_ns();
      if (c->got == expect_len && memcmp(c->buf, expect, expect_len) == 0) {
        w->n_ok++;
        record_latency(w, (end - c->start_ns) / 1000);
        if (interval_on || raw_on) {
          uint64_t us = (end - c->start_ns) / 1000;
          note(w, c, end, 0, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
        }
        finish(w, c, 0, E_OTHER);
      } else {
        finish(w, c, 1, E_WRONG);
      }
      return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == EINTR) continue;
    finish(w, c, 1, kind_of_errno(errno));
    return 1;
  }
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static uint32_t pct(const uint32_t *lat, size_t n, double p) {
  if (n == 0) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return lat[i];
}

static int workers_done;

static void *run_worker(void *arg) {
  struct worker *w = arg;
  int nconns = w->nconns;
  struct conn *conns = w->conns;
  struct epoll_event *events = calloc((size_t)nconns, sizeof *events);
  if (!events) { perror("calloc"); exit(2); }
  uint64_t next_scan = t0 + 10000000ull;
  for (int i = 0; i < nconns; i++) { conns[i].fd = -1; start(w, &conns[i], (uint32_t)i); }

  for (;;) {
    uint64_t now = now_ns();
    if (stopping(now)) break;
    int wait_ms = (int)((deadline - now) / 1000000ull);
    if (wait_ms > 10) wait_ms = 10;
    int n = epoll_wait(w->ep, events, nconns, wait_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      exit(2);
    }
    now = now_ns();
    for (int i = 0; i < n; i++) {
      uint32_t idx = events[i].data.u32;
      struct conn *c = &conns[idx];
      if (c->st == S_CONNECTING) {
        on_connected(w, c, idx);
      } else if (c->st == S_READING) {
        on_readable(w, c);
      }
      if (c->st == S_FREE && !stopping(now)) start(w, c, idx);
    }
    /* Slots freed by a failed start() and connections past their timeout. */
    if (now >= next_scan) {
      next_scan = now + 10000000ull;
      for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        /* start_ns may be later than `now` (started in this iteration): unsigned care. */
        if (c->st != S_FREE && now > c->start_ns && now - c->start_ns > timeout_ns) finish(w, c, 1, E_TIMEOUT);
        if (c->st == S_FREE && !stopping(now)) start(w, c, (uint32_t)i);
      }
    }
  }
  /* Connections still in flight at the deadline are abandoned: counted neither way. */
  for (int i = 0; i < nconns; i++) {
    if (conns[i].st != S_FREE) { w->in_flight++; finish(w, &conns[i], 0, E_OTHER); }
  }
  free(events);
  __atomic_add_fetch(&workers_done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void usage(const char *argv0) {
  fprintf(stderr, "usage: %s -h HOST -p PORT [-c CONNS] [-d SECONDS] [-m PAYLOAD] [-t TIMEOUT_MS] [-T THREADS]"
                  " [-i INTERVAL_MS] [-r RAW_FILE]\n", argv0);
  exit(2);
}

static void on_stop_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void print_kinds(const uint64_t *n_err) {
  printf("\"errorsByKind\":{");
  for (int k = 0; k < E_COUNT; k++) printf("%s\"%s\":%llu", k ? "," : "", kind_names[k], (unsigned long long)n_err[k]);
  printf("}");
}

/* -i: takes every worker's bucket and prints one interval line covering [from, to]. */
static void report_interval(struct worker *workers, int nthreads, int idx, uint64_t from, uint64_t to, struct bucket *spare) {
  uint64_t n_ok = 0, n_err[E_COUNT] = {0};
  struct bucket all = {0};
  for (int t = 0; t < nthreads; t++) {
    struct worker *w = &workers[t];
    pthread_mutex_lock(&w->mu);
    struct bucket took = w->cur;
    w->cur = *spare; /* an empty bucket that keeps its buffer */
    w->cur.n_ok = 0;
    memset(w->cur.n_err, 0, sizeof w->cur.n_err);
    w->cur.lat_len = 0;
    pthread_mutex_unlock(&w->mu);
    n_ok += took.n_ok;
    for (int k = 0; k < E_COUNT; k++) n_err[k] += took.n_err[k];
    for (size_t i = 0; i < took.lat_len; i++) push_u32(&all.lat, &all.lat_len, &all.lat_cap, took.lat[i]);
    *spare = took; /* its buffer becomes the next spare */
  }
  qsort(all.lat, all.lat_len, sizeof *all.lat, cmp_u32);
  uint64_t errs = 0;
  for (int k = 0; k < E_COUNT; k++) errs += n_err[k];
  printf("{\"type\":\"interval\",\"i\":%d,\"t0Ms\":%.3f,\"t1Ms\":%.3f,\"conns\":%llu,\"errors\":%llu,", idx,
         (double)(from - t0) / 1e6, (double)(to - t0) / 1e6, (unsigned long long)n_ok, (unsigned long long)errs);
  print_kinds(n_err);
  printf(",\"p50us\":%u,\"p99us\":%u,\"maxus\":%u}\n", pct(all.lat, all.lat_len, 0.5), pct(all.lat, all.lat_len, 0.99),
         all.lat_len ? all.lat[all.lat_len - 1] : 0);
  fflush(stdout);
  free(all.lat);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0, nconns = 50, nthreads = 1;
  double seconds = 10;
  long timeout_ms = 5000;
  const char *payload = "hello world";
  const char *expected = NULL; /* -e: the expected reply (without "\n"), for non-ASCII payloads */
  int opt;
  long interval_ms = 0;
  const char *raw_path = NULL;
  while ((opt = getopt(argc, argv, "h:p:c:d:m:e:t:T:i:r:")) != -1) {
    switch (opt) {
      case 'h': host = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'c': nconns = atoi(optarg); break;
      case 'd': seconds = atof(optarg); break;
      case 'm': payload = optarg; break;
      case 'e': expected = optarg; break;
      case 't': timeout_ms = atol(optarg); break;
      case 'T': nthreads = atoi(optarg); break;
      case 'i': interval_ms = atol(optarg); if (interval_ms <= 0) usage(argv[0]); break;
      case 'r': raw_path = optarg; break;
      default: usage(argv[0]);
    }
  }
  if (port <= 0 || port > 65535 || nconns <= 0 || nthreads <= 0 || seconds <= 0 || timeout_ms <= 0) usage(argv[0]);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad IPv4 host: %s\n", host); return 2; }

  size_t plen = strlen(payload);
  msg_len = plen + 1;
  size_t elen = expected ? strlen(expected) : plen;
  expect_len = elen + 1;
  msg = malloc(msg_len);
  expect = malloc(expect_len);
  memcpy(msg, payload, plen);
  msg[plen] = '\n';
  if (expected) memcpy(expect, expected, elen);
  else for (size_t i = 0; i < plen; i++) expect[i] = payload[plen - 1 - i]; /* byte reversal: ASCII payloads */
  expect[elen] = '\n';
  if (expect_len > RBUF) { fprintf(stderr, "payload too long\n"); return 2; }

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 64) {
    rl.rlim_cur = rl.rlim_max < (rlim_t)nconns + 64 ? rl.rlim_max : (rlim_t)nconns + 64;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  if (nthreads > nconns) nthreads = nconns;
  struct worker *workers = calloc((size_t)nthreads, sizeof *workers);
  if (!workers) { perror("calloc"); return 2; }
  for (int t = 0; t < nthreads; t++) {
    struct worker *w = &workers[t];
    w->nconns = nconns / nthreads + (t < nconns % nthreads);
    w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!w->conns || w->ep < 0) { perror("setup"); return 2; }
    pthread_mutex_init(&w->mu, NULL);
  }
  interval_on = interval_ms > 0;
  raw_on = raw_path != NULL;
  FILE *raw = NULL;
  if (raw_on && !(raw = fopen(raw_path, "wb"))) { perror(raw_path); return 2; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal; /* no SA_RESTART: epoll_wait and the reporter's sleep wake up */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  t0 = now_ns();
  double start_wall_ms = (double)wall.tv_sec * 1e3 + (double)wall.tv_nsec / 1e6;
  deadline = t0 + (uint64_t)(seconds * 1e9);
  timeout_ns = (uint64_t)timeout_ms * 1000000ull;
  if (interval_on) {
    printf("{\"type\":\"start\",\"startWallMs\":%.3f,\"intervalMs\":%ld,\"concurrency\":%d,\"threads\":%d}\n",
           start_wall_ms, interval_ms, nconns, nthreads);
    fflush(stdout);
  }
  for (int t = 0; t < nthreads; t++) {
    if (pthread_create(&workers[t].tid, NULL, run_worker, &workers[t]) != 0) { perror("pthread_create"); return 2; }
  }
  if (interval_on) {
    struct bucket spare = {0};
    uint64_t iv_ns = (uint64_t)interval_ms * 1000000ull, from = t0, next = t0 + iv_ns;
    int idx = 0;
    while (__atomic_load_n(&workers_done, __ATOMIC_SEQ_CST) < nthreads) {
      struct timespec ts = {.tv_sec = (time_t)(next / 1000000000ull), .tv_nsec = (long)(next % 1000000000ull)};
      if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) continue; /* EINTR: re-check */
      uint64_t to = now_ns();
      report_interval(workers, nthreads, idx++, from, to, &spare);
      from = to;
      while (next <= to) next += iv_ns;
    }
    for (int t = 0; t < nthreads; t++) pthread_join(workers[t].tid, NULL);
    report_interval(workers, nthreads, idx, from, now_ns(), &spare); /* the last, partial one */
    free(spare.lat);
  } else {
    for (int t = 0; t < nthreads; t++) pthread_join(workers[t].tid, NULL);
  }
  uint64_t t1 = now_ns();
  if (raw) {
    for (int t = 0; t < nthreads; t++) {
      if (workers[t].recs_len && fwrite(workers[t].recs, sizeof *workers[t].recs, workers[t].recs_len, raw) != workers[t].recs_len) {
        perror(raw_path);
        return 2;
      }
    }
    if (fclose(raw) != 0) { perror(raw_path); return 2; }
  }

  uint64_t n_ok = 0, n_err[E_COUNT] = {0};
  size_t lat_len = 0;
  int in_flight = 0;
  for (int t = 0; t < nthreads; t++) {
    n_ok += workers[t].n_ok;
    for (int k = 0; k < E_COUNT; k++) n_err[k] += workers[t].n_err[k];
    lat_len += workers[t].lat_len;
    in_flight += workers[t].in_flight;
  }
  uint32_t *lat = malloc((lat_len ? lat_len : 1) * sizeof *lat);
  if (!lat) { perror("malloc"); return 2; }
  for (int t = 0, off = 0; t < nthreads; t++) {
    if (workers[t].lat_len) memcpy(lat + off, workers[t].lat, workers[t].lat_len * sizeof *lat);
    off += (int)workers[t].lat_len;
  }

  qsort(lat, lat_len, sizeof *lat, cmp_u32);
  double secs = (double)(t1 - t0) / 1e9;
  uint64_t errs = 0;
  for (int k = 0; k < E_COUNT; k++) errs += n_err[k];
  double sum = 0;
  for (size_t i = 0; i < lat_len; i++) sum += lat[i];
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  uint64_t cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000ull + (uint64_t)ru.ru_utime.tv_usec +
                    (uint64_t)ru.ru_stime.tv_sec * 1000000ull + (uint64_t)ru.ru_stime.tv_usec;

  printf("{\"type\":\"summary\",\"conns\":%llu,\"errors\":%llu,", (unsigned long long)n_ok, (unsigned long long)errs);
  print_kinds(n_err);
  printf(",\"seconds\":%.3f,\"connsPerSec\":%.1f,\"p50us\":%u,\"p90us\":%u,\"p99us\":%u,\"maxus\":%u,"
         "\"meanus\":%.1f,\"inFlightAtEnd\":%d,\"concurrency\":%d,\"threads\":%d,\"clientCpuUs\":%llu,"
         "\"startWallMs\":%.3f}\n",
         secs, secs > 0 ? (double)n_ok / secs : 0.0, pct(lat, lat_len, 0.5), pct(lat, lat_len, 0.9), pct(lat, lat_len, 0.99),
         lat_len ? lat[lat_len - 1] : 0, lat_len ? sum / (double)lat_len : 0.0, in_flight, nconns, nthreads,
         (unsigned long long)cpu_us, start_wall_ms);
  return 0;
}
