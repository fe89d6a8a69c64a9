// Sets the process title shown by `ps` and reports when Node had to cut it.
// Runs in: master and workers.
//
// Node can only reuse the memory of the original argv for the title, so a title longer than the
// command line that started the process is truncated. The launcher pads worker command lines
// (titleRoom) so that "[NAME] worker N" always fits; the master warns if its own title was cut.

/** Bytes the title may use for a given argv (the strings and the NULs between them). */
export function titleCapacity(argv: readonly string[]): number {
  return argv.reduce((sum, arg) => sum + Buffer.byteLength(arg) + 1, 0) - 1;
}

/** Sets the title; returns what `ps` will actually show when it had to be cut, else null. */
export function setProcessTitle(title: string): string | null {
  process.title = title;
  const shown = process.title;
  return shown === title ? null : shown;
}

/**
 * What a `name` may be: printable ASCII without spaces or brackets (the title "[NAME] master" must
 * parse back unambiguously), at most MAX_NAME_LENGTH bytes so that "[NAME] master (old)" (31 bytes
 * at most) fits the argv room of most command lines. Checked by the settings table.
 */
export const MAX_NAME_LENGTH = 16;
export const NAME_PATTERN = new RegExp(`^[!-Z^-~]{1,${MAX_NAME_LENGTH}}$`);

export function masterTitle(name: string, old = false): string {
  return old ? `[${name}] master (old)` : `[${name}] master`;
}

export function workerTitle(name: string, slot: number): string {
  return `[${name}] worker ${slot}`;
}
