// `raas --help` and docs/CONFIG.md, both generated from the SETTINGS table so they cannot drift
// from what the parser accepts (test/unit/config-doc.test.ts checks the committed doc).
// Runs in: the CLI process (and the doc test).

import { EXIT } from '../exit-codes.js';
import { defaultOf, formatBytes } from './coerce.js';
import { SETTINGS, type SettingSpec } from './settings.js';

const WIDTH = 100;
const LABEL_WIDTH = 30;

/** Control commands the CLI accepts instead of starting a server; each signals the running master. */

const PRECEDENCE = 'defaults < config file < environment < flags';

/** How a setting's default reads to a human: "64KiB", "30s", "one per CPU core", "unset". */
export function describeDefault(spec: SettingSpec): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  // A machine-dependent default without a description must not leak this machine into the docs.
  if (typeof spec.default === 'function') return 'computed at start';
  const value = defaultOf(spec);
  if (value === null) return 'unset';
  if (Array.isArray(value)) return value.join(', ');
  if (spec.kind === 'bytes') return formatBytes(value as number);
  if (spec.kind === 'seconds') return `${value as number}s`;
  return String(value);
}

function metavar(spec: SettingSpec): string {
  return spec.kind === 'enum' && spec.choices !== undefined ? spec.choices.join('|') : spec.metavar;
}

function flagLabel(spec: SettingSpec): string {
  return `${spec.short === undefined ? '    ' : `${spec.short}, `}--${spec.name} ${metavar(spec)}`;
}

function envText(spec: SettingSpec): string {
  const [first, ...others] = spec.env;
  return others.length === 0 ? String(first) : `${first} (or ${others.join(', ')})`;
}

/** Greedy word wrap; a word longer than the width gets a line of its own. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** A two-column entry; the label gets a line to itself when it is too wide for its column. */
function entry(label: string, text: string): string[] {
  const indent = ' '.repeat(2 + LABEL_WIDTH);
  const body = wrap(text, WIDTH - indent.length).map((l) => indent + l);
  const head = `  ${label}`;
  if (head.length < indent.length && body.length > 0) {
    return [head.padEnd(indent.length) + (body[0] as string).trimStart(), ...body.slice(1)];
  }
  return [head, ...body];
}

/** A control command as --help lists it (the table is src/control/commands.ts, handed in by the entry point). */
export interface CommandHelp {
  readonly usage: string;
  readonly help: string;
}

export function renderHelp(commands: Readonly<Record<string, CommandHelp>>): string {
  const lines = [
    'Usage: raas [options]              start a master and its workers',
    '       raas <command> [options]    control a running master',
    '',
    'Options:',
  ];
  for (const spec of SETTINGS) {
    lines.push(...entry(flagLabel(spec), `${spec.help} Default: ${describeDefault(spec)}. Env: ${envText(spec)}.`));
  }
  lines.push(...entry('-h, --help', 'Show this help and exit.'));
  lines.push(...entry('-v, --version', 'Show the version and exit.'));
  lines.push('', 'Control commands (find the master through --pid, else by --name in run-dir):');
  for (const command of Object.values(commands)) lines.push(...entry(command.usage, command.help));
  lines.push('');
  for (const l of wrap(
    `Every option can also be set in the config file (key "max-line" or "maxLine") or by its environment ` +
      `variable; precedence: ${PRECEDENCE}. Sizes take k/KiB and m/MiB suffixes, times are seconds and ` +
      `may be fractions, lists are comma-separated. See docs/CONFIG.md.`,
    WIDTH,
  )) {
    lines.push(l);
  }
  return lines.join('\n') + '\n';
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function code(text: string): string {
  return `\`${text}\``;
}

function camelNote(spec: SettingSpec): string {
  return spec.key === spec.name ? code(spec.name) : `${code(spec.name)} (${code(spec.key)})`;
}

/** The Markdown of docs/CONFIG.md. */
export function renderConfigDoc(): string {
  const rows = SETTINGS.map((spec) => {
    const flags = [spec.short, `--${spec.name} ${metavar(spec)}`].filter((f) => f !== undefined).map((f) => code(f as string));
    const env = spec.env.map(code).join(', ');
    const value = defaultOf(spec);
    const shown =
      spec.defaultText !== undefined || value === null || typeof spec.default === 'function'
        ? describeDefault(spec)
        : Array.isArray(value) ? value.map(String).map(code).join(', ') : code(describeDefault(spec));
    return `| ${camelNote(spec)} | ${cell(flags.join(', '))} | ${env} | ${cell(shown)} | ${cell(spec.help)} |`;
  });
  return [
    '# Configuration',
    '',
    '<!-- Generated from src/config/settings.ts by renderConfigDoc() in src/config/help.ts; do not edit.',
    '     test/unit/config-doc.test.ts fails when this file and the table disagree. -->',
    '',
    'Every setting can be given as a flag, an environment variable or a key of the config file.',
    `Precedence: ${PRECEDENCE}. Every value found is validated, even one that a`,
    `higher layer overrides, and anything refused stops the start (exit code ${EXIT.CONFIG}) or, on a reload`,
    '(HUP), keeps the old settings.',
    '',
    '| Setting (config key) | Flag | Environment | Default | Meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## Values',
    '',
    '- **Sizes** are whole bytes, optionally with a binary suffix: `65536`, `64k`, `64KiB`, `1m`, `1MiB`',
    '  (case-insensitive; `kb` and `mb` also mean 1024 and 1024²).',
    '- **Times** are seconds and may have a fraction: `30`, `2.5`.',
    '- **Paths** are resolved against the directory RAAS was started in, whatever their source.',
    '- **Lists** repeat the flag (`-l a -l b`) or separate items with commas (`RAAS_LISTEN=a,b`). A list',
    '  given by flags replaces the one from the environment or the config file instead of extending it.',
    '- An empty environment variable counts as unset.',
    '',
    '## Listen addresses',
    '',
    '`HOST:PORT`, `:PORT` (every IPv4 interface), `[IPV6]:PORT` or `unix:PATH`, optionally prefixed by the',
    'protocol: `line://` (the default) or `http://`. Hosts are IP literals or `localhost` (127.0.0.1); names are',
    'not resolved. Examples: `127.0.0.1:2200`, `[::1]:2200`, `http://:8080`, `http://unix:/run/raas.sock`.',
    '',
    '`line+proxy://` and `http+proxy://` (e.g. `http+proxy://10.0.0.5:8080`, `line+proxy://unix:/run/raas-line.sock`)',
    'serve the same protocols behind a balancer that sends the PROXY protocol (haproxy `send-proxy` or',
    '`send-proxy-v2`, nginx `proxy_protocol on`): every connection must start with a v1 or v2 header from a',
    '`proxy-from` peer, or it is closed unread. The client the header names is then the peer everywhere: the',
    'access log, the logs, and `req.socket.remoteAddress` / `remotePort` in the app. See docs/DEPLOYING.md.',
    '',
    '## Config file',
    '',
    'Named by `--config` or `RAAS_CONFIG`, and read again on every HUP. Either JSON, or a JavaScript module',
    '(`.js`, `.mjs`, `.cjs`) whose default export is an object. Keys are kebab-case (`"max-line"`) or',
    'camelCase (`maxLine`); an unknown key is refused, so a typo cannot go unnoticed. `null` unsets a',
    'setting whose default is unset.',
    '',
    '```json',
    '{ "listen": ["127.0.0.1:2200", "http://127.0.0.1:8080"], "workers": 4, "max-line": "64KiB" }',
    '```',
    '',
    'A JavaScript config may also hold master hooks, functions the master calls:',
    '`beforeSpawn(worker)`, `afterWorkerReady(worker)` and `afterWorkerExit(worker, { code, signal })`,',
    'where `worker` is `{ slot, pid, generation }` (no `pid` yet before the spawn). Modules the config',
    'file imports are not re-read on HUP.',
    '',
  ].join('\n');
}
