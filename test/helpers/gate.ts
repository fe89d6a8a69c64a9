// A gate for code the tests write into apps and config modules: it waits, without a timer, until
// the test creates a file (inotify, by way of fs.watch on the file's folder).
// Runs in: the test runner process (which writes the source); the source runs in the app's or
// the master's process.

/**
 * A JavaScript expression (ESM, `fs` = node:fs imported by the caller's source) that settles once
 * `file` exists: the watch is set up before the check, so a file created between the two is seen.
 */
export function gateSource(file: string): string {
  const dir = JSON.stringify(file.slice(0, file.lastIndexOf('/')) || '/');
  const name = JSON.stringify(file);
  return (
    `new Promise((resolve) => { const watcher = fs.watch(${dir}, () => { if (fs.existsSync(${name})) { watcher.close(); resolve(); } }); ` +
    `if (fs.existsSync(${name})) { watcher.close(); resolve(); } })`
  );
}
