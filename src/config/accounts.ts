// The `user` and `group` settings: looking accounts up in the system's user database, and the
// checks at start (the account exists; only a root master can hand workers to another user).
// Runs in: master (at start and on every HUP's config re-read), control commands (lookup only),
// and workers (the lookup again, just before they drop: src/worker/privileges.ts).
//
// Node has no getpwnam(): /etc/passwd and /etc/group are read first (local accounts, no process
// started), then `getent`, which asks NSS (LDAP, systemd-userdb, sssd) for the rest.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { SettingError } from './errors.js';
import type { Settings } from './settings.js';

export interface Account {
  name: string;
  id: number;
  /** Users only: the primary group's id. */
  gid?: number;
}

/** What a worker drops to: `user` null means it keeps its uid and gets `gid` as its only group. */
export interface DropTarget {
  user: { name: string; uid: number } | null;
  gid: number;
}

function entryOf(database: 'passwd' | 'group', key: string): string[] | null {
  const numeric = /^\d+$/.test(key);
  const matches = (fields: string[]): boolean => (numeric ? fields[2] === key : fields[0] === key);
  try {
    for (const line of fs.readFileSync(`/etc/${database}`, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields.length >= 4 && matches(fields)) return fields;
    }
  } catch {
    // no readable file: getent below
  }
  const got = spawnSync('getent', [database, key], { encoding: 'utf8', timeout: 5000 });
  // getent exits 2 for "no such key"; a missing getent leaves status null and error set.
  if (got.status !== 0 || typeof got.stdout !== 'string') return null;
  const fields = got.stdout.split('\n')[0]?.split(':') ?? [];
  return fields.length >= 4 && matches(fields) ? fields : null;
}

export function lookupUser(key: string): Account | null {
  const fields = entryOf('passwd', key);
  if (fields === null) return null;
  return { name: fields[0] as string, id: Number(fields[2]), gid: Number(fields[3]) };
}

export function lookupGroup(key: string): Account | null {
  const fields = entryOf('group', key);
  if (fields === null) return null;
  return { name: fields[0] as string, id: Number(fields[2]) };
}

/**
 * The uid and gid workers drop to, or null when neither setting is set. Throws a SettingError
 * naming the setting when an account is unknown.
 */
export function dropTarget(settings: Pick<Settings, 'user' | 'group'>): DropTarget | null {
  if (settings.user === null && settings.group === null) return null;
  let user: Account | null = null;
  if (settings.user !== null) {
    user = lookupUser(settings.user);
    if (user === null) throw new SettingError('user', settings.user, 'not a user of this system: getent passwd knows no such name or id');
  }
  let gid = user?.gid as number;
  if (settings.group !== null) {
    const group = lookupGroup(settings.group);
    if (group === null) throw new SettingError('group', settings.group, 'not a group of this system: getent group knows no such name or id');
    gid = group.id;
  }
  return { user: user === null ? null : { name: user.name, uid: user.id }, gid };
}

/** Checks that user and group name real accounts (every process that loads settings). */
export function checkAccountSettings(settings: Settings): void {
  dropTarget(settings);
}

/**
 * The master's own check, before it binds or forks anything: handing workers to another account
 * takes root (CAP_SETUID, CAP_SETGID). Control commands skip it: `raas status` needs no root.
 */
export function checkMasterMayDrop(settings: Pick<Settings, 'user' | 'group'>, euid = process.geteuid?.()): void {
  if (euid === undefined || euid === 0) return;
  const name = settings.user !== null ? 'user' : settings.group !== null ? 'group' : null;
  if (name === null) return;
  throw new SettingError(name, settings[name], 'needs a master started as root', {
    message:
      `setting "${name}" (${JSON.stringify(settings[name])}) needs a master started as root, so that its workers can ` +
      `drop to it; this master runs as uid ${euid}. Start RAAS as root, or leave "${name}" unset (and use systemd's User=)`,
  });
}
