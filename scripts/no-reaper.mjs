// Runs when the native addons (native/reaper.c, native/line-fast.c) could not be compiled at
// install: RAAS works the same, except that as PID 1 it cannot reap orphaned grandchildren (use
// `docker run --init`) and the line protocol is served by its TypeScript path (slower).
// Runs in: npm install.
process.stderr.write(
  'raas: the optional native addons were not built (no C compiler or Node headers?); ' +
    'RAAS runs fine, but as PID 1 in a container use an init (docker run --init) to reap orphans, ' +
    'and the line protocol takes its TypeScript path (fast-path=js).\n',
);
