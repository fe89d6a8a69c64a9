// Runs when the optional native addons (native/reaper.c, native/fdutil.c, native/line-fast.c) could
// not be compiled at install: RAAS works the same, except that as PID 1 it cannot reap orphaned
// grandchildren (use `docker run --init`), workers rely on Node marking inherited sockets
// close-on-exec itself (Node 20-26 do; a worker warns with event=fds-inheritable if not), and the
// line protocol is served by its TypeScript path (slower).
// Runs in: npm install.
process.stderr.write(
  'raas: the optional native addons were not built (no C compiler or Node headers?); ' +
    'RAAS runs fine, but as PID 1 in a container use an init (docker run --init) to reap orphans, ' +
    'and the line protocol takes its TypeScript path (fast-path=js).\n',
);
