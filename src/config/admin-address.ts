// The `admin` setting's address: http://HOST:PORT, HOST:PORT, :PORT (127.0.0.1), or a Unix
// socket as http://unix:/PATH or unix:/PATH. Pure parsing, shared by validation and the master.
// Runs in: master and control commands.

import * as path from 'node:path';

export type AdminAddress = { kind: 'tcp'; host: string; port: number; spec: string } | { kind: 'unix'; path: string; spec: string };

export function parseAdminAddress(raw: string, cwd: string = process.cwd()): AdminAddress {
  let rest = raw.trim();
  if (rest.startsWith('http://')) rest = rest.slice('http://'.length);
  else if (/^[a-z]+:\/\//i.test(rest)) throw new Error('the admin listener speaks plain http://');
  rest = rest.replace(/\/$/, '');
  if (rest.startsWith('unix:')) {
    const file = rest.slice('unix:'.length);
    if (file === '') throw new Error('a unix: address needs a path');
    const resolved = path.resolve(cwd, file);
    return { kind: 'unix', path: resolved, spec: `http://unix:${resolved}` };
  }
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]/]*)):(\d+)$/.exec(rest);
  if (!match) throw new Error('expected http://HOST:PORT or http://unix:/PATH');
  const host = match[1] ?? (match[2] === '' || match[2] === undefined ? '127.0.0.1' : match[2]);
  const port = Number(match[3]);
  if (port > 65535) throw new Error('the port must be 0..65535');
  const shown = host.includes(':') ? `[${host}]` : host;
  return { kind: 'tcp', host, port, spec: `http://${shown}:${port}` };
}
