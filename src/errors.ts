// The one way RAAS turns a caught value into text for a log line or a message: its message alone,
// or its stack (which begins with the message) for errors nobody expected.
// Runs in: every process (master, workers, control commands); imports nothing.

/** What was thrown, if it looks like an error: an Error, or any object with a string message. */
function errorLike(err: unknown): { message: string; stack?: unknown } | null {
  if (err instanceof Error) return err;
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? (err as { message: string; stack?: unknown }) : null;
}

/** The message of an error; anything else thrown, as a string. */
export function errorMessage(err: unknown): string {
  return errorLike(err)?.message ?? String(err);
}

/** The stack of an error (its message when it has none); anything else thrown, as a string. */
export function errorWithStack(err: unknown): string {
  const e = errorLike(err);
  if (e === null) return String(err);
  return typeof e.stack === 'string' && e.stack !== '' ? e.stack : e.message;
}
