// Unit: `--watch` as a setting (a flag that may stand alone: the app's directory) and in the
// master (a reported change asks for a reload exactly as HUP does, queued behind one under way;
// the paths watched are read at start, `@app` meaning the app's directory).
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parseArgv, settingsFrom } from '../../src/config/load.js';
import { WATCH_APP_DIR } from '../../src/config/settings.js';
import { LOG } from '../../src/log.js';
import { watchedDirectories, type WatchCallbacks } from '../../src/master/watch/watch.js';
import * as fs from 'node:fs';
import { tmpDir } from '../helpers/raas.js';
import { harness } from './master-harness.js';

const CWD = '/srv/app';
const watchOf = (argv: string[]): string[] => settingsFrom({ cwd: CWD, env: {}, flags: parseArgv(argv).values }).settings.watch;

describe('--watch', () => {
  it('alone means the app\'s directory; with a PATH that path, resolved; repeatable; off by default', () => {
    assert.deepEqual(watchOf([]), []);
    assert.deepEqual(watchOf(['--watch']), [WATCH_APP_DIR]);
    assert.deepEqual(watchOf(['--watch', '--workers', '2']), [WATCH_APP_DIR]);
    assert.deepEqual(watchOf(['--watch', 'src', '--watch=lib']), [path.join(CWD, 'src'), path.join(CWD, 'lib')]);
    assert.deepEqual(watchOf(['--watch', '-w', '2']), [WATCH_APP_DIR]);
  });

  it('the master watches what it was told at start, and a change asks for a reload as HUP does', async () => {
    let watched: readonly string[] = [];
    let callbacks: WatchCallbacks | undefined;
    let closed = 0;
    const h = harness({
      settings: { watch: [WATCH_APP_DIR, '/srv/other'], app: '/srv/app/server.mjs' },
      system: {
        watchFiles(paths, cb) {
          watched = paths;
          callbacks = cb;
          return { close: () => void (closed += 1) };
        },
      },
    });
    h.master.start();
    await h.readyAll();
    assert.deepEqual(watched, ['/srv/app', '/srv/other']);
    assert.equal(h.events(LOG.WATCHING)[0]?.paths, '/srv/app,/srv/other');

    callbacks!.changed('/srv/app/server.mjs');
    await h.settle();
    assert.equal(h.events(LOG.WATCH_CHANGED)[0]?.path, '/srv/app/server.mjs');
    assert.equal(h.loads.length, 1, 'a config load began, as for HUP');
    // Another change while that reload runs: queued, not lost, and not a second load at once.
    callbacks!.changed('/srv/app/other.mjs');
    await h.settle();
    assert.equal(h.loads.length, 1);
    assert.equal(h.events(LOG.RELOAD_QUEUED).length, 1);

    callbacks!.problem('cannot watch /srv/gone: ENOENT');
    await h.settle();
    assert.match(h.events(LOG.WATCH_PROBLEM)[0]?.problem ?? '', /srv\/gone/);

    await h.signal('SIGINT');
    for (const w of h.spawned) await h.exit(w, 0);
    assert.equal(closed, 1, 'the watch ends with the master');
  });

  it('watches every directory of the tree but node_modules, .git and dot-directories; a limit says it truncated', () => {
    const root = tmpDir();
    for (const d of ['src/lib', 'node_modules/dep/lib', '.git/objects', '.cache', 'test']) fs.mkdirSync(path.join(root, d), { recursive: true });
    assert.deepEqual(watchedDirectories([root]).dirs.map((d) => path.relative(root, d)).sort(), ['', 'src', 'src/lib', 'test']);
    const limited = watchedDirectories([root], 2);
    assert.equal(limited.truncated, true);
    assert.equal(limited.dirs.length, 2);
    assert.equal(limited.dirs[0], root);
  });
});
