// The TLS files of https:// listeners: the cross-setting check (an https:// listener needs
// tls-cert and tls-key, and they must load) and the read a worker does at boot.
// Runs in: master (check at start and on every HUP's config re-read) and workers (read at boot).
//
// A worker that drops privileges (user, group) reads both files while still root, before its
// drop (keepTlsFiles): the key stays a root-only 0600 file that the worker's user cannot read,
// as nginx's key does. Later reads in that worker get the bytes kept then.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { SettingError } from './errors.js';
import type { Settings } from './settings.js';
import { errorMessage } from '../errors.js';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export function hasHttpsListener(settings: Pick<Settings, 'listen'>): boolean {
  return settings.listen.some((spec) => spec.startsWith('https://'));
}

/** Read by keepTlsFiles before a privilege drop, with the paths they came from. */
let kept: { cert: string | null; key: string | null; files: TlsFiles } | null = null;

/** Worker side, before dropping privileges: reads both files now, for every later readTlsFiles. */
export function keepTlsFiles(settings: Pick<Settings, 'tlsCert' | 'tlsKey'>): void {
  kept = null;
  const files = readTlsFiles(settings);
  kept = { cert: settings.tlsCert, key: settings.tlsKey, files };
}

/** Reads both files; throws a SettingError naming the setting when one is unset or unreadable. */
export function readTlsFiles(settings: Pick<Settings, 'tlsCert' | 'tlsKey'>): TlsFiles {
  if (kept !== null && kept.cert === settings.tlsCert && kept.key === settings.tlsKey) return kept.files;
  const read = (name: string, file: string | null): Buffer => {
    if (file === null) {
      throw new SettingError(name, file, `an https:// listener needs both tls-cert and tls-key (PEM files); set --${name}`);
    }
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new SettingError(name, file, `cannot read it: ${errorMessage(err)}`);
    }
  };
  return { cert: read('tls-cert', settings.tlsCert), key: read('tls-key', settings.tlsKey) };
}

/** Master side: with an https:// listener, both files must be readable and make a valid pair. */
export function checkTlsSettings(settings: Settings): void {
  if (!hasHttpsListener(settings)) return;
  const files = readTlsFiles(settings);
  try {
    // node:tls (with crypto) is loaded only when an https:// listener exists: RSS a master without
    // one never needs (~1.5 MiB on Node 20, ~5 MiB on Node 26). A builtin: the require cannot fail.
    const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
    tls.createSecureContext(files);
  } catch (err) {
    throw new SettingError('tls-cert', settings.tlsCert, `tls-cert and tls-key do not make a usable pair: ${errorMessage(err)}`);
  }
}
