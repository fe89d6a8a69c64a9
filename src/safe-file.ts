// Files RAAS writes where another local user might have a say: the master's small state files (pid
// file, status files), the log files (log-file, access-log) and the stuck-worker reports. Written,
// appended to and read so that another user cannot make RAAS overwrite or append to a file of their
// choosing (a planted symlink), feed it a file of their own, or read what it writes.
// Runs in: master (state files, log-file, reads of reports), workers (log-file, access-log, reports)
// and control commands (read).
//
// A write goes to a temp file with an unpredictable name in the target's directory, created with
// O_CREAT|O_EXCL|O_NOFOLLOW (a symlink or a file planted there in advance makes the open fail
// instead of being followed or reused), given its mode explicitly (so umask 000 cannot make it
// world-writable), then renamed over the target (readers see the old content or the new, never half
// of it; a symlink at the target is replaced, not followed). Every failure is thrown with the path
// in the message and the temp file removed. A read opens without following a symlink, checks that
// it is a regular file owned by the expected user, and only then reads it. A log file is opened for
// appending the same way (openAppendFile): never through a symlink, only when it belongs to us or
// root, created with its mode given explicitly.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { errorMessage } from './errors.js';

export class UnsafeFileError extends Error {
  override readonly name = 'UnsafeFileError';
}

const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_APPEND } = fs.constants;
/** Far above any pid or status file: a bigger file is not ours. */
const MAX_READ_BYTES = 1024 * 1024;

/**
 * `bytes` unpredictable bytes as hex, for temp and report names. Read from the kernel's
 * /dev/urandom: node:crypto would add ~1.3 MiB to the master's RSS (measured on Node 20) for
 * these few bytes. Where /dev/urandom cannot be read, node:crypto is loaded then.
 */
export function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  try {
    const fd = fs.openSync('/dev/urandom', O_RDONLY);
    try {
      if (fs.readSync(fd, buf, 0, bytes, null) === bytes) return buf.toString('hex');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // no /dev/urandom (Windows, a chroot without /dev): node:crypto below
  }
  const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  return crypto.randomBytes(bytes).toString('hex');
}

/** Our real uid, or null where the platform has none (Windows). */
export function ourUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? errorMessage(err);
}

/**
 * Refuses a directory every user may write to, unless it is sticky (like /tmp): there another user
 * could rename or delete our files, or put theirs in place. In a sticky directory only a file's
 * owner may replace it, so the files themselves are checked for ownership when read.
 */
export function checkDirectory(dir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    throw new UnsafeFileError(`directory ${dir} is not usable: ${reason(err)}`);
  }
  if (!stat.isDirectory()) throw new UnsafeFileError(`${dir} is not a directory`);
  if ((stat.mode & 0o002) !== 0 && (stat.mode & 0o1000) === 0) {
    throw new UnsafeFileError(
      `directory ${dir} is writable by every user and not sticky (mode ${(stat.mode & 0o7777).toString(8)}): ` +
        'another user could replace files in it; use a directory only this user can write, e.g. /run/raas',
    );
  }
}

/** Writes `content` to `target` atomically with exactly `mode`; throws UnsafeFileError naming `target`. */
export function writeFileAtomic(target: string, content: string, mode: number): void {
  const dir = path.dirname(target);
  const data = Buffer.from(content);
  for (let attempt = 0; ; attempt++) {
    const tmp = path.join(dir, `.${path.basename(target)}.${randomHex(8)}.tmp`);
    let fd: number;
    try {
      fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    } catch (err) {
      // A clash with 64 random bits is someone guessing, or a freak: a new name either way.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 3) continue;
      throw new UnsafeFileError(`cannot write ${target}: cannot create a temp file in ${dir}: ${reason(err)}`);
    }
    try {
      try {
        fs.fchmodSync(fd, mode); // the open's mode went through the umask
        for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, target);
      return;
    } catch (err) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // not created or already renamed
      }
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST' ? 'it is a directory' : reason(err);
      throw new UnsafeFileError(`cannot write ${target}: ${why}`);
    }
  }
}

/**
 * The content of a regular file owned by `owner` (default: us); null when it does not exist.
 * Throws UnsafeFileError when it is a symlink, not a regular file, or owned by someone else, and,
 * with `privateOnly`, when other users have any access to it or it has other hard links (a file
 * RAAS writes 0600 itself, like a registry entry: anything else was not written by RAAS).
 */
export function readOwnedFile(
  file: string,
  owner: number | null = ourUid(),
  maxBytes = MAX_READ_BYTES,
  privateOnly = false,
): string | null {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang us on open.
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new UnsafeFileError(`${file} is a symbolic link: refused`);
    throw new UnsafeFileError(`cannot read ${file}: ${reason(err)}`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) throw new UnsafeFileError(`${file} is a directory`);
    if (!stat.isFile()) throw new UnsafeFileError(`${file} is not a regular file`);
    if (owner !== null && stat.uid !== owner) {
      throw new UnsafeFileError(`${file} is owned by uid ${stat.uid}, not by uid ${owner}: ignored`);
    }
    if (stat.size > maxBytes) throw new UnsafeFileError(`${file} is too large (${stat.size} bytes) to be ours`);
    if (privateOnly && (stat.mode & 0o077) !== 0) {
      throw new UnsafeFileError(`${file} has mode ${(stat.mode & 0o7777).toString(8)}, not 600: not written by RAAS, ignored`);
    }
    if (privateOnly && stat.nlink > 1) throw new UnsafeFileError(`${file} has ${stat.nlink} hard links: ignored`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** The uid owning `file` (not following a symlink), or null when it does not exist. */
export function ownerOf(file: string): number | null {
  try {
    return fs.lstatSync(file).uid;
  } catch {
    return null;
  }
}

/** What a log file is created with: the owner writes, the group (adm, say) reads, nobody else. */
export const LOG_FILE_MODE = 0o640;

/**
 * Opens `file` for appending (a log file) and returns the fd; creates it with exactly `mode` when it
 * does not exist (umask 000 cannot make it world-writable). Refuses (UnsafeFileError naming the
 * file) a symbolic link, anything but a regular file, a FIFO or a character device (/dev/null), a
 * file owned by anyone but us or root, and a regular file with other hard links: each would let
 * another user choose what our lines are appended to. An existing file keeps its mode (logrotate's
 * `create 0644` is the operator's choice). Only the last path component is checked: the
 * directories above are the operator's (as for nginx and Unicorn).
 */
export function openAppendFile(file: string, mode = LOG_FILE_MODE, owners: readonly (number | null)[] = [ourUid(), 0]): number {
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    let created = false;
    try {
      // O_EXCL first: only a file we created here gets our mode (fchmod below); an existing one
      // is opened as it is. O_NOFOLLOW on both opens: a symlink is refused, never followed.
      fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
      created = true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new UnsafeFileError(`${file} is a symbolic link: refused (name the file itself)`);
      if (code === 'EISDIR') throw new UnsafeFileError(`${file} is a directory`);
      if (code !== 'EEXIST') throw new UnsafeFileError(`cannot open ${file}: ${reason(err)}`);
      try {
        // O_NONBLOCK: a FIFO with no reader fails (ENXIO) instead of hanging the open.
        fd = fs.openSync(file, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK);
      } catch (err2) {
        const code2 = (err2 as NodeJS.ErrnoException).code;
        // Removed between the two opens (logrotate at work): try the create again.
        if (code2 === 'ENOENT' && attempt < 3) continue;
        if (code2 === 'ELOOP') throw new UnsafeFileError(`${file} is a symbolic link: refused (name the file itself)`);
        if (code2 === 'EISDIR') throw new UnsafeFileError(`${file} is a directory`);
        throw new UnsafeFileError(`cannot open ${file}: ${reason(err2)}`);
      }
    }
    try {
      checkAppendStat(file, fs.fstatSync(fd), owners);
      if (created) fs.fchmodSync(fd, mode); // the open's mode went through the umask
      return fd;
    } catch (err) {
      fs.closeSync(fd);
      if (created) {
        try {
          fs.unlinkSync(file);
        } catch {
          // already gone
        }
      }
      throw err instanceof UnsafeFileError ? err : new UnsafeFileError(`cannot open ${file}: ${reason(err)}`);
    }
  }
}

/**
 * Whether `file` passes openAppendFile's checks, without opening or creating it: the master's
 * check of a log file a worker opens (a refused file is a config error at start, not a worker that
 * cannot boot). Throws UnsafeFileError; a missing file passes (the opener creates it). The opener
 * checks again on its own fd: this is the early, clear error, not the defence.
 */
export function checkAppendFile(file: string, owners: readonly (number | null)[] = [ourUid(), 0]): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new UnsafeFileError(`cannot open ${file}: ${reason(err)}`);
  }
  checkAppendStat(file, stat, owners);
}

function checkAppendStat(file: string, stat: fs.Stats, owners: readonly (number | null)[]): void {
  if (stat.isSymbolicLink()) throw new UnsafeFileError(`${file} is a symbolic link: refused (name the file itself)`);
  if (stat.isDirectory()) throw new UnsafeFileError(`${file} is a directory`);
  if (!stat.isFile() && !stat.isFIFO() && !stat.isCharacterDevice()) {
    throw new UnsafeFileError(`${file} is not a regular file`);
  }
  if (ourUid() !== null && !owners.includes(stat.uid)) {
    const allowed = [...new Set(owners.filter((o) => o !== null))].map((o) => `uid ${o}`).join(' or ');
    throw new UnsafeFileError(`${file} is owned by uid ${stat.uid}, not by ${allowed}: refused`);
  }
  if (stat.isFile() && stat.nlink > 1) {
    throw new UnsafeFileError(`${file} has ${stat.nlink} hard links (another name could be anyone's file): refused`);
  }
}
