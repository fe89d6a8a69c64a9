// Unit: the `user` and `group` settings (src/config/accounts.ts): names and ids as flags, env and
// config keys, what a worker drops to (the user's primary group unless `group` says otherwise),
// unknown accounts and a non-root master refused naming the setting.
// Runs in: the node:test runner process (reads this machine's nobody / nogroup / root accounts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkMasterMayDrop, dropTarget, lookupGroup, lookupUser } from '../../src/config/accounts.js';
import { SettingError } from '../../src/config/errors.js';
import { parseArgv, settingsFrom } from '../../src/config/load.js';

const settings = (argv: string[], env: Record<string, string> = {}, file?: Record<string, unknown>) =>
  settingsFrom({ cwd: '/', env, flags: parseArgv(argv).values, file: file && { path: '/etc/raas.json', values: file } }).settings;

function refused(fn: () => unknown, setting: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof SettingError && err.setting === setting && message.test(err.message));
}

describe('user and group settings', () => {
  it('default to unset: no drop', () => {
    const s = settings([]);
    assert.deepEqual([s.user, s.group], [null, null]);
    assert.equal(dropTarget(s), null);
  });

  it('come from flags, env and config file, names or ids', () => {
    assert.equal(settings(['--user', 'nobody']).user, 'nobody');
    assert.equal(settings([], { RAAS_USER: '65534', RAAS_GROUP: 'nogroup' }).group, 'nogroup');
    assert.deepEqual([settings([], {}, { user: 'nobody', group: 'root' }).user, settings([], {}, { group: 'root' }).group], ['nobody', 'root']);
  });

  it('drop to the user with its primary group, or the group given; group alone keeps the uid', () => {
    assert.deepEqual(dropTarget({ user: 'nobody', group: null }), { user: { name: 'nobody', uid: 65534 }, gid: 65534 });
    assert.deepEqual(dropTarget({ user: '65534', group: 'root' }), { user: { name: 'nobody', uid: 65534 }, gid: 0 });
    assert.deepEqual(dropTarget({ user: null, group: '65534' }), { user: null, gid: 65534 });
    assert.deepEqual(lookupUser('root'), { name: 'root', id: 0, gid: 0 });
    assert.deepEqual(lookupGroup('nogroup'), { name: 'nogroup', id: 65534 });
  });

  it('refuse what is not an account name or id, and accounts this system does not know', () => {
    refused(() => settings(['--user', 'no body']), 'user', /expected a name .* or a numeric id/);
    refused(() => settings(['--group', '-x']), 'group', /expected a name/);
    refused(() => settings(['--user', 'raas-no-such-user']), 'user', /not a user of this system/);
    refused(() => settings(['--user', 'nobody', '--group', 'raas-no-such-group']), 'group', /not a group of this system/);
    refused(() => settings([], {}, { user: 'raas-no-such-user' }), 'user', /not a user of this system/);
  });

  it('need a root master; a control command (no master check) and an unset setting do not', () => {
    const s = settings(['--user', 'nobody']);
    refused(() => checkMasterMayDrop(s, 1000), 'user', /needs a master started as root.*uid 1000/);
    refused(() => checkMasterMayDrop(settings(['--group', 'nogroup']), 1000), 'group', /needs a master started as root/);
    checkMasterMayDrop(s, 0);
    checkMasterMayDrop(settings([]), 1000);
  });
});
