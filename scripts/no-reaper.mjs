// Runs when the orphan reaper (native/reaper.c) could not be compiled at install: RAAS works
// the same, except that as PID 1 it cannot reap orphaned grandchildren (use `docker run --init`).
// Runs in: npm install.
process.stderr.write(
  'raas: the optional orphan reaper was not built (no C compiler or Node headers?); ' +
    'RAAS runs fine, but as PID 1 in a container use an init (docker run --init) to reap orphans.\n',
);
