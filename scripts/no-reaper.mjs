// Runs when the optional native addons (native/reaper.c, native/fdutil.c) could not be compiled at
// install: RAAS works the same, except that as PID 1 it cannot reap orphaned grandchildren (use
// `docker run --init`), and workers rely on Node marking inherited sockets close-on-exec itself
// (Node 20-26 do; a worker warns with event=fds-inheritable if not).
// Runs in: npm install.
process.stderr.write(
  'raas: the optional native addons were not built (no C compiler or Node headers?); ' +
    'RAAS runs fine, but as PID 1 in a container use an init (docker run --init) to reap orphans.\n',
);
