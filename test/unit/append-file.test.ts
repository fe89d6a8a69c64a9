// Unit tests of the log files' safe open (src/safe-file.ts openAppendFile, checkAppendFile)
// and of the rate-limited counter's details (src/protocols/event-counter.ts), on real files.
// Runs in: the node:test runner process; files in a temp directory.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Logger } from '../../src/log.js';
import { checkAppendFile, LOG_FILE_MODE, openAppendFile, UnsafeFileError } from '../../src/safe-file.js';
import { EventCounter } from '../../src/protocols/event-counter.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raas-append-file-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const asRoot = process.getuid?.() === 0;

function dir(): string {
  return fs.mkdtempSync(path.join(tmp, 'd-'));
}

function appendThrough(file: string, text: string): void {
  const fd = openAppendFile(file);
  try {
    fs.writeSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

describe('openAppendFile', () => {
  it('creates a missing file with exactly 0640 under umask 000, and appends to an existing one', () => {
    const file = path.join(dir(), 'raas.log');
    const old = process.umask(0);
    try {
      appendThrough(file, 'a\n');
    } finally {
      process.umask(old);
    }
    assert.equal(fs.statSync(file).mode & 0o7777, LOG_FILE_MODE);
    fs.chmodSync(file, 0o644); // the operator's (logrotate's) choice is kept
    appendThrough(file, 'b\n');
    assert.equal(fs.readFileSync(file, 'utf8'), 'a\nb\n');
    assert.equal(fs.statSync(file).mode & 0o7777, 0o644);
  });

  it('refuses a symlink, even to a file of ours, and leaves its target alone', () => {
    const d = dir();
    const victim = path.join(d, 'victim');
    fs.writeFileSync(victim, 'precious\n');
    const link = path.join(d, 'raas.log');
    fs.symlinkSync(victim, link);
    assert.throws(() => openAppendFile(link), (err: Error) => err instanceof UnsafeFileError && /symbolic link/.test(err.message));
    assert.throws(() => checkAppendFile(link), /symbolic link/);
    // A dangling one is not created through either.
    const dangling = path.join(d, 'dangling.log');
    fs.symlinkSync(path.join(d, 'would-be-created'), dangling);
    assert.throws(() => openAppendFile(dangling), /symbolic link/);
    assert.equal(fs.existsSync(path.join(d, 'would-be-created')), false);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  });

  it('refuses a directory and a file with a second hard link', () => {
    const d = dir();
    assert.throws(() => openAppendFile(d), /is a directory/);
    assert.throws(() => checkAppendFile(d), /is a directory/);
    const file = path.join(d, 'raas.log');
    fs.writeFileSync(file, '');
    fs.linkSync(file, path.join(d, 'other-name'));
    assert.throws(() => openAppendFile(file), /2 hard links/);
    assert.throws(() => checkAppendFile(file), /2 hard links/);
  });

  it('takes /dev/null and a FIFO with a reader; a FIFO without one fails at once instead of hanging', () => {
    fs.closeSync(openAppendFile('/dev/null'));
    const fifo = path.join(dir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => openAppendFile(fifo), /ENXIO/);
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      appendThrough(fifo, 'x\n');
      const buf = Buffer.alloc(8);
      assert.equal(fs.readSync(reader, buf), 2);
    } finally {
      fs.closeSync(reader);
    }
  });

  it('refuses a file of another user, and takes one of root', { skip: !asRoot && 'needs root (chown)' }, () => {
    const file = path.join(dir(), 'theirs.log');
    fs.writeFileSync(file, '');
    fs.chownSync(file, 65534, 65534);
    assert.throws(() => openAppendFile(file), /owned by uid 65534/);
    assert.throws(() => checkAppendFile(file), /owned by uid 65534/);
    // Root's files are ours to append to from any uid (the check passes root explicitly).
    fs.chownSync(file, 0, 0);
    assert.doesNotThrow(() => fs.closeSync(openAppendFile(file, LOG_FILE_MODE, [65534, 0])));
    assert.throws(() => openAppendFile(file, LOG_FILE_MODE, [65534]), /owned by uid 0, not by uid 65534/);
  });

  it('checkAppendFile passes a missing file and creates nothing', () => {
    const file = path.join(dir(), 'not-yet.log');
    checkAppendFile(file);
    assert.equal(fs.existsSync(file), false);
  });
});

describe('EventCounter details', () => {
  it('a line carries the details of the event that wrote it; held-back events are debug lines of their own', () => {
    const lines: Array<Record<string, unknown>> = [];
    const at = (level: string) => (event: string, fields: Record<string, unknown>) => lines.push({ level, event, ...fields });
    const log = { warn: at('warn'), debug: at('debug') } as unknown as Logger;
    let now = 0;
    const counter = new EventCounter(log, 'warn', 'proxy-refused', { listen: 'l' }, 100, () => now);
    assert.equal(counter.note(1, { peer: 'a' }), true);
    assert.equal(counter.note(1, { peer: 'b' }), false);
    now = 100;
    assert.equal(counter.note(1, { peer: 'c' }), true);
    counter.note(1, { peer: 'd' });
    counter.flush();
    assert.deepEqual(lines, [
      { level: 'warn', event: 'proxy-refused', listen: 'l', peer: 'a', count: 1, total: 1 },
      { level: 'debug', event: 'proxy-refused', listen: 'l', peer: 'b' },
      { level: 'warn', event: 'proxy-refused', listen: 'l', peer: 'c', count: 2, total: 3 },
      { level: 'debug', event: 'proxy-refused', listen: 'l', peer: 'd' },
      { level: 'warn', event: 'proxy-refused', listen: 'l', peer: 'd', count: 1, total: 4 },
    ]);
  });
});
