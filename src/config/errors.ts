// The one error type for a refused setting, whatever it came from (flag, env var, config file).
// Runs in: master and control commands.
//
// The CLI turns it into a one-line message and EXIT.CONFIG; a HUP reload logs it and keeps the old
// settings. Either way the operator must learn which setting, which value and where it came from,
// so all three are fields as well as parts of the message.

/** Renders a refused value the way it was written: strings quoted, everything else as JSON. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === undefined) return 'nothing';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export interface SettingErrorOptions {
  /** Where the value came from, e.g. `flag --max-line`, `environment variable WEB_CONCURRENCY`. */
  origin?: string;
  /** Replaces the generated message (unknown flags and keys read better phrased on their own). */
  message?: string;
  cause?: unknown;
}

export class SettingError extends Error {
  override readonly name = 'SettingError';
  /** The setting's name (`max-line`), or the unknown flag or key that was refused. */
  readonly setting: string;
  readonly value: unknown;
  /** What would have been accepted, e.g. `expected a whole number`. */
  readonly expected: string;
  readonly origin: string | undefined;
  private readonly custom: string | undefined;

  constructor(setting: string, value: unknown, expected: string, options: SettingErrorOptions = {}) {
    const from = options.origin === undefined ? '' : ` from ${options.origin}`;
    super(
      options.message ?? `invalid value for setting "${setting}"${from}: ${showValue(value)} (${expected})`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.setting = setting;
    this.value = value;
    this.expected = expected;
    this.origin = options.origin;
    this.custom = options.message;
  }

  /** The same error, now saying where the value came from (coercion does not know; the loader does). */
  withOrigin(origin: string): SettingError {
    if (this.origin !== undefined) return this;
    const message = this.custom === undefined ? undefined : `${this.custom} (from ${origin})`;
    return new SettingError(this.setting, this.value, this.expected, { origin, message, cause: this.cause });
  }
}
