/*
 * The orphan reaper: waitpid(2) for zombie children the master did not start.
 * Runs in: the master, only when it is PID 1 (a container without an init).
 *
 * Node has no waitpid(-1), and calling it would steal the exit statuses libuv waits for. So this
 * reaps by pid: it lists our children from /proc, skips every pid the master started itself
 * (passed in), and reaps only those in state Z. Exposed through N-API (ABI-stable across Node
 * versions): reapOrphans(knownPids: number[]) -> Array<[pid, rawStatus]>.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KNOWN 4096
#define MAX_REAPED 1024

static int is_zombie(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *close_paren = strrchr(buf, ')');
  return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

static int known(pid_t pid, const pid_t *pids, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (pids[i] == pid) return 1;
  return 0;
}

static napi_value reap_orphans(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  pid_t pids[MAX_KNOWN];
  uint32_t count = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) {
    napi_get_array_length(env, argv[0], &count);
    if (count > MAX_KNOWN) count = MAX_KNOWN;
    for (uint32_t i = 0; i < count; i++) {
      napi_value item;
      int32_t value = 0;
      napi_get_element(env, argv[0], i, &item);
      napi_get_value_int32(env, item, &value);
      pids[i] = (pid_t)value;
    }
  }
  napi_create_array(env, &result);
  uint32_t reaped = 0;
  /* Children may hang under any thread of ours, so read every task's list. */
  DIR *tasks = opendir("/proc/self/task");
  if (!tasks) return result;
  struct dirent *task;
  while ((task = readdir(tasks)) != NULL && reaped < MAX_REAPED) {
    if (task->d_name[0] == '.') continue;
    char path[300];
    snprintf(path, sizeof path, "/proc/self/task/%s/children", task->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    int child;
    while (fscanf(f, "%d", &child) == 1 && reaped < MAX_REAPED) {
      if (known((pid_t)child, pids, count) || !is_zombie((pid_t)child)) continue;
      int status = 0;
      if (waitpid((pid_t)child, &status, WNOHANG) == (pid_t)child) {
        napi_value pair, pid_value, status_value;
        napi_create_array_with_length(env, 2, &pair);
        napi_create_int32(env, child, &pid_value);
        napi_create_int32(env, status, &status_value);
        napi_set_element(env, pair, 0, pid_value);
        napi_set_element(env, pair, 1, status_value);
        napi_set_element(env, result, reaped++, pair);
      }
    }
    fclose(f);
  }
  closedir(tasks);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "reapOrphans", NAPI_AUTO_LENGTH, reap_orphans, NULL, &fn);
  napi_set_named_property(env, exports, "reapOrphans", fn);
  return exports;
}
