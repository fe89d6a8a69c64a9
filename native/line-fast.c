/*
 * The native line-protocol path: accept, read, reverse (ASCII) and answer in C, without a
 * net.Socket per connection.
 * Runs in: workers (loaded by src/protocols/line-native.ts): one C thread per worker serves the
 * sockets; the main (JavaScript) thread only reverses non-ASCII lines and gets the drain's end.
 *
 * The thread has its own epoll set. Each inherited listening fd is in it with EPOLLEXCLUSIVE, so
 * the kernel wakes one worker per connection (no thundering herd, and an idle worker is the one
 * woken: the shares stay even). A connection whose line is already there when it is accepted
 * costs accept4 + recv + send + close and no allocation; otherwise it joins the epoll set until
 * its line is complete. Lines with bytes >= 0x80 are queued for JavaScript (grapheme-cluster
 * reversal, UTF-8 validation): a uv_async wakes the main thread, which reverses every queued line
 * in one call and queues the replies back; an eventfd wakes this thread to send them. The common
 * non-ASCII lines (accents, Greek, Cyrillic, emoji with skin tones, ZWJ sequences, flags) are
 * reversed in C by a subset of UAX #29 that defers everything else to JavaScript.
 *
 * Semantics are those of src/protocols/line.ts: "\n" or "\r\n" ends the line; a client's FIN ends
 * a last line without "\n"; more than max-line bytes: "ERR line too long\n"; idle-timeout closes
 * silent connections; line-timeout answers "ERR line timeout\n" to a line not complete that long
 * after accept; more than line-buffer-limit bytes held in unfinished lines by this worker: "ERR
 * server busy\n". After each of those three we half-close and discard input until the client's
 * FIN or LINGER_MS (refuse()).
 * The replies, LINGER_MS, the histogram's buckets and the order of stats() come from
 * line-contract.h, generated from their one definition in TypeScript
 * (src/protocols/line-contract.ts); test/unit/line-contract.test.ts runs the same cases through
 * this path and the JavaScript one and compares the replies byte for byte.
 *
 * Exposed through N-API (stable ABI, one build for every Node line):
 *   create(options, onUnicode(lines: Buffer[]) -> (Buffer|null|undefined)[]) -> server
 *   listen(server, fd, backlog) -> i  start accepting on an inherited listening fd; i: its
 *                                     index for stats (0, 1, ... in listen order)
 *   drain(server, onDrained)          stop accepting at once; onDrained() runs (on the main
 *                                     thread) once the last open connection is finished
 *   stats(server, i?) -> [accepted, answered, errors, open, timeouts, busy, latency sum (us),
 *                         ...latency buckets]
 *                                     cumulative counters of listener i (all listeners without
 *                                     i), read once a beat; the order is enum line_stat, the
 *                                     buckets are LATENCY_BUCKETS_US (line-contract.h)
 *   listenLoopback() -> [fd, port]    a listening socket on 127.0.0.1, port 0 (for tests)
 *   reverseGraphemes(buf) -> Buffer | undefined   the C reversal alone (for tests)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "line-contract.h" /* LINGER_MS, ERR_*, LATENCY_BUCKETS_US, enum line_stat */

#define SCRATCH_SIZE (64 * 1024)
#define SWEEP_MS 100
#define MAX_EVENTS 64
#define MAX_LISTENERS 16
/* EPOLLEXCLUSIVE wakes the first waiter of the listening socket's wait queue, which is always
 * the same worker when it keeps up. A worker that accepted re-registers at most every ROTATE_MS
 * (EPOLL_CTL_DEL + ADD puts its waiter at the tail), so idle workers take turns. By time, not by
 * count: under load a count costs two syscalls every few connections (measured ~0.4 us a
 * connection at every 8th), a clock read from the vDSO costs nothing; at a low rate each accept
 * still rotates. */
#define ROTATE_MS 5
#define DEFER_ACCEPT_S 1
/* The latency histogram's bounds (LATENCY_BUCKETS_US: the JavaScript path's, in microseconds),
 * then +Inf. line-native.ts checks the count stats() returns. */
#define NBOUNDS (sizeof LATENCY_BUCKETS_US / sizeof LATENCY_BUCKETS_US[0])

typedef struct server server_t;

enum kind { K_LISTENER, K_CONN, K_WAKE };
enum conn_state { C_READING, C_JS, C_WRITING, C_LINGER };

typedef struct conn {
  enum kind kind; /* first: epoll's data.ptr points at a listener, a conn or the wake eventfd */
  server_t *srv;
  int fd;
  int listener; /* index of the listener it came from (its counters) */
  uint32_t events; /* what epoll watches for it now (0: not in the set) */
  enum conn_state state;
  uint64_t accepted_ms, active_ms;
  uint64_t accepted_us; /* CLOCK_MONOTONIC, for the latency histogram */
  char *buf; /* the line so far (C_READING, C_JS), the unsent reply (C_WRITING) */
  size_t len, cap, sent;
  int counted; /* len is counted in srv->buffered */
  /* C_JS: set by the main thread, read by this thread after the queue's lock */
  char *reply;
  size_t reply_len;
  int reply_kind; /* 0 a reply, 1 invalid UTF-8, 2 failed: close without a reply */
  struct conn *prev, *next; /* every open connection (this thread only) */
  struct conn *q_next;      /* the queues to and from JavaScript (under srv->lock) */
} conn_t;

typedef struct listener {
  enum kind kind;
  int fd;
  int index; /* in listen order: its counters in server.counts */
  uint64_t rotated_ms; /* the last re-registration (now_ms) */
} listener_t;

typedef struct counters {
  uint64_t accepted, answered, errors, open;
  uint64_t timeouts, busy; /* ERR line timeout, ERR server busy: for line.ts's rate-limited logs */
  uint64_t latency_sum_us, latency[NBOUNDS + 1];
} counters_t;

struct server {
  napi_env env;
  uv_loop_t *loop;
  napi_ref on_unicode, on_drained;
  napi_async_context async;
  size_t max_line, buffer_limit, buffered;
  uint64_t idle_ms, line_timeout_ms;
  int epfd, wakefd;
  enum kind wake_kind; /* epoll data.ptr for wakefd */
  pthread_t thread;
  /* this thread only */
  conn_t *conns;
  /* listeners closed by a drain, freed only after the epoll batch that may still name them */
  listener_t *dead[MAX_LISTENERS];
  int ndead;
  char scratch[SCRATCH_SIZE];
  char reply_buf[SCRATCH_SIZE + 1];
  /* shared, under lock */
  pthread_mutex_t lock;
  conn_t *to_js, *to_js_tail, *from_js, *from_js_tail;
  listener_t *listeners[MAX_LISTENERS];
  int nlisteners;
  int drain_requested, drained;
  uv_async_t to_main; /* wakes the main thread: lines to reverse, or drained */
  /* counters per listener (the worker's stats are per listener): written by this thread, read
   * by the main thread once a beat */
  counters_t counts[MAX_LISTENERS];
  /* The request limit (setBudget): answers of every listener, written by this thread; the budget
   * (UINT64_MAX: none), written by the main thread; reached_at, 0 until the total reaches the
   * budget, then that total (set once, by whichever thread sees it first: a compare-exchange). */
  uint64_t answered_total, budget, reached_at;
  /* main thread only: the callback for reached_at, called once; to_main closed (after drain) */
  napi_ref on_reached;
  int reached_called, closed;
  /* this thread only: the listener of the connection being accepted, for the counts of a
   * connection answered on its first read (no conn_t) and of the conn_t made for it */
  int current;
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* vDSO, no syscall */
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* `c` may be NULL (a connection answered within serve_new): it counts under s->current. */
static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO; called once per connection that waited for its line */
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

#define COUNT_AT(s, i, field, n) __atomic_add_fetch(&(s)->counts[i].field, (n), __ATOMIC_RELAXED)
#define COUNT(s, c, field, n) COUNT_AT(s, (c) ? (c)->listener : (s)->current, field, n)
/* A connection being accepted, before any conn_t: its listener is s->current. */
#define COUNT_NEW(s, field, n) COUNT_AT(s, (s)->current, field, n)

/* An answer, and its latency from accept: a connection answered on its first read (no conn_t,
 * the line was there when it was accepted) counts as 0 us, in the first bucket. */
static void wake_main(server_t *s);
/* The budget's check: the total that reaches it is recorded once (0 -> n, compare-exchange), and
 * the main thread is woken to call JavaScript back with it. Relaxed: the wake (uv_async_send)
 * orders what the main thread reads after it. */
static void reach_budget(server_t *s, uint64_t n) {
  uint64_t none = 0;
  if (__atomic_compare_exchange_n(&s->reached_at, &none, n, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) wake_main(s);
}

static void count_answer(server_t *s, conn_t *c) {
  COUNT(s, c, answered, 1);
  uint64_t n = __atomic_add_fetch(&s->answered_total, 1, __ATOMIC_RELAXED); /* server-wide */
  if (n >= __atomic_load_n(&s->budget, __ATOMIC_ACQUIRE)) reach_budget(s, n);
  uint64_t us = c ? now_us() - c->accepted_us : 0;
  size_t b = 0;
  while (b < NBOUNDS && us > LATENCY_BUCKETS_US[b]) b++;
  COUNT(s, c, latency[b], 1);
  COUNT(s, c, latency_sum_us, us);
}

static void wake_main(server_t *s) { uv_async_send(&s->to_main); /* thread-safe by contract */ }

/* ---- connection bookkeeping (this thread) ---- */

static conn_t *conn_new(server_t *s, int fd) {
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->kind = K_CONN;
  c->srv = s;
  c->fd = fd;
  c->listener = s->current; /* conn_new runs only within serve_new (on_listener_event) */
  c->state = C_READING;
  c->accepted_ms = c->active_ms = now_ms();
  c->accepted_us = now_us();
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  COUNT(s, c, open, 1);
  return c;
}

static void conn_drop_buffer(conn_t *c) {
  if (c->counted) c->srv->buffered -= c->len;
  c->counted = 0;
  free(c->buf);
  c->buf = NULL;
  c->len = c->cap = c->sent = 0;
}

static void conn_close(conn_t *c) {
  server_t *s = c->srv;
  conn_drop_buffer(c);
  free(c->reply);
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  close(c->fd); /* also takes it out of the epoll set: nobody else holds this fd */
  COUNT(s, c, open, (uint64_t)-1);
  free(c);
}

/* Watches the connection for `events` (EPOLLIN or EPOLLOUT; 0 leaves the set). */
static int conn_watch(conn_t *c, uint32_t events) {
  if (c->events == events) return 0;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  int op = c->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
  int rc = epoll_ctl(c->srv->epfd, op, c->fd, &ev);
  if (rc == 0) c->events = events;
  return rc;
}

/* Appends to the connection's line; 0 when `bounded` and the worker's line-buffer-limit would be
 * exceeded (the bytes that finish a line are not bounded: the limit is on unfinished lines, as
 * in line.ts), or out of memory. */
static int conn_append(conn_t *c, const char *data, size_t n, int bounded) {
  server_t *s = c->srv;
  if (bounded && s->buffered + n > s->buffer_limit) return 0;
  if (c->len + n > c->cap) {
    size_t cap = c->cap ? c->cap : 256;
    while (cap < c->len + n) cap *= 2;
    char *grown = realloc(c->buf, cap);
    if (!grown) return 0;
    c->buf = grown;
    c->cap = cap;
  }
  if (n > 0) memcpy(c->buf + c->len, data, n);
  c->len += n;
  s->buffered += n;
  c->counted = 1;
  return 1;
}

/* ---- replies ---- */

/* Sends what is left of a reply; closes once everything is in the kernel (close(2) still
 * delivers it, then FIN), or waits for the socket to be writable again. */
static void conn_flush(conn_t *c) {
  while (c->sent < c->len) {
    /* MSG_NOSIGNAL: a client gone already is EPIPE here, never SIGPIPE. */
    ssize_t n = send(c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && conn_watch(c, EPOLLOUT) == 0) return;
      COUNT(c->srv, c, errors, 1);
      conn_close(c);
      return;
    }
    c->sent += (size_t)n;
    c->active_ms = now_ms();
  }
  conn_close(c);
}

/* Answers `reply` and closes. `c` may be NULL (a connection answered on its first read). */
static void answer(server_t *s, conn_t *c, int fd, const char *reply, size_t n) {
  count_answer(s, c);
  ssize_t sent = send(fd, reply, n, MSG_NOSIGNAL);
  if (sent == (ssize_t)n || (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    if (c) conn_close(c);
    else close(fd);
    return;
  }
  /* The socket buffer is full (a long reply): keep the rest and finish when writable. */
  if (sent < 0) sent = 0;
  if (!c && !(c = conn_new(s, fd))) {
    close(fd);
    return;
  }
  conn_drop_buffer(c);
  c->buf = malloc(n - (size_t)sent);
  if (!c->buf) {
    conn_close(c);
    return;
  }
  memcpy(c->buf, reply + sent, n - (size_t)sent);
  c->len = c->cap = n - (size_t)sent;
  c->state = C_WRITING;
  conn_flush(c);
}

static int is_ascii(const char *p, size_t n) {
  size_t i = 0;
  uint64_t acc = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; i++) acc |= (unsigned char)p[i];
  return (acc & 0x8080808080808080ULL) == 0;
}

static void answer_ascii(server_t *s, conn_t *c, int fd, const char *line, size_t n) {
  char *out = n + 1 <= sizeof s->reply_buf ? s->reply_buf : malloc(n + 1);
  if (!out) {
    if (c) conn_close(c);
    else close(fd);
    return;
  }
  /* ASCII characters are their own grapheme clusters (a line holds no "\r\n" pair). */
  for (size_t i = 0; i < n; i++) out[i] = line[n - 1 - i];
  out[n] = '\n';
  answer(s, c, fd, out, n + 1);
  if (out != s->reply_buf) free(out);
}

/* An ERR reply to a client that may still be sending (line too long, line timeout, server busy):
 * say so, half-close, and read (and discard) what it still sends until its FIN or LINGER_MS, so
 * that closing does not turn into a RST that could destroy the reply (line.ts's refuse()). */
static void refuse(conn_t *c, const char *msg, size_t n) {
  server_t *s = c->srv;
  conn_drop_buffer(c);
  COUNT(s, c, errors, 1);
  count_answer(s, c);
  /* A few bytes on a socket that has sent nothing yet: they fit its send buffer. */
  if (send(c->fd, msg, n, MSG_NOSIGNAL) < 0 || shutdown(c->fd, SHUT_WR) < 0 || conn_watch(c, EPOLLIN) != 0) {
    conn_close(c);
    return;
  }
  c->state = C_LINGER;
  c->accepted_ms = now_ms(); /* the linger deadline counts from here */
}

/* The worker's line-buffer-limit is reached: refuse this client (counted for the rate-limited log). */
static void busy(conn_t *c) {
  COUNT(c->srv, c, busy, 1);
  refuse(c, ERR_SERVER_BUSY, sizeof ERR_SERVER_BUSY - 1);
}

/* The line is over max-line. */
static void too_long(conn_t *c) { refuse(c, ERR_TOO_LONG, sizeof ERR_TOO_LONG - 1); }

/* ---- grapheme clusters in C, for the common non-ASCII lines ----
 * A subset of UAX #29 that is exact for the code points it accepts: printable ASCII, Latin,
 * Greek, Cyrillic, general punctuation and currency signs (no special break property), combining
 * diacritics, variation selectors and skin tones (Extend), ZWJ, regional indicators (flags) and
 * the emoji blocks (Extended_Pictographic). Any other code point, a control character or invalid
 * UTF-8 sends the line to JavaScript (Intl.Segmenter, the reference), as before. */

enum gcb { G_BASE, G_EXTEND, G_ZWJ, G_RI, G_PICT, G_OTHER };

static enum gcb classify(uint32_t cp) {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7f ? G_BASE : G_OTHER; /* controls: GB4/GB5 */
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0x1f3fb && cp <= 0x1f3ff)) return G_EXTEND;
  if (cp == 0x200d) return G_ZWJ;
  if (cp >= 0x1f1e6 && cp <= 0x1f1ff) return G_RI;
  if (cp == 0xa9 || cp == 0xae || (cp >= 0x1f300 && cp <= 0x1f6ff) || (cp >= 0x1f90c && cp <= 0x1f9ff && cp != 0x1f93b && cp != 0x1f946))
    return G_PICT;
  if ((cp >= 0xa0 && cp <= 0x2ff && cp != 0xad) || (cp >= 0x370 && cp <= 0x482) || (cp >= 0x48a && cp <= 0x52f) ||
      (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x20a0 && cp <= 0x20c0))
    return G_BASE;
  return G_OTHER;
}

/* One code point of strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF): its
 * length, or 0 when the bytes are not valid UTF-8. */
static int utf8_next(const unsigned char *p, size_t n, uint32_t *cp) {
  unsigned char b = p[0];
  if (b < 0x80) return *cp = b, 1;
  if (b >= 0xc2 && b <= 0xdf && n >= 2 && (p[1] & 0xc0) == 0x80) return *cp = ((uint32_t)(b & 0x1f) << 6) | (p[1] & 0x3f), 2;
  if (b >= 0xe0 && b <= 0xef && n >= 3 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
    uint32_t c = ((uint32_t)(b & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
    if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)) return 0;
    return *cp = c, 3;
  }
  if (b >= 0xf0 && b <= 0xf4 && n >= 4 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80) {
    uint32_t c = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(p[1] & 0x3f) << 12) | ((uint32_t)(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
    if (c < 0x10000 || c > 0x10ffff) return 0;
    return *cp = c, 4;
  }
  return 0;
}

/* Writes `line` reversed by grapheme cluster into `out` (n bytes); 0 when the line is outside the
 * subset above (JavaScript decides). Each cluster [a, b) lands at [n - b, n - a). */
static int reverse_graphemes(const char *line, size_t n, char *out) {
  const unsigned char *p = (const unsigned char *)line;
  size_t start = 0, i = 0;
  int pict = 0;     /* the cluster so far is ExtPict Extend* (ZWJ ExtPict Extend*)*: GB11 may join */
  int pict_zwj = 0; /* ... followed by a ZWJ */
  int ri_odd = 0;   /* the cluster is one regional indicator: GB12/GB13 pair the next */
  while (i < n) {
    uint32_t cp;
    int len = utf8_next(p + i, n - i, &cp);
    if (len == 0) return 0;
    enum gcb g = classify(cp);
    if (g == G_OTHER) return 0;
    int join = 0;
    if (i > 0) {
      if (g == G_EXTEND || g == G_ZWJ) join = 1; /* GB9 */
      else if (g == G_PICT) join = pict_zwj;     /* GB11 */
      else if (g == G_RI) join = ri_odd;         /* GB12, GB13 */
    }
    if (!join) {
      memcpy(out + n - i, line + start, i - start); /* the finished cluster */
      start = i;
    }
    if (g == G_PICT) pict = 1, pict_zwj = 0;
    else if (g == G_ZWJ) pict_zwj = pict, pict = 0;
    else if (g == G_EXTEND) pict_zwj = 0;
    else pict = pict_zwj = 0;
    if (!join && g == G_PICT) pict = 1;
    ri_odd = g == G_RI && !join;
    i += (size_t)len;
  }
  memcpy(out, line + start, n - start);
  return 1;
}

/* A non-ASCII line: reversed here when the subset covers it; 0 when JavaScript must. */
static int answer_graphemes(server_t *s, conn_t *c, int fd, const char *line, size_t n) {
  char *out = n + 1 <= sizeof s->reply_buf ? s->reply_buf : malloc(n + 1);
  if (!out) return 0;
  int done = reverse_graphemes(line, n, out);
  if (done) {
    out[n] = '\n';
    answer(s, c, fd, out, n + 1);
  }
  if (out != s->reply_buf) free(out);
  return done;
}

/* Answers a line in C (ASCII, or non-ASCII the C subset covers): 1 when answered (`c`, if
 * given, is closed or owned by the write then), 0 when JavaScript must reverse it. */
static int answer_in_c(server_t *s, conn_t *c, int fd, const char *line, size_t n) {
  if (is_ascii(line, n)) {
    answer_ascii(s, c, fd, line, n);
    return 1;
  }
  return answer_graphemes(s, c, fd, line, n);
}

/* Non-ASCII beyond the C subset: to JavaScript, the line in c->buf. Out of the epoll set
 * meanwhile (more input would be ignored anyway). */
static void queue_js(conn_t *c) {
  server_t *s = c->srv;
  conn_watch(c, 0);
  c->state = C_JS;
  c->q_next = NULL;
  pthread_mutex_lock(&s->lock);
  int first = s->to_js == NULL;
  if (s->to_js_tail) s->to_js_tail->q_next = c;
  else s->to_js = c;
  s->to_js_tail = c;
  pthread_mutex_unlock(&s->lock);
  if (first) wake_main(s);
}

/* A complete line in c->buf (without "\n" / "\r\n"): no longer a partial line for the
 * line-buffer-limit. */
static void finish_line(conn_t *c) {
  server_t *s = c->srv;
  if (c->counted) s->buffered -= c->len;
  c->counted = 0;
  char *line = c->buf;
  size_t n = c->len;
  c->buf = NULL; /* answering may free c: keep the line until it is reversed */
  c->len = c->cap = 0;
  if (answer_in_c(s, c, c->fd, line ? line : "", n)) {
    free(line);
    return;
  }
  c->buf = line;
  c->len = c->cap = n;
  queue_js(c);
}

/* Feeds bytes read from a connection still reading its line. */
static void feed(conn_t *c, const char *data, size_t n) {
  server_t *s = c->srv;
  const char *nl = memchr(data, '\n', n);
  if (nl) {
    size_t take = (size_t)(nl - data);
    if (c->len == 0) {
      /* The whole line in one read (it just was not there at accept): never buffered. */
      size_t n = take > 0 && data[take - 1] == '\r' ? take - 1 : take;
      if (n > s->max_line) {
        too_long(c);
        return;
      }
      if (answer_in_c(s, c, c->fd, data, n)) return;
      if (!(c->buf = malloc(n ? n : 1))) {
        conn_close(c);
        return;
      }
      memcpy(c->buf, data, n);
      c->len = c->cap = n;
      queue_js(c);
      return;
    }
    size_t total = c->len + take;
    char last = take > 0 ? data[take - 1] : (c->len > 0 ? c->buf[c->len - 1] : 0);
    if (total > 0 && last == '\r') total--; /* the "\r" of "\r\n" may sit in an earlier read */
    if (total > s->max_line) {
      too_long(c);
      return;
    }
    if (!conn_append(c, data, take, 0)) {
      conn_close(c); /* out of memory */
      return;
    }
    s->buffered -= c->len - total;
    c->len = total;
    finish_line(c);
    return;
  }
  size_t size = c->len + n;
  /* max-line + 1 bytes are still fine if the last is "\r": it may be the start of "\r\n". */
  if (size > s->max_line + 1 || (size == s->max_line + 1 && data[n - 1] != '\r')) {
    too_long(c);
    return;
  }
  if (!conn_append(c, data, n, 1)) {
    busy(c);
    return;
  }
  if (conn_watch(c, EPOLLIN) != 0) conn_close(c);
}

/* ---- events (this thread) ---- */

static void on_conn_event(conn_t *c, uint32_t events) {
  server_t *s = c->srv;
  if (c->state == C_WRITING) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) conn_flush(c);
    return;
  }
  ssize_t n = recv(c->fd, s->scratch, sizeof s->scratch, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    COUNT(s, c, errors, 1); /* a reset mid-line: the client's business, nothing to answer */
    conn_close(c);
    return;
  }
  c->active_ms = now_ms();
  if (c->state == C_LINGER) {
    if (n == 0) conn_close(c);
    return;
  }
  if (n > 0) {
    feed(c, s->scratch, (size_t)n);
    return;
  }
  /* The client half-closed: what it sent is the line (a trailing "\r" stays part of it). */
  if (c->len > s->max_line) too_long(c);
  else finish_line(c);
}

/* A connection just accepted: its line is often there already. */
static void serve_new(server_t *s, int fd) {
  ssize_t n = recv(fd, s->scratch, sizeof s->scratch, 0);
  if (n > 0) {
    const char *nl = memchr(s->scratch, '\n', (size_t)n);
    if (nl) {
      size_t len = (size_t)(nl - s->scratch);
      if (len > 0 && s->scratch[len - 1] == '\r') len--;
      if (len <= s->max_line && is_ascii(s->scratch, len)) {
        answer_ascii(s, NULL, fd, s->scratch, len);
        return;
      }
      if (len <= s->max_line && answer_graphemes(s, NULL, fd, s->scratch, len)) return;
    }
    conn_t *c = conn_new(s, fd);
    if (!c) {
      close(fd);
      return;
    }
    feed(c, s->scratch, (size_t)n);
    return;
  }
  if (n == 0) {
    /* FIN before any byte: an empty last line, answered with an empty line. */
    answer_ascii(s, NULL, fd, "", 0);
    return;
  }
  if (errno != EAGAIN && errno != EWOULDBLOCK) {
    COUNT_NEW(s, errors, 1);
    close(fd);
    return;
  }
  conn_t *c = conn_new(s, fd);
  if (!c) {
    close(fd);
    return;
  }
  if (conn_watch(c, EPOLLIN) != 0) conn_close(c);
}

static void on_listener_event(server_t *s, listener_t *l) {
  /* One connection per wake: EPOLLEXCLUSIVE woke only us for it; the rest of the queue wakes
   * another worker (or us again, if we are the idle one). */
  int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return; /* EAGAIN, or EMFILE/ENFILE/ENOBUFS: epoll reports it again */
  s->current = l->index;
  COUNT_NEW(s, accepted, 1);
  uint64_t now = now_ms();
  if (now - l->rotated_ms >= ROTATE_MS) {
    l->rotated_ms = now;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = l};
    /* Both cannot fail for a registered, open listener; if they did, the next accepts show it. */
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, l->fd, NULL);
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, l->fd, &ev);
  }
  serve_new(s, fd);
}

/* Idle-timeout, line-timeout and the end of a linger. */
static void sweep(server_t *s) {
  uint64_t now = now_ms();
  for (conn_t *c = s->conns, *next; c; c = next) {
    next = c->next;
    if (c->state == C_JS) continue;
    if (c->state == C_LINGER && now - c->accepted_ms >= LINGER_MS) conn_close(c);
    else if (now - c->active_ms >= s->idle_ms) {
      /* Closed unanswered (a silent client): an error, as the JavaScript path's 'abandoned'. */
      if (c->state == C_READING) COUNT(s, c, errors, 1);
      conn_close(c);
    } else if (c->state == C_READING && now - c->accepted_ms >= s->line_timeout_ms) {
      COUNT(s, c, timeouts, 1);
      refuse(c, ERR_LINE_TIMEOUT, sizeof ERR_LINE_TIMEOUT - 1); /* a trickler may still be sending */
    }
  }
}

/* The eventfd: replies from JavaScript, or a drain request. */
static int on_wake(server_t *s) {
  uint64_t ignored;
  if (read(s->wakefd, &ignored, sizeof ignored) < 0) { /* EAGAIN: a spurious wake */ }
  pthread_mutex_lock(&s->lock);
  conn_t *replies = s->from_js;
  s->from_js = s->from_js_tail = NULL;
  int drain = s->drain_requested;
  listener_t *closing[MAX_LISTENERS];
  int nclosing = 0;
  if (drain) {
    for (int i = 0; i < s->nlisteners; i++) closing[nclosing++] = s->listeners[i];
    s->nlisteners = 0;
  }
  pthread_mutex_unlock(&s->lock);
  for (int i = 0; i < nclosing; i++) {
    /* Stop accepting at once: the kernel queue is left to the other workers (close(2) of our
     * copy never closes the socket while the master and the others hold theirs). The explicit
     * DEL matters: epoll forgets a file only when its last fd anywhere is closed, so without it
     * our set would keep reporting the shared socket, pointing at the freed listener. */
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, closing[i]->fd, NULL);
    close(closing[i]->fd);
    /* Not freed yet: a later event of the batch being handled may still point at it (a
     * connection arriving as the drain begins); serve_thread frees it after the batch. */
    s->dead[s->ndead++] = closing[i];
  }
  for (conn_t *c = replies, *next; c; c = next) {
    next = c->q_next;
    conn_drop_buffer(c);
    if (c->reply_kind == 0) {
      char *reply = c->reply;
      c->reply = NULL;
      answer(s, c, c->fd, reply, c->reply_len);
      free(reply);
    } else if (c->reply_kind == 1) {
      COUNT(s, c, errors, 1);
      answer(s, c, c->fd, ERR_INVALID_UTF8, sizeof ERR_INVALID_UTF8 - 1);
    } else {
      COUNT(s, c, errors, 1); /* the handler failed (JavaScript logged it): close without a reply */
      conn_close(c);
    }
  }
  return drain;
}

static void *serve_thread(void *arg) {
  server_t *s = arg;
  struct epoll_event events[MAX_EVENTS];
  uint64_t next_sweep = 0;
  int draining = 0;
  for (;;) {
    if (draining && !s->conns) break;
    int timeout = s->conns ? SWEEP_MS : -1;
    int n = epoll_wait(s->epfd, events, MAX_EVENTS, timeout);
    for (int i = 0; i < n; i++) {
      enum kind *k = events[i].data.ptr;
      if (*k == K_LISTENER) {
        if (!draining) on_listener_event(s, (listener_t *)k);
      } else if (*k == K_WAKE) {
        draining |= on_wake(s);
      } else {
        on_conn_event((conn_t *)k, events[i].events);
      }
    }
    while (s->ndead > 0) free(s->dead[--s->ndead]);
    if (s->conns) {
      uint64_t now = now_ms();
      if (now >= next_sweep) {
        sweep(s);
        next_sweep = now + SWEEP_MS;
      }
    }
  }
  pthread_mutex_lock(&s->lock);
  s->drained = 1;
  pthread_mutex_unlock(&s->lock);
  wake_main(s);
  return NULL;
}

/* ---- the main thread ---- */

static void call_js_drained(server_t *s) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (!s->on_drained || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv_obj, ignored;
  napi_get_reference_value(env, s->on_drained, &fn);
  napi_delete_reference(env, s->on_drained);
  s->on_drained = NULL;
  napi_get_global(env, &recv_obj); /* make_callback wants an object receiver */
  if (napi_make_callback(env, s->async, recv_obj, fn, 0, NULL, &ignored) != napi_ok)
    napi_get_and_clear_last_exception(env, &ignored);
  napi_close_handle_scope(env, scope);
}

/* The budget was reached: onReached(total), once; the reference is dropped after. */
static void call_js_reached(server_t *s, uint64_t total) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (s->reached_called || !s->on_reached || napi_open_handle_scope(env, &scope) != napi_ok) return;
  s->reached_called = 1;
  napi_value fn, recv_obj, arg, ignored;
  napi_get_reference_value(env, s->on_reached, &fn);
  napi_delete_reference(env, s->on_reached);
  s->on_reached = NULL;
  napi_get_global(env, &recv_obj);
  napi_create_double(env, (double)total, &arg);
  if (napi_make_callback(env, s->async, recv_obj, fn, 1, &arg, &ignored) != napi_ok)
    napi_get_and_clear_last_exception(env, &ignored);
  napi_close_handle_scope(env, scope);
}

/* Lines queued for JavaScript: one call reverses them all; the replies go back to the thread. */
static void reverse_in_js(server_t *s, conn_t *head) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  uint32_t count = 0;
  for (conn_t *c = head; c; c = c->q_next) count++;
  napi_value lines, fn, recv_obj, result = NULL;
  napi_create_array_with_length(env, count, &lines);
  uint32_t i = 0;
  for (conn_t *c = head; c; c = c->q_next, i++) {
    napi_value b;
    napi_create_buffer_copy(env, c->len, c->buf ? c->buf : "", NULL, &b);
    napi_set_element(env, lines, i, b);
  }
  napi_get_reference_value(env, s->on_unicode, &fn);
  napi_get_global(env, &recv_obj);
  if (napi_make_callback(env, s->async, recv_obj, fn, 1, &lines, &result) != napi_ok) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    result = NULL;
  }
  i = 0;
  for (conn_t *c = head; c; c = c->q_next, i++) {
    napi_value r = NULL;
    napi_valuetype t = napi_undefined;
    bool is_buf = false;
    if (result) napi_get_element(env, result, i, &r);
    if (r) napi_typeof(env, r, &t);
    if (r && t == napi_object) napi_is_buffer(env, r, &is_buf);
    c->reply_kind = 2;
    if (is_buf) {
      void *data;
      size_t len;
      napi_get_buffer_info(env, r, &data, &len);
      c->reply = malloc(len ? len : 1);
      if (c->reply) {
        memcpy(c->reply, data, len);
        c->reply_len = len;
        c->reply_kind = 0;
      }
    } else if (t == napi_null) {
      c->reply_kind = 1;
    }
  }
  napi_close_handle_scope(env, scope);
  conn_t *tail = head;
  while (tail->q_next) tail = tail->q_next;
  pthread_mutex_lock(&s->lock);
  if (s->from_js_tail) s->from_js_tail->q_next = head;
  else s->from_js = head;
  s->from_js_tail = tail;
  pthread_mutex_unlock(&s->lock);
  uint64_t one = 1;
  if (write(s->wakefd, &one, sizeof one) < 0) { /* the counter cannot overflow here */ }
}

static void on_to_main(uv_async_t *h) {
  server_t *s = h->data;
  pthread_mutex_lock(&s->lock);
  conn_t *head = s->to_js;
  s->to_js = s->to_js_tail = NULL;
  int drained = s->drained;
  pthread_mutex_unlock(&s->lock);
  if (head) reverse_in_js(s, head);
  /* acquire: pairs with reach_budget's compare-exchange */
  uint64_t reached = __atomic_load_n(&s->reached_at, __ATOMIC_ACQUIRE);
  if (reached) call_js_reached(s, reached);
  if (drained) {
    pthread_join(s->thread, NULL);
    s->closed = 1; /* no uv_async_send on it from here on (setBudget checks) */
    uv_close((uv_handle_t *)&s->to_main, NULL);
    call_js_drained(s);
  }
}

/* ---- N-API surface ---- */

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "line-fast: N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

/* A required option: a number >= 0, or -1. The limits' defaults live in the settings table
 * (src/config/settings.ts) only; line-native.ts always passes all four. */
static double get_number(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  double d;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0))
    return -1;
  return d;
}

static server_t *get_server(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], resource_name, external;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "create(options, onUnicode)");
    return NULL;
  }
  double max_line = get_number(env, argv[0], "maxLine"), idle_ms = get_number(env, argv[0], "idleMs");
  double line_timeout_ms = get_number(env, argv[0], "lineTimeoutMs"), buffer_limit = get_number(env, argv[0], "bufferLimit");
  if (max_line < 0 || idle_ms < 0 || line_timeout_ms < 0 || buffer_limit < 0) {
    napi_throw_type_error(env, NULL, "create(options): maxLine, idleMs, lineTimeoutMs and bufferLimit are required numbers");
    return NULL;
  }
  server_t *s = calloc(1, sizeof *s);
  if (!s) {
    napi_throw_error(env, NULL, "line-fast: out of memory");
    return NULL;
  }
  s->env = env;
  s->budget = UINT64_MAX; /* no budget until setBudget */
  CHECK(napi_get_uv_event_loop(env, &s->loop));
  s->max_line = (size_t)max_line;
  s->idle_ms = (uint64_t)idle_ms;
  s->line_timeout_ms = (uint64_t)line_timeout_ms;
  s->buffer_limit = (size_t)buffer_limit;
  CHECK(napi_create_reference(env, argv[1], 1, &s->on_unicode));
  CHECK(napi_create_string_utf8(env, "raas.line-native", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(napi_async_init(env, NULL, resource_name, &s->async));
  pthread_mutex_init(&s->lock, NULL);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  s->wake_kind = K_WAKE;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->wake_kind};
  if (s->epfd < 0 || s->wakefd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev) != 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  uv_async_init(s->loop, &s->to_main, on_to_main);
  s->to_main.data = s;
  /* Referenced from the first listen() until drained: like a listening net.Server, it keeps the
   * process alive then, and only then. */
  uv_unref((uv_handle_t *)&s->to_main);
  /* Signals stay with the main thread (libuv's handlers); a small stack is plenty here. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int rc = pthread_create(&s->thread, &attr, serve_thread, s);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    napi_throw_error(env, NULL, strerror(rc));
    return NULL;
  }
  CHECK(napi_create_external(env, s, NULL, NULL, &external));
  return external;
}

static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd, backlog;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc == 3 ? get_server(env, argv[0]) : NULL;
  if (!s || napi_get_value_int32(env, argv[1], &fd) != napi_ok || napi_get_value_int32(env, argv[2], &backlog) != napi_ok) {
    napi_throw_type_error(env, NULL, "listen(server, fd, backlog)");
    return NULL;
  }
  pthread_mutex_lock(&s->lock);
  int full = s->nlisteners >= MAX_LISTENERS || s->drain_requested;
  /* Only the main thread adds listeners (and none once draining): the index stays free. */
  int index = s->nlisteners;
  pthread_mutex_unlock(&s->lock);
  if (full) {
    napi_throw_error(env, NULL, "line-fast: too many listeners, or draining");
    return NULL;
  }
  listener_t *l = calloc(1, sizeof *l);
  if (!l) {
    napi_throw_error(env, NULL, "line-fast: out of memory");
    return NULL;
  }
  l->kind = K_LISTENER;
  l->fd = fd;
  l->index = index; /* before epoll_ctl: the thread may accept on it at once */
  /* listen(2) again on the shared socket: the backlog is the last caller's (as net.Server does).
   * Non-blocking: another worker may take the connection we were woken for. */
  int flags = 1;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = l};
  /* TCP_DEFER_ACCEPT: the kernel queues a connection for accept once its first bytes (or FIN)
   * are in, so the first recv almost always has the line: without it most connections are
   * accepted a few microseconds before their data, and cost recv (EAGAIN) + epoll_ctl + an
   * epoll_wait more. A client silent that long is queued anyway when the period ends; then the
   * idle-timeout runs as usual. Best effort: a failure only costs those syscalls. */
  int defer_s = DEFER_ACCEPT_S;
  setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s);
  if (listen(fd, backlog) != 0 || ioctl(fd, FIONBIO, &flags) != 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    free(l);
    napi_throw_error(env, NULL, strerror(err));
    return NULL;
  }
  pthread_mutex_lock(&s->lock);
  s->listeners[s->nlisteners++] = l;
  pthread_mutex_unlock(&s->lock);
  uv_ref((uv_handle_t *)&s->to_main);
  napi_value result;
  CHECK(napi_create_int32(env, index, &result));
  return result;
}

static napi_value js_drain(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc == 2 ? get_server(env, argv[0]) : NULL;
  if (!s) {
    napi_throw_type_error(env, NULL, "drain(server, onDrained)");
    return NULL;
  }
  pthread_mutex_lock(&s->lock);
  int again = s->drain_requested;
  s->drain_requested = 1;
  pthread_mutex_unlock(&s->lock);
  if (again) return NULL; /* line-native.ts drains once */
  CHECK(napi_create_reference(env, argv[1], 1, &s->on_drained));
  uint64_t one = 1;
  if (write(s->wakefd, &one, sizeof one) < 0) { /* the counter cannot overflow here */ }
  return NULL;
}

/* setBudget(server, total, onReached?): onReached(answered) once, when the answers of every
 * listener (since create) reach `total`: from the main thread's next turn, with the exact total
 * at which it was reached. Called again, it moves the budget (onReached omitted: kept). */
static napi_value js_set_budget(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  double total;
  napi_valuetype type = napi_undefined;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc >= 2 ? get_server(env, argv[0]) : NULL;
  if (argc >= 3) CHECK(napi_typeof(env, argv[2], &type));
  if (!s || napi_get_value_double(env, argv[1], &total) != napi_ok || !(total >= 1) ||
      (type != napi_undefined && type != napi_function)) {
    napi_throw_type_error(env, NULL, "setBudget(server, total >= 1, onReached?)");
    return NULL;
  }
  if (s->reached_called) return NULL; /* once */
  if (type == napi_function) {
    if (s->on_reached) napi_delete_reference(env, s->on_reached);
    CHECK(napi_create_reference(env, argv[2], 1, &s->on_reached));
  }
  uint64_t budget = total >= 1.8e19 ? UINT64_MAX : (uint64_t)total;
  /* release: the thread's acquire load in count_answer sees it from its next answer */
  __atomic_store_n(&s->budget, budget, __ATOMIC_RELEASE);
  /* Already there (a budget moved below the total, or answers between the caller's read and
   * now): the thread may answer nothing more, so record it here; the callback still comes from
   * on_to_main, never from inside this call. */
  uint64_t n = __atomic_load_n(&s->answered_total, __ATOMIC_ACQUIRE);
  if (n >= budget && !s->closed) {
    uint64_t none = 0;
    if (__atomic_compare_exchange_n(&s->reached_at, &none, n, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
      uv_async_send(&s->to_main); /* thread-safe; the handle is open (not closed) */
  }
  return NULL;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], arr, v;
  napi_valuetype type = napi_undefined;
  int32_t only = -1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc >= 1 ? get_server(env, argv[0]) : NULL;
  if (argc >= 2) CHECK(napi_typeof(env, argv[1], &type));
  if (!s || (type != napi_undefined &&
             (napi_get_value_int32(env, argv[1], &only) != napi_ok || only < 0 || only >= MAX_LISTENERS))) {
    napi_throw_type_error(env, NULL, "stats(server, listener?)");
    return NULL;
  }
  enum { NVALUES = STAT_HISTOGRAM + NBOUNDS + 1 };
  uint64_t values[NVALUES] = {0};
  for (int i = only < 0 ? 0 : only; i < (only < 0 ? MAX_LISTENERS : only + 1); i++) {
    counters_t *k = &s->counts[i];
    values[STAT_ACCEPTED] += __atomic_load_n(&k->accepted, __ATOMIC_RELAXED);
    values[STAT_ANSWERED] += __atomic_load_n(&k->answered, __ATOMIC_RELAXED);
    values[STAT_ERRORS] += __atomic_load_n(&k->errors, __ATOMIC_RELAXED);
    values[STAT_OPEN] += __atomic_load_n(&k->open, __ATOMIC_RELAXED);
    values[STAT_TIMEOUTS] += __atomic_load_n(&k->timeouts, __ATOMIC_RELAXED);
    values[STAT_BUSY] += __atomic_load_n(&k->busy, __ATOMIC_RELAXED);
    values[STAT_LATENCY_SUM_US] += __atomic_load_n(&k->latency_sum_us, __ATOMIC_RELAXED);
    for (size_t b = 0; b <= NBOUNDS; b++) values[STAT_HISTOGRAM + b] += __atomic_load_n(&k->latency[b], __ATOMIC_RELAXED);
  }
  CHECK(napi_create_array_with_length(env, NVALUES, &arr));
  for (uint32_t i = 0; i < NVALUES; i++) {
    CHECK(napi_create_double(env, (double)values[i], &v));
    CHECK(napi_set_element(env, arr, i, v));
  }
  return arr;
}

/* Tests: reverseGraphemes(buffer) -> the reversed bytes, or undefined outside the C subset. */
static napi_value js_reverse_graphemes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out = NULL;
  void *data, *copy;
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "reverseGraphemes(buffer)");
    return NULL;
  }
  char *tmp = malloc(len ? len : 1);
  if (!tmp) return NULL;
  if (reverse_graphemes(data, len, tmp)) {
    if (napi_create_buffer(env, len, &copy, &out) == napi_ok) memcpy(copy, tmp, len);
  } else {
    napi_get_undefined(env, &out);
  }
  free(tmp);
  return out;
}

static napi_value js_listen_loopback(napi_env env, napi_callback_info info) {
  (void)info;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof addr;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 511) != 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    napi_throw_error(env, NULL, strerror(err));
    return NULL;
  }
  napi_value arr, v;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  CHECK(napi_create_int32(env, fd, &v));
  CHECK(napi_set_element(env, arr, 0, v));
  CHECK(napi_create_int32(env, ntohs(addr.sin_port), &v));
  CHECK(napi_set_element(env, arr, 1, v));
  return arr;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_default, NULL},
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL},
      {"drain", NULL, js_drain, NULL, NULL, NULL, napi_default, NULL},
      {"setBudget", NULL, js_set_budget, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"listenLoopback", NULL, js_listen_loopback, NULL, NULL, NULL, napi_default, NULL},
      {"reverseGraphemes", NULL, js_reverse_graphemes, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
