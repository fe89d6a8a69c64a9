/*
 * fdutil: setCloexec(fd) sets FD_CLOEXEC on a file descriptor.
 * Runs in: workers, on each inherited listening socket (and the IPC channel) before the app loads.
 *
 * A listening socket a worker inherits must not leak into the processes the app starts: a
 * long-lived subprocess would keep the port bound after RAAS exits (Unicorn sets close-on-exec
 * on its listeners for the same reason). Node has no API for fcntl(2). N-API only (ABI-stable
 * across Node versions). setCloexec(fd: number) -> undefined; throws with the errno name on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <string.h>

static napi_value set_cloexec(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "setCloexec(fd): fd must be a non-negative integer");
    return NULL;
  }
  /* F_GETFD/F_SETFD: the descriptor flags (FD_CLOEXEC is the only one), not the file's status flags. */
  int flags = fcntl(fd, F_GETFD);
  if (flags == -1 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == -1) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "setCloexec", NAPI_AUTO_LENGTH, set_cloexec, NULL, &fn);
  napi_set_named_property(env, exports, "setCloexec", fn);
  return exports;
}
