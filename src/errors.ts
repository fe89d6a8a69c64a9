// The one way RAAS turns a caught value into text for a log line or a message: its message alone,
// or its stack (which begins with the message) for errors nobody expected, or one line with where
// it was thrown (errorSummary).
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

/** RAAS's own compiled modules (dist/src/): frames there are where RAAS called the app, not the app. */
const OWN_MODULES = new URL('.', import.meta.url).href;
const MAX_SUMMARY = 500;

/**
 * One line for an error a reader must recognise at a glance (the crash-loop halt repeats the app's
 * first boot error): its name and first message line, and where it was thrown, the first stack
 * frame outside Node's internals and RAAS. A SyntaxError's stack opens with its location instead.
 */
export function errorSummary(err: unknown): string {
  const e = errorLike(err);
  if (e === null) return String(err).split('\n', 1)[0]!.slice(0, MAX_SUMMARY);
  const name = (e as { name?: unknown }).name;
  const first = e.message.split('\n', 1)[0]!;
  const text = typeof name === 'string' && name !== '' && name !== 'Error' ? `${name}: ${first}` : first;
  const stack = typeof e.stack === 'string' ? e.stack.split('\n') : [];
  let where: string | undefined;
  if (stack.length > 0 && /^(file:\/\/|\/)\S*:\d+$/.test(stack[0]!)) where = stack[0];
  for (const line of stack) {
    if (where !== undefined) break;
    const frame = /^\s+at (?:.*\((.+)\)|(.+))$/.exec(line);
    const location = frame?.[1] ?? frame?.[2];
    if (location === undefined || location.startsWith('node:') || location.startsWith(OWN_MODULES) || location === 'native') continue;
    where = location;
  }
  return (where === undefined ? text : `${text} (at ${where})`).slice(0, MAX_SUMMARY);
}
