// `--watch`: the dev loop. Watches the app's directory (or the paths given) and reports a change,
// debounced, so the master rolls its workers as a HUP does (new ones ready before old ones drain;
// a change that breaks the app aborts the reload and the old workers serve on).
// Runs in: master (through System.watchFiles, so unit tests fake it).
//
// Why not fs.watch({ recursive: true }): on Linux Node emulates it by watching every file of the
// tree, node_modules included, and it cannot be told to skip a directory; an app with 30k files
// in node_modules would spend its inotify watches there. So each directory that matters gets a
// watch of its own, and a directory created later gets one when it appears.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorMessage } from '../../errors.js';

/** Directories never watched, and names never reported: dependencies, VCS data, dot-files. */
const SKIPPED_DIRS = new Set(['node_modules', '.git']);
const skipped = (name: string): boolean => name.startsWith('.') || SKIPPED_DIRS.has(name);
/** A save often writes several times (editors write a temp file, rename, chmod): one change per quiet spell. */
export const WATCH_DEBOUNCE_MS = 300;
/** Beyond this many directories the rest go unwatched (and the caller is told). */
const MAX_DIRS = 2000;

export interface FileWatch {
  close(): void;
}

export interface WatchCallbacks {
  /** A debounced change: the first path that changed in the spell. */
  changed(file: string): void;
  /** A directory that cannot be watched, or the directory limit reached. */
  problem(what: string): void;
}

/** The directories under each root (the roots included) that are watched. */
export function watchedDirectories(roots: readonly string[], limit = MAX_DIRS): { dirs: string[]; truncated: boolean } {
  const dirs: string[] = [];
  const stack = [...roots].reverse();
  while (stack.length > 0) {
    const dir = stack.pop()!;
    if (dirs.length >= limit) return { dirs, truncated: true };
    dirs.push(dir);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries.reverse()) {
      if (entry.isDirectory() && !skipped(entry.name)) stack.push(path.join(dir, entry.name));
    }
  }
  return { dirs, truncated: false };
}

export function watchFiles(roots: readonly string[], callbacks: WatchCallbacks): FileWatch {
  const watchers = new Map<string, fs.FSWatcher>();
  let timer: NodeJS.Timeout | null = null;
  let first: string | null = null;
  let closed = false;

  const fire = (file: string): void => {
    first ??= file;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      const changed = first!;
      first = null;
      if (!closed) callbacks.changed(changed);
    }, WATCH_DEBOUNCE_MS);
  };

  const watchDir = (dir: string): void => {
    if (watchers.has(dir) || closed) return;
    if (watchers.size >= MAX_DIRS) return callbacks.problem(`more than ${MAX_DIRS} directories: ${dir} and beyond are not watched`);
    let watcher: fs.FSWatcher;
    // A root may be a file (`--watch config.json`): its watch reports the file itself.
    let isFile = false;
    try {
      isFile = fs.statSync(dir).isFile();
    } catch {
      // fs.watch below says what is wrong
    }
    try {
      watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
        if (isFile) return fire(dir);
        if (name === null || skipped(path.basename(String(name)))) return;
        const file = path.join(dir, String(name));
        // A new directory: watch it too (and what it already holds, if it was moved in whole).
        try {
          if (fs.statSync(file).isDirectory()) for (const sub of watchedDirectories([file]).dirs) watchDir(sub);
        } catch {
          // gone again, or a file removed: still a change
        }
        fire(file);
      });
    } catch (err) {
      return callbacks.problem(`cannot watch ${dir}: ${errorMessage(err)}`);
    }
    // A watched directory that is removed ends its watcher with an error: forget it.
    watcher.on('error', () => {
      watcher.close();
      watchers.delete(dir);
    });
    watchers.set(dir, watcher);
  };

  const { dirs, truncated } = watchedDirectories(roots);
  for (const dir of dirs) watchDir(dir);
  if (truncated) callbacks.problem(`more than ${MAX_DIRS} directories under ${roots.join(', ')}: the rest are not watched`);

  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}
