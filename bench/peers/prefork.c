/*
 * Bench peer: a C prefork server of the line protocol, the story's design in C. The parent binds
 * and listens, forks N workers that each loop on a blocking accept(2) of the shared socket, read
 * one line, answer it byte-reversed (ASCII) and close; the parent never accepts.
 * Runs in: its own processes, built by bench/peers.ts with cc -O2 and started by the bench.
 *
 * Usage: prefork PORT [WORKERS]   prints "ready" once the workers run; SIGTERM stops them all.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LINE (64 * 1024)

static void serve(int lfd) {
  static char in[MAX_LINE + 2], out[MAX_LINE + 2];
  for (;;) {
    int fd = accept(lfd, NULL, NULL); /* blocking: every worker sleeps in the same kernel queue */
    if (fd < 0) continue;
    size_t got = 0;
    char *nl = NULL;
    while (got < sizeof in && !nl) {
      ssize_t n = read(fd, in + got, sizeof in - got); /* blocking read of the line */
      if (n <= 0) break;
      nl = memchr(in + got, '\n', (size_t)n);
      got += (size_t)n;
    }
    size_t len = nl ? (size_t)(nl - in) : got;
    if (len > 0 && in[len - 1] == '\r') len--;
    for (size_t i = 0; i < len; i++) out[i] = in[len - 1 - i];
    out[len] = '\n';
    if (write(fd, out, len + 1) < 0) { /* the client is gone: nothing to do */ }
    close(fd);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: prefork PORT [WORKERS]\n");
    return 2;
  }
  int workers = argc > 2 ? atoi(argv[2]) : 2;
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 1024) != 0) {
    perror("prefork: bind/listen");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  pid_t pids[64];
  if (workers < 1 || workers > 64) workers = 2;
  for (int i = 0; i < workers; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      signal(SIGTERM, SIG_DFL);
      serve(lfd);
    }
  }
  printf("ready\n");
  fflush(stdout);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGQUIT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sig;
  sigwait(&set, &sig); /* the parent only waits for the stop signal */
  for (int i = 0; i < workers; i++) kill(pids[i], SIGTERM);
  while (wait(NULL) > 0) {
  }
  return 0;
}
