// The master's small state files (pid file, status files), written and read so that another local
// user cannot make the master overwrite a file of their choosing or feed it a file of their own.
// Runs in: master (writes and reads) and control commands (read).
//
// A write goes to a temp file with an unpredictable name in the target's directory, created with
// O_CREAT|O_EXCL|O_NOFOLLOW (a symlink or a file planted there in advance makes the open fail
// instead of being followed or reused), given its mode explicitly (so umask 000 cannot make it
// world-writable), then renamed over the target (readers see the old content or the new, never half
// of it; a symlink at the target is replaced, not followed). Every failure is thrown with the path
// in the message and the temp file removed. A read opens without following a symlink, checks that
// it is a regular file owned by the expected user, and only then reads it.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

export class UnsafeFileError extends Error {
  override readonly name = 'UnsafeFileError';
}

const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
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
  return e?.code ?? (e instanceof Error ? e.message : String(err));
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
 * Throws UnsafeFileError when it is a symlink, not a regular file, or owned by someone else.
 */
export function readOwnedFile(file: string, owner: number | null = ourUid()): string | null {
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
    if (stat.size > MAX_READ_BYTES) throw new UnsafeFileError(`${file} is too large (${stat.size} bytes) to be ours`);
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
