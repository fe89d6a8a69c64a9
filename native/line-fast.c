/*
 * The native line-protocol path: accept, read, reverse (ASCII) and answer in C on the worker's own
 * libuv loop, without a net.Socket per connection.
 * Runs in: workers (loaded by src/protocols/line-native.ts), on the main thread only.
 *
 * A uv_poll handle watches each inherited listening fd. A connection whose line is already there
 * when it is accepted costs accept4 + recv + send + close and no allocation. Otherwise the
 * connection gets a uv_poll handle of its own until its line is complete. Lines with bytes >= 0x80
 * are handed to JavaScript (grapheme-cluster reversal, UTF-8 validation) in one call per loop
 * turn (a uv_check handle), and the replies come back as the call's return value.
 *
 * Semantics are those of src/protocols/line.ts: "\n" or "\r\n" ends the line; a client's FIN ends
 * a last line without "\n"; more than max-line bytes: "ERR line too long\n", then we half-close
 * and discard input until the client's FIN or LINGER_MS; idle-timeout closes silent connections;
 * line-timeout answers "ERR line timeout\n" to a line not complete that long after accept; more
 * than line-buffer-limit bytes held in partial lines by this worker: "ERR server busy\n".
 *
 * Exposed through N-API (stable ABI, one build for every Node line):
 *   create(options, onUnicode(lines: Buffer[]) -> (Buffer|null|undefined)[]) -> server
 *   listen(server, fd, backlog)       start accepting on an inherited listening fd
 *   drain(server, onDrained) -> bool  stop accepting at once; true if nothing is left open,
 *                                     else onDrained() runs when the last connection closes
 *   stats(server) -> [accepted, answered, errors, open]   cumulative counters, read once a beat
 *   listenLoopback() -> [fd, port]    a listening socket on 127.0.0.1, port 0 (for tests)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define SCRATCH_SIZE (64 * 1024)
#define LINGER_MS 2000
#define SWEEP_MS 100
/* Connections accepted per wake-up of a listener: a worker that takes only a few per wake leaves
 * the rest of the kernel queue to the other workers, which keeps the shares even. */
#define ACCEPT_BATCH 4

static const char ERR_TOO_LONG[] = "ERR line too long\n";
static const char ERR_INVALID_UTF8[] = "ERR invalid UTF-8\n";
static const char ERR_LINE_TIMEOUT[] = "ERR line timeout\n";
static const char ERR_BUSY[] = "ERR server busy\n";

/* One buffer for every read and one for every ASCII reply: single-threaded, never held across
 * calls (bytes that must outlive a call are copied into the connection). */
static char scratch[SCRATCH_SIZE];
static char reply_buf[SCRATCH_SIZE + 1];

typedef struct server server_t;

enum conn_state { C_READING, C_JS, C_WRITING, C_LINGER };

typedef struct conn {
  uv_poll_t poll; /* valid when has_poll */
  server_t *srv;
  int fd;
  int has_poll;
  int poll_events; /* what the poll handle watches now (0: stopped) */
  enum conn_state state;
  uint64_t accepted_ms, active_ms;
  char *buf; /* the line so far (READING, C_JS) or the unsent reply (C_WRITING) */
  size_t len, cap, sent;
  int counted; /* len is counted in srv->buffered */
  struct conn *prev, *next;     /* every open connection */
  struct conn *js_next;         /* queue of lines waiting for JavaScript */
} conn_t;

typedef struct listener {
  uv_poll_t poll;
  server_t *srv;
  int fd;
  struct listener *next;
} listener_t;

struct server {
  napi_env env;
  uv_loop_t *loop;
  napi_ref on_unicode, on_drained;
  napi_async_context async;
  size_t max_line, buffer_limit, buffered;
  uint64_t idle_ms, line_timeout_ms;
  conn_t *conns;
  size_t open;
  listener_t *listeners;
  conn_t *js_head, *js_tail;
  uv_check_t js_check;
  int js_check_active;
  uv_timer_t sweep;
  int sweep_active;
  int draining;
  uint64_t accepted, answered, errors;
};

static void conn_poll(conn_t *c, int events);
static void call_drained(server_t *s);
static void on_sweep(uv_timer_t *t);
static void on_js_check(uv_check_t *h);

/* ---- connection bookkeeping ---- */

static conn_t *conn_new(server_t *s, int fd) {
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->srv = s;
  c->fd = fd;
  c->state = C_READING;
  c->accepted_ms = c->active_ms = uv_now(s->loop);
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->open++;
  if (!s->sweep_active) {
    uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    s->sweep_active = 1;
  }
  return c;
}

static void conn_free_cb(uv_handle_t *h) { free(h->data); }

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
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->open--;
  if (c->has_poll) {
    /* uv_close stops watching the fd at once (only the free is deferred): the fd can be closed
     * now without libuv ever seeing a reused number. */
    c->poll.data = c;
    uv_close((uv_handle_t *)&c->poll, conn_free_cb);
    close(c->fd);
  } else {
    close(c->fd);
    free(c);
  }
  if (s->draining && s->open == 0) call_drained(s);
}

/* Appends to the connection's line; 0 when the worker's line-buffer-limit would be exceeded. */
static int conn_append(conn_t *c, const char *data, size_t n) {
  server_t *s = c->srv;
  if (s->buffered + n > s->buffer_limit) return 0;
  if (c->len + n > c->cap) {
    size_t cap = c->cap ? c->cap : 256;
    while (cap < c->len + n) cap *= 2;
    char *grown = realloc(c->buf, cap);
    if (!grown) return 0;
    c->buf = grown;
    c->cap = cap;
  }
  memcpy(c->buf + c->len, data, n);
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
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        conn_poll(c, UV_WRITABLE);
        return;
      }
      c->srv->errors++;
      conn_close(c);
      return;
    }
    c->sent += (size_t)n;
    c->active_ms = uv_now(c->srv->loop);
  }
  conn_close(c);
}

/* Answers `reply` and closes. `c` may be NULL (a connection answered on its first read). */
static void answer(server_t *s, conn_t *c, int fd, const char *reply, size_t n) {
  s->answered++;
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
  char *out = n + 1 <= sizeof reply_buf ? reply_buf : malloc(n + 1);
  if (!out) {
    if (c) conn_close(c);
    else close(fd);
    return;
  }
  /* ASCII characters are their own grapheme clusters (a line holds no "\r\n" pair). */
  for (size_t i = 0; i < n; i++) out[i] = line[n - 1 - i];
  out[n] = '\n';
  answer(s, c, fd, out, n + 1);
  if (out != reply_buf) free(out);
}

static void answer_error(conn_t *c, const char *msg, size_t n) {
  c->srv->errors++;
  conn_drop_buffer(c);
  answer(c->srv, c, c->fd, msg, n);
}

/* The line is over max-line: say so, half-close, and read (and discard) what the client is
 * still sending, so that closing does not turn into a RST that could destroy the reply. */
static void too_long(conn_t *c) {
  server_t *s = c->srv;
  conn_drop_buffer(c);
  s->errors++;
  s->answered++;
  if (send(c->fd, ERR_TOO_LONG, sizeof ERR_TOO_LONG - 1, MSG_NOSIGNAL) < 0 || shutdown(c->fd, SHUT_WR) < 0) {
    conn_close(c);
    return;
  }
  c->state = C_LINGER;
  c->accepted_ms = uv_now(s->loop); /* linger deadline counts from here */
  conn_poll(c, UV_READABLE);
}

/* ---- lines for JavaScript (non-ASCII) ---- */

static void queue_js(conn_t *c) {
  server_t *s = c->srv;
  c->state = C_JS;
  conn_poll(c, 0);
  c->js_next = NULL;
  if (s->js_tail) s->js_tail->js_next = c;
  else s->js_head = c;
  s->js_tail = c;
  if (!s->js_check_active) {
    uv_check_start(&s->js_check, on_js_check);
    s->js_check_active = 1;
  }
}

/* A complete line in c->buf (without "\n" / "\r\n"). */
static void finish_line(conn_t *c) {
  if (is_ascii(c->buf, c->len)) {
    char *line = c->buf;
    size_t n = c->len;
    c->buf = NULL; /* answer_ascii may close c: keep the line until it is reversed */
    if (c->counted) c->srv->buffered -= n;
    c->counted = 0;
    c->len = c->cap = 0;
    answer_ascii(c->srv, c, c->fd, line ? line : "", n);
    free(line);
  } else {
    queue_js(c);
  }
}

/* Feeds bytes read from a connection still reading its line. */
static void feed(conn_t *c, const char *data, size_t n) {
  server_t *s = c->srv;
  const char *nl = memchr(data, '\n', n);
  if (nl) {
    size_t take = (size_t)(nl - data);
    size_t total = c->len + take;
    char last = take > 0 ? data[take - 1] : (c->len > 0 ? c->buf[c->len - 1] : 0);
    if (total > 0 && last == '\r') total--; /* the "\r" of "\r\n" may sit in an earlier read */
    if (total > s->max_line) {
      too_long(c);
      return;
    }
    if (!conn_append(c, data, take)) {
      answer_error(c, ERR_BUSY, sizeof ERR_BUSY - 1);
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
  if (!conn_append(c, data, n)) {
    answer_error(c, ERR_BUSY, sizeof ERR_BUSY - 1);
    return;
  }
  conn_poll(c, UV_READABLE);
}

/* ---- I/O callbacks ---- */

static void on_conn_event(uv_poll_t *h, int status, int events) {
  conn_t *c = h->data;
  server_t *s = c->srv;
  if (status < 0) {
    s->errors++;
    conn_close(c);
    return;
  }
  if (c->state == C_WRITING) {
    if (events & UV_WRITABLE) conn_flush(c);
    return;
  }
  if (!(events & UV_READABLE)) return;
  ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    s->errors++; /* a reset mid-line: the client's business, nothing to answer */
    conn_close(c);
    return;
  }
  c->active_ms = uv_now(s->loop);
  if (c->state == C_LINGER) {
    if (n == 0) conn_close(c);
    return;
  }
  if (c->state != C_READING) return;
  if (n > 0) {
    feed(c, scratch, (size_t)n);
    return;
  }
  /* The client half-closed: what it sent is the line (a trailing "\r" stays part of it). */
  if (c->len > s->max_line) too_long(c);
  else finish_line(c);
}

/* Starts, changes or stops (events 0) the connection's poll handle. */
static void conn_poll(conn_t *c, int events) {
  if (c->poll_events == events) return;
  if (!c->has_poll) {
    if (events == 0) return;
    if (uv_poll_init_socket(c->srv->loop, &c->poll, c->fd) != 0) {
      conn_close(c);
      return;
    }
    c->poll.data = c;
    c->has_poll = 1;
  }
  if (events == 0) uv_poll_stop(&c->poll);
  else uv_poll_start(&c->poll, events, on_conn_event);
  c->poll_events = events;
}

/* A connection just accepted: its line is often there already. */
static void serve_new(server_t *s, int fd) {
  ssize_t n = recv(fd, scratch, sizeof scratch, 0);
  if (n > 0) {
    const char *nl = memchr(scratch, '\n', (size_t)n);
    if (nl) {
      size_t len = (size_t)(nl - scratch);
      if (len > 0 && scratch[len - 1] == '\r') len--;
      if (len <= s->max_line && is_ascii(scratch, len)) {
        answer_ascii(s, NULL, fd, scratch, len);
        return;
      }
    }
    conn_t *c = conn_new(s, fd);
    if (!c) {
      close(fd);
      return;
    }
    feed(c, scratch, (size_t)n);
    return;
  }
  if (n == 0) {
    /* FIN before any byte: an empty last line, answered with an empty line. */
    answer_ascii(s, NULL, fd, "", 0);
    return;
  }
  if (errno != EAGAIN && errno != EWOULDBLOCK) {
    s->errors++;
    close(fd);
    return;
  }
  conn_t *c = conn_new(s, fd);
  if (!c) {
    close(fd);
    return;
  }
  conn_poll(c, UV_READABLE);
}

static void on_listener_event(uv_poll_t *h, int status, int events) {
  listener_t *l = h->data;
  server_t *s = l->srv;
  (void)events;
  if (status < 0 || s->draining) return;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    /* Another worker may have taken it first (every worker wakes): EAGAIN, back to the loop. */
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or EMFILE/ENFILE/ENOBUFS: the poll fires again later */
    s->accepted++;
    serve_new(s, fd);
  }
}

/* Every SWEEP_MS while connections are open: idle-timeout, line-timeout and the linger end. */
static void on_sweep(uv_timer_t *t) {
  server_t *s = t->data;
  uint64_t now = uv_now(s->loop);
  conn_t *c = s->conns;
  while (c) {
    conn_t *next = c->next;
    if (c->state == C_LINGER && now - c->accepted_ms >= LINGER_MS) conn_close(c);
    else if (now - c->active_ms >= s->idle_ms && c->state != C_JS) conn_close(c);
    else if (c->state == C_READING && now - c->accepted_ms >= s->line_timeout_ms)
      answer_error(c, ERR_LINE_TIMEOUT, sizeof ERR_LINE_TIMEOUT - 1);
    c = next;
  }
  if (!s->conns) {
    uv_timer_stop(&s->sweep);
    s->sweep_active = 0;
  }
}

/* Once per loop turn with lines queued: one JavaScript call for all of them. */
static void on_js_check(uv_check_t *h) {
  server_t *s = h->data;
  napi_env env = s->env;
  uv_check_stop(&s->js_check);
  s->js_check_active = 0;
  conn_t *head = s->js_head;
  s->js_head = s->js_tail = NULL;
  if (!head) return;

  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  uint32_t count = 0;
  for (conn_t *c = head; c; c = c->js_next) count++;
  napi_value lines, fn, recv_obj, result = NULL;
  napi_create_array_with_length(env, count, &lines);
  uint32_t i = 0;
  for (conn_t *c = head; c; c = c->js_next, i++) {
    napi_value b;
    napi_create_buffer_copy(env, c->len, c->buf ? c->buf : "", NULL, &b);
    napi_set_element(env, lines, i, b);
  }
  napi_get_reference_value(env, s->on_unicode, &fn);
  napi_get_global(env, &recv_obj); /* make_callback wants an object receiver */
  napi_status st = napi_make_callback(env, s->async, recv_obj, fn, 1, &lines, &result);
  if (st != napi_ok) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    result = NULL;
  }
  i = 0;
  for (conn_t *c = head, *next; c; c = next, i++) {
    next = c->js_next;
    napi_value r = NULL;
    napi_valuetype t = napi_undefined;
    if (result) napi_get_element(env, result, i, &r);
    if (r) napi_typeof(env, r, &t);
    bool is_buf = false;
    if (r && t == napi_object) napi_is_buffer(env, r, &is_buf);
    conn_drop_buffer(c);
    if (is_buf) {
      void *data;
      size_t len;
      napi_get_buffer_info(env, r, &data, &len);
      answer(s, c, c->fd, data, len);
    } else if (t == napi_null) {
      s->errors++;
      answer(s, c, c->fd, ERR_INVALID_UTF8, sizeof ERR_INVALID_UTF8 - 1);
    } else {
      s->errors++; /* the handler failed (JavaScript logged it): close without a reply */
      conn_close(c);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void call_drained(server_t *s) {
  if (!s->on_drained) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv_obj, ignored;
  napi_get_reference_value(env, s->on_drained, &fn);
  napi_delete_reference(env, s->on_drained);
  s->on_drained = NULL;
  napi_get_global(env, &recv_obj); /* make_callback wants an object receiver */
  if (napi_make_callback(env, s->async, recv_obj, fn, 0, NULL, &ignored) != napi_ok)
    napi_get_and_clear_last_exception(env, &ignored);
  napi_close_handle_scope(env, scope);
}

/* ---- N-API surface ---- */

#define CHECK(call)                                                       \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, NULL, "line-fast: N-API call failed: " #call); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static double get_number(napi_env env, napi_value obj, const char *key, double fallback) {
  napi_value v;
  double d;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return fallback;
  if (napi_get_value_double(env, v, &d) != napi_ok) return fallback;
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
  server_t *s = calloc(1, sizeof *s);
  if (!s) {
    napi_throw_error(env, NULL, "line-fast: out of memory");
    return NULL;
  }
  s->env = env;
  CHECK(napi_get_uv_event_loop(env, &s->loop));
  s->max_line = (size_t)get_number(env, argv[0], "maxLine", 64 * 1024);
  s->idle_ms = (uint64_t)get_number(env, argv[0], "idleMs", 10000);
  s->line_timeout_ms = (uint64_t)get_number(env, argv[0], "lineTimeoutMs", 5000);
  s->buffer_limit = (size_t)get_number(env, argv[0], "bufferLimit", 16 * 1024 * 1024);
  CHECK(napi_create_reference(env, argv[1], 1, &s->on_unicode));
  CHECK(napi_create_string_utf8(env, "raas.line-native", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(napi_async_init(env, NULL, resource_name, &s->async));
  uv_check_init(s->loop, &s->js_check);
  s->js_check.data = s;
  uv_unref((uv_handle_t *)&s->js_check);
  uv_timer_init(s->loop, &s->sweep);
  s->sweep.data = s;
  uv_unref((uv_handle_t *)&s->sweep);
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
  /* listen(2) again on the shared socket: the backlog is the last caller's (as net.Server does). */
  if (listen(fd, backlog) != 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  listener_t *l = calloc(1, sizeof *l);
  if (!l) {
    napi_throw_error(env, NULL, "line-fast: out of memory");
    return NULL;
  }
  l->srv = s;
  l->fd = fd;
  int rc = uv_poll_init_socket(s->loop, &l->poll, fd); /* also sets O_NONBLOCK */
  if (rc == 0) {
    l->poll.data = l;
    rc = uv_poll_start(&l->poll, UV_READABLE, on_listener_event);
  }
  if (rc != 0) {
    free(l);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  l->next = s->listeners;
  s->listeners = l;
  return NULL;
}

static void listener_free_cb(uv_handle_t *h) { free(h->data); }

static napi_value js_drain(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc == 2 ? get_server(env, argv[0]) : NULL;
  if (!s) {
    napi_throw_type_error(env, NULL, "drain(server, onDrained)");
    return NULL;
  }
  s->draining = 1;
  /* Stop accepting at once: the kernel queue is left to the other workers (close(2) of our copy
   * of the fd never closes the socket while the master and the others hold theirs). */
  for (listener_t *l = s->listeners, *next; l; l = next) {
    next = l->next;
    uv_close((uv_handle_t *)&l->poll, listener_free_cb);
    close(l->fd);
  }
  s->listeners = NULL;
  if (s->open > 0 && !s->on_drained) CHECK(napi_create_reference(env, argv[1], 1, &s->on_drained));
  CHECK(napi_get_boolean(env, s->open == 0, &out));
  return out;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr, v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc == 1 ? get_server(env, argv[0]) : NULL;
  if (!s) {
    napi_throw_type_error(env, NULL, "stats(server)");
    return NULL;
  }
  double values[4] = {(double)s->accepted, (double)s->answered, (double)s->errors, (double)s->open};
  CHECK(napi_create_array_with_length(env, 4, &arr));
  for (uint32_t i = 0; i < 4; i++) {
    CHECK(napi_create_double(env, values[i], &v));
    CHECK(napi_set_element(env, arr, i, v));
  }
  return arr;
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
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"listenLoopback", NULL, js_listen_loopback, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
