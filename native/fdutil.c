/*
 * fdutil: two small fd helpers Node has no API for.
 * Runs in: workers (setCloexec, on each inherited listening socket and the IPC channel before the
 * app loads) and the master (listenQueue, once a second per TCP listener, for the stats).
 *
 * listenQueue(fd) -> [depth, max] | undefined: the accept queue of a listening TCP socket (IPv4 or
 * IPv6) from getsockopt(TCP_INFO): for a LISTEN socket Linux reports the queue's current length in
 * tcpi_unacked and its limit (the backlog listen(2) settled on) in tcpi_sacked, as raindrops reads
 * it for Unicorn. One syscall, instead of the /proc/net/tcp{,6} text the kernel must generate by
 * walking its socket tables (measured: ~20 ms of master CPU a second on a loaded machine).
 * undefined: not a listening TCP socket.
 *
 * A listening socket a worker inherits must not leak into the processes the app starts: a
 * long-lived subprocess would keep the port bound after RAAS exits (Unicorn sets close-on-exec
 * on its listeners for the same reason). Node has no API for fcntl(2). N-API only (ABI-stable
 * across Node versions). setCloexec(fd: number) -> undefined; throws with the errno name on failure.
 *
 * dupCloexec(fd) -> number: a close-on-exec duplicate (fcntl F_DUPFD_CLOEXEC) of an inherited
 * listening socket, for a zero-code app's server to own: when the app closes that server, only
 * the duplicate is closed, and a later listen() gets a new one (src/protocols/http/listen-router.ts).
 * Throws with the errno text on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <node_api.h>
#include <string.h>

/* The call's only argument as a file descriptor; -1 (a TypeError thrown) when it is not one. */
static int32_t fd_argument(napi_env env, napi_callback_info info, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  return fd;
}

static napi_value set_cloexec(napi_env env, napi_callback_info info) {
  int32_t fd = fd_argument(env, info, "setCloexec(fd): fd must be a non-negative integer");
  if (fd < 0) return NULL;
  /* F_GETFD/F_SETFD: the descriptor flags (FD_CLOEXEC is the only one), not the file's status flags. */
  int flags = fcntl(fd, F_GETFD);
  if (flags == -1 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == -1) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  return NULL;
}

static napi_value dup_cloexec(napi_env env, napi_callback_info info) {
  int32_t fd = fd_argument(env, info, "dupCloexec(fd): fd must be a non-negative integer");
  if (fd < 0) return NULL;
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy == -1) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value out;
  napi_create_int32(env, copy, &out);
  return out;
}

static napi_value listen_queue(napi_env env, napi_callback_info info) {
  int32_t fd = fd_argument(env, info, "listenQueue(fd): fd must be a non-negative integer");
  if (fd < 0) return NULL;
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  /* getsockopt(TCP_INFO): fails with ENOTSOCK/EOPNOTSUPP on anything but a TCP socket. */
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || ti.tcpi_state != TCP_LISTEN) return NULL;
  napi_value out, depth, max;
  napi_create_array_with_length(env, 2, &out);
  napi_create_uint32(env, ti.tcpi_unacked, &depth);
  napi_create_uint32(env, ti.tcpi_sacked, &max);
  napi_set_element(env, out, 0, depth);
  napi_set_element(env, out, 1, max);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "listenQueue", NAPI_AUTO_LENGTH, listen_queue, NULL, &fn);
  napi_set_named_property(env, exports, "listenQueue", fn);
  napi_create_function(env, "setCloexec", NAPI_AUTO_LENGTH, set_cloexec, NULL, &fn);
  napi_set_named_property(env, exports, "setCloexec", fn);
  napi_create_function(env, "dupCloexec", NAPI_AUTO_LENGTH, dup_cloexec, NULL, &fn);
  napi_set_named_property(env, exports, "dupCloexec", fn);
  return exports;
}
