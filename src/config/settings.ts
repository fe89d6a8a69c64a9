// The one settings table: every setting RAAS has, with its flag, environment variables, default,
// bounds and help text. The CLI parser, env reader, config-file loader, validation, `--help` and
// docs/CONFIG.md are all derived from it.
// Runs in: master and control commands (workers receive the resolved values from the master).

import * as os from 'node:os';

export type SettingKind =
  | 'int' // whole number
  | 'seconds' // number of seconds, fractions allowed
  | 'bytes' // whole number of bytes; suffixes k, m, KiB, MiB accepted
  | 'string'
  | 'path' // a file path, resolved against the working directory; `null` when unset
  | 'list' // repeatable flag; comma-separated in env
  | 'enum';

export interface SettingSpec {
  /** Property name in the resolved Settings object (camelCase). */
  key: keyof Settings;
  /** Name used in flags (`--max-line`), config files (`"max-line"` or `maxLine`) and messages. */
  name: string;
  short?: string;
  /** Environment variables, first one wins; all documented. */
  env: string[];
  kind: SettingKind;
  /** The default; a function when it depends on the machine. */
  default: unknown | (() => unknown);
  /** How --help and docs/CONFIG.md show the default when the value itself would mislead. */
  defaultText?: string;
  /** Path settings only: the literal "-" is kept as-is (it means stderr) instead of being resolved. */
  allowDash?: boolean;
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** Shown in --help as the value placeholder. */
  metavar: string;
  help: string;
}

export interface Settings {
  listen: string[];
  workers: number;
  backlog: number;
  timeout: number;
  shutdownTimeout: number;
  bootTimeout: number;
  maxLine: number;
  idleTimeout: number;
  name: string;
  logFile: string | null;
  config: string | null;
  pid: string | null;
  upgradeHandover: 'auto' | 'manual';
  app: string | null;
  maxBody: number;
  maxHeaderSize: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  accessLog: string | null;
  accessLogFormat: 'combined' | 'json';
  proxyFrom: string[];
  trustProxy: string[];
  lameDuck: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const SETTINGS: readonly SettingSpec[] = [
  {
    key: 'listen',
    name: 'listen',
    short: '-l',
    env: ['RAAS_LISTEN'],
    kind: 'list',
    default: ['127.0.0.1:2200', 'http://127.0.0.1:8080'],
    metavar: 'ADDR',
    help:
      'Address to listen on; repeat for several. HOST:PORT, :PORT, [IPV6]:PORT or unix:/PATH, ' +
      'optionally prefixed by the protocol: line:// (the default) or http://; line+proxy:// and http+proxy:// ' +
      'expect a PROXY protocol header (v1 or v2) from a balancer on every connection (see proxy-from).',
  },
  {
    key: 'workers',
    name: 'workers',
    short: '-w',
    env: ['RAAS_WORKERS', 'WEB_CONCURRENCY'],
    kind: 'int',
    default: () => os.availableParallelism(),
    defaultText: 'one per CPU core',
    min: 1,
    max: 1024,
    metavar: 'N',
    help: 'Number of worker processes.',
  },
  {
    key: 'backlog',
    name: 'backlog',
    env: ['RAAS_BACKLOG'],
    kind: 'int',
    default: 1024,
    min: 1,
    max: 65535,
    metavar: 'N',
    help: 'Length of the kernel accept queue of every listening socket (capped by net.core.somaxconn).',
  },
  {
    key: 'timeout',
    name: 'timeout',
    short: '-t',
    env: ['RAAS_TIMEOUT'],
    kind: 'seconds',
    default: 30,
    min: 2,
    metavar: 'S',
    help: 'A worker whose event loop is silent for longer than this is killed with SIGKILL and replaced.',
  },
  {
    key: 'shutdownTimeout',
    name: 'shutdown-timeout',
    env: ['RAAS_SHUTDOWN_TIMEOUT'],
    kind: 'seconds',
    default: 30,
    min: 0,
    metavar: 'S',
    help: 'How long TERM waits for workers to finish their connections before killing them.',
  },
  {
    key: 'bootTimeout',
    name: 'boot-timeout',
    env: ['RAAS_BOOT_TIMEOUT'],
    kind: 'seconds',
    default: 30,
    min: 1,
    metavar: 'S',
    help: 'A worker that is not ready this long after it was spawned is killed; a reload whose new workers miss it is aborted.',
  },
  {
    key: 'maxLine',
    name: 'max-line',
    env: ['RAAS_MAX_LINE'],
    kind: 'bytes',
    default: 64 * KiB,
    min: 1,
    max: 64 * MiB,
    metavar: 'BYTES',
    help: 'Longest line the line protocol accepts; longer lines are answered "ERR line too long".',
  },
  {
    key: 'idleTimeout',
    name: 'idle-timeout',
    env: ['RAAS_IDLE_TIMEOUT'],
    kind: 'seconds',
    default: 10,
    min: 0.001,
    metavar: 'S',
    help: 'A line-protocol client that sends nothing for this long is disconnected.',
  },
  {
    key: 'name',
    name: 'name',
    env: ['RAAS_NAME'],
    kind: 'string',
    default: 'RAAS',
    metavar: 'NAME',
    help: 'Name shown in process titles: "[NAME] master", "[NAME] worker N".',
  },
  {
    key: 'logFile',
    name: 'log-file',
    env: ['RAAS_LOG_FILE'],
    kind: 'path',
    default: null,
    defaultText: 'stderr',
    metavar: 'PATH',
    help: 'Write logs to this file instead of stderr (reopened on USR1).',
  },
  {
    key: 'config',
    name: 'config',
    short: '-c',
    env: ['RAAS_CONFIG'],
    kind: 'path',
    default: null,
    metavar: 'FILE',
    help: 'Config file: .json, or .js/.mjs/.cjs whose default export is an object (which may also hold master hooks); re-read on HUP.',
  },
  {
    key: 'pid',
    name: 'pid',
    short: '-P',
    env: ['RAAS_PID'],
    kind: 'path',
    default: null,
    metavar: 'FILE',
    help: 'Write the master pid to this file (renamed to FILE.oldbin during an upgrade).',
  },
  {
    key: 'upgradeHandover',
    name: 'upgrade-handover',
    env: ['RAAS_UPGRADE_HANDOVER'],
    kind: 'enum',
    choices: ['manual', 'auto'],
    default: 'manual',
    metavar: 'MODE',
    help: 'After USR2: manual leaves the old master serving until you send it WINCH/QUIT; auto makes the new master quit the old one once all its workers are ready.',
  },
  {
    key: 'app',
    name: 'app',
    short: '-a',
    env: ['RAAS_APP'],
    kind: 'path',
    default: null,
    metavar: 'MODULE',
    help: 'Module loaded in every worker whose default export (a (req, res) listener or an object with fetch()) serves the http:// listeners instead of the built-in /reverse endpoints.',
  },
  {
    key: 'maxBody',
    name: 'max-body',
    env: ['RAAS_MAX_BODY'],
    kind: 'bytes',
    default: 1 * MiB,
    min: 0,
    metavar: 'BYTES',
    help: 'Largest request body POST /reverse accepts; larger ones get 413.',
  },
  {
    key: 'maxHeaderSize',
    name: 'max-header-size',
    env: ['RAAS_MAX_HEADER_SIZE'],
    kind: 'bytes',
    default: 16 * KiB,
    min: 1 * KiB,
    max: 1 * MiB,
    metavar: 'BYTES',
    help: 'Largest HTTP request head; larger ones get 431.',
  },
  {
    key: 'headersTimeout',
    name: 'headers-timeout',
    env: ['RAAS_HEADERS_TIMEOUT'],
    kind: 'seconds',
    default: 10,
    min: 0.1,
    metavar: 'S',
    help: 'An HTTP client that has not sent its whole request head within this gets 408 (slowloris).',
  },
  {
    key: 'keepAliveTimeout',
    name: 'keep-alive-timeout',
    env: ['RAAS_KEEP_ALIVE_TIMEOUT'],
    kind: 'seconds',
    default: 5,
    min: 0,
    metavar: 'S',
    help: 'How long an idle HTTP keep-alive connection stays open (keep it above your balancer\'s idle timeout).',
  },
  {
    key: 'accessLog',
    name: 'access-log',
    env: ['RAAS_ACCESS_LOG'],
    kind: 'path',
    allowDash: true,
    default: null,
    metavar: 'PATH',
    help: 'Write an HTTP access log to this file, or "-" for stderr (reopened on USR1).',
  },
  {
    key: 'accessLogFormat',
    name: 'access-log-format',
    env: ['RAAS_ACCESS_LOG_FORMAT'],
    kind: 'enum',
    choices: ['combined', 'json'],
    default: 'combined',
    metavar: 'FORMAT',
    help: 'Access log format: Apache/nginx combined, or JSON lines.',
  },
  // ---- behind a balancer (docs/DEPLOYING.md) ----
  {
    key: 'proxyFrom',
    name: 'proxy-from',
    env: ['RAAS_PROXY_FROM'],
    kind: 'list',
    default: ['127.0.0.0/8', '::1/128'],
    metavar: 'CIDR',
    help:
      'Peers allowed to send a PROXY protocol header on line+proxy:// and http+proxy:// listeners (IP or CIDR ' +
      'block; repeat or comma-separate). A connection from anyone else is closed unread. Unix-socket peers are ' +
      'always allowed (the file mode guards them).',
  },
  {
    key: 'trustProxy',
    name: 'trust-proxy',
    env: ['RAAS_TRUST_PROXY'],
    kind: 'list',
    default: [],
    defaultText: 'off',
    metavar: 'CIDR',
    help:
      'Balancers whose X-Forwarded-For / Forwarded headers the HTTP access log believes (IP or CIDR block). ' +
      'The client is the rightmost address not in this list.',
  },
  {
    key: 'lameDuck',
    name: 'lame-duck',
    env: ['RAAS_LAME_DUCK'],
    kind: 'seconds',
    default: 0,
    metavar: 'S',
    help:
      'On TERM or QUIT, first answer 503 on /healthz while still serving for this long, so a balancer stops ' +
      'sending new connections before the listeners close; then stop as usual. Set it above the balancer\'s ' +
      'check interval times its fall count. A second TERM stops at once.',
  },
];
