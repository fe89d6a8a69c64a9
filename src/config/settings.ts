// The one settings table: every setting RAAS has, with its flag, environment variables, default,
// bounds and help text. The CLI parser, env reader, config-file loader, validation, `--help` and
// docs/CONFIG.md are all derived from it.
// Runs in: master and control commands (workers receive the resolved values from the master).

import * as os from 'node:os';
import { SettingError } from './errors.js';
import { MAX_NAME_LENGTH, NAME_PATTERN } from '../process-title.js';

/** A user or group: a name as useradd and groupadd take them, or a numeric id. */
const ACCOUNT_PATTERN = /^(?:\d{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?)$/;
/** `--watch` alone: the app's directory (the working directory without an app). */
export const WATCH_APP_DIR = '@app';

const ACCOUNT_PATTERN_TEXT = 'expected a name (letters, digits, "_", "-", ".", at most 32) or a numeric id';

export type SettingKind =
  | 'int' // whole number
  | 'seconds' // number of seconds, fractions allowed
  | 'bytes' // whole number of bytes; suffixes k, m, KiB, MiB accepted
  | 'string'
  | 'path' // a file path, resolved against the working directory; `null` when unset
  | 'list' // repeatable flag; comma-separated in env
  | 'enum'
  | 'mode'; // file permission bits as an octal string, e.g. "0660"

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
  /** String settings only: the value must match, else `patternText` says what is expected. */
  pattern?: RegExp;
  patternText?: string;
  /** The flag may stand alone (`--watch`): then it means this value. A following argument that is no flag is its value. */
  optionalValue?: string;
  /** Shown in --help as the value placeholder. */
  metavar: string;
  help: string;
}

export interface Settings {
  listen: string[];
  workers: number;
  maxWorkers: number;
  scaleDownAfter: number;
  backlog: number;
  timeout: number;
  shutdownTimeout: number;
  workerShutdownTimeout: number;
  bootTimeout: number;
  maxRequests: number;
  maxRequestsJitter: number;
  maxMemory: number;
  maxLine: number;
  idleTimeout: number;
  lineTimeout: number;
  lineBufferLimit: number;
  name: string;
  logFile: string | null;
  config: string | null;
  pid: string | null;
  runDir: string | null;
  upgradeHandover: 'auto' | 'manual';
  app: string | null;
  maxBody: number;
  maxHeaderSize: number;
  headersTimeout: number;
  requestTimeout: number;
  bodyTimeout: number;
  keepAliveTimeout: number;
  accessLog: string | null;
  accessLogFormat: 'combined' | 'json';
  appOutput: 'log' | 'raw';
  workerNodeArgs: string[];
  envFile: string[];
  watch: string[];
  tlsCert: string | null;
  tlsKey: string | null;
  workerWatchdog: 'on' | 'off';
  rebalance: 'on' | 'off';
  reportDir: string | null;
  socketMode: number;
  admin: string | null;
  proxyFrom: string[];
  trustProxy: string[];
  lameDuck: number;
  user: string | null;
  group: string | null;
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
      'optionally prefixed by the protocol: line:// (the default), http://, or https:// (TLS by RAAS for ' +
      'exported apps and the built-in endpoints: needs tls-cert and tls-key); line+proxy:// and http+proxy:// ' +
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
    help: 'Number of worker processes; with max-workers, the fewest the master keeps.',
  },
  {
    key: 'maxWorkers',
    name: 'max-workers',
    env: ['RAAS_MAX_WORKERS'],
    kind: 'int',
    default: 0,
    defaultText: 'off',
    min: 0,
    max: 1024,
    metavar: 'N',
    help:
      'Elastic workers: the master adds one worker at a time, up to N, while the workers are saturated (mean ' +
      'event-loop utilisation at 85 % or more, or connections waiting in an accept queue while they are at least half busy, ' +
      'for 2 s), and removes one at a time, gracefully, after scale-down-after seconds of low load. Never grows while ' +
      'the memory it can see (MemAvailable, the cgroup limit) has less than two workers\' worth free (max-memory, ' +
      'else the largest worker\'s RSS), nor during a reload, an upgrade or a stop. At least workers. 0: off (a fixed pool).',
  },
  {
    key: 'scaleDownAfter',
    name: 'scale-down-after',
    env: ['RAAS_SCALE_DOWN_AFTER'],
    kind: 'seconds',
    default: 30,
    min: 1,
    max: 86400,
    metavar: 'S',
    help:
      'With max-workers: how long the load must stay low (no connection waiting, and the workers left would be under 60 % busy) ' +
      'before one worker is removed; each further removal waits as long again.',
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
    key: 'workerShutdownTimeout',
    name: 'worker-shutdown-timeout',
    env: ['RAAS_WORKER_SHUTDOWN_TIMEOUT'],
    kind: 'seconds',
    default: 30,
    min: 0,
    metavar: 'S',
    help:
      'Longest drain of one worker (QUIT, TERM, HUP, TTOU, WINCH, an upgrade hand-over, a worker retiring after a crash): ' +
      'past it the worker is killed and the log says how many connections were cut.',
  },
  {
    key: 'bootTimeout',
    name: 'boot-timeout',
    env: ['RAAS_BOOT_TIMEOUT'],
    kind: 'seconds',
    default: 30,
    min: 1,
    metavar: 'S',
    help:
      'A worker that is not ready this long after it was spawned is killed; a reload whose new workers miss it is aborted. ' +
      'At the first start, a master with no worker ready this long after its first spawn gives up (exit 4) once a boot has failed: ' +
      'an app that hangs while booting is reported after one boot-timeout, not after five and their back-offs. ' +
      'Failures that show at once do not wait for it (a missing app file is exit 2 before any worker; an app that throws while loading ends in exit 4 after 5 tries). ' +
      '30 s, as gunicorn\'s timeout (Puma\'s worker_boot_timeout is 60 s; PM2\'s listen_timeout of 3 s kills nothing, a reload carries on past it): ' +
      'a first start is the slowest boot (cold disk cache, a container\'s CPU limit, a database still starting), and a lower default would kill healthy slow boots.',
  },
  // ---- recycling (src/master/supervision/recycle.ts) ----
  {
    key: 'maxRequests',
    name: 'max-requests',
    env: ['RAAS_MAX_REQUESTS'],
    kind: 'int',
    default: 0,
    defaultText: 'off',
    min: 0,
    metavar: 'N',
    help:
      'Recycle a worker once it has answered this many requests (HTTP requests plus line connections, all listeners, ' +
      'counted by the worker itself: at its limit it asks for a replacement at once, past it by at most its requests in flight; ' +
      'line connections served natively included, counted in C against the same limit): a replacement is started in its slot, and the worker serves on ' +
      'and drains only once the replacement is ready (as gunicorn\'s max_requests). 0: off.',
  },
  {
    key: 'maxRequestsJitter',
    name: 'max-requests-jitter',
    env: ['RAAS_MAX_REQUESTS_JITTER'],
    kind: 'int',
    default: 0,
    min: 0,
    metavar: 'N',
    help: 'Each worker\'s limit is max-requests plus a random 0..N drawn when it starts, so workers do not all recycle at once.',
  },
  {
    key: 'maxMemory',
    name: 'max-memory',
    env: ['RAAS_MAX_MEMORY'],
    kind: 'bytes',
    default: 0,
    defaultText: 'off',
    min: 0,
    metavar: 'BYTES',
    help:
      'Recycle a worker whose resident memory (RSS, read with every beat) is above this, the same graceful way as ' +
      'max-requests (as PM2\'s max_memory_restart); e.g. 512MiB. 0: off.',
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
    key: 'lineTimeout',
    name: 'line-timeout',
    env: ['RAAS_LINE_TIMEOUT'],
    kind: 'seconds',
    default: 5,
    min: 0.01,
    metavar: 'S',
    help: 'A line-protocol client must send its whole line within this long of being accepted, else it gets "ERR line timeout" and is closed (bounds a client trickling one byte per idle period).',
  },
  {
    key: 'lineBufferLimit',
    name: 'line-buffer-limit',
    env: ['RAAS_LINE_BUFFER_LIMIT'],
    kind: 'bytes',
    default: 16 * MiB,
    min: 1 * KiB,
    max: 4096 * MiB,
    metavar: 'BYTES',
    help: 'Most bytes one worker holds in unfinished lines (all line clients together); a client whose bytes would go over it gets "ERR server busy" and is closed.',
  },
  {
    key: 'name',
    name: 'name',
    env: ['RAAS_NAME'],
    kind: 'string',
    default: 'RAAS',
    pattern: NAME_PATTERN,
    patternText: `expected 1 to ${MAX_NAME_LENGTH} printable ASCII characters, no spaces or brackets`,
    metavar: 'NAME',
    help:
      `Name shown in process titles: "[NAME] master", "[NAME] worker N"; control commands and a second master ` +
      `recognize the master by this title. Printable ASCII without spaces or brackets, at most ${MAX_NAME_LENGTH} characters.`,
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
    key: 'runDir',
    name: 'run-dir',
    env: ['RAAS_RUN_DIR'],
    kind: 'path',
    default: null,
    defaultText: '$XDG_RUNTIME_DIR/raas, else /run/raas for root, else $TMPDIR/raas-UID',
    metavar: 'DIR',
    help:
      'Where each master registers itself (PID.json, mode 0600) so that control commands find it without --pid: ' +
      '`raas status` lists the masters there. A directory of this user only (created 0700; refused if a link, ' +
      "another user's, or open to others). Read at start.",
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
    help:
      'Module loaded in every worker whose default export (a (req, res) listener or an object with fetch()) serves the http:// listeners instead of the built-in /reverse endpoints; ' +
      'a module with no default export that calls listen() itself is served unchanged (zero-code). A missing or unreadable file is refused at start (exit 2). ' +
      'A .ts/.mts/.cts file runs on Node 22.18+, 23.6+ and 24+ (which strip types); elsewhere give a loader: --worker-node-args=--import=tsx.',
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
    key: 'requestTimeout',
    name: 'request-timeout',
    env: ['RAAS_REQUEST_TIMEOUT'],
    kind: 'seconds',
    default: 60,
    min: 0.1,
    metavar: 'S',
    help: 'An HTTP client that has not sent its whole request (head and body) within this gets 408; at least headers-timeout.',
  },
  {
    key: 'bodyTimeout',
    name: 'body-timeout',
    env: ['RAAS_BODY_TIMEOUT'],
    kind: 'seconds',
    default: 30,
    min: 0.01,
    metavar: 'S',
    help: 'An HTTP client that sends nothing of its request body for this long (between two reads, like nginx\'s client_body_timeout) gets 408 and is closed.',
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
  {
    key: 'appOutput',
    name: 'app-output',
    env: ['RAAS_APP_OUTPUT'],
    kind: 'enum',
    choices: ['log', 'raw'],
    default: 'log',
    metavar: 'MODE',
    help:
      'What becomes of what the app writes to stdout and stderr (console.log, console.error). "log": each line is ' +
      'a RAAS log line (event=app-output stream=stdout|stderr line="...", with the worker\'s slot and pid) in log-file ' +
      'or on stderr, reopened on USR1; lines over 16 KiB are split (part=N, more=true), a last line without newline ' +
      'is written at exit (newline=false). "raw": the app\'s stdout and stderr are the master\'s own, passed through ' +
      'untouched (not in log-file). Output of the app\'s own subprocesses is always raw.',
  },
  {
    key: 'workerNodeArgs',
    name: 'worker-node-args',
    env: ['RAAS_WORKER_NODE_ARGS'],
    kind: 'list',
    default: [],
    defaultText: 'none',
    metavar: 'FLAGS',
    help:
      'Node flags for worker processes only, e.g. "--max-old-space-size=512 --enable-source-maps" ' +
      '(space-separated; repeat or comma-separate for more). Only flags NODE_OPTIONS accepts, written --flag=value. ' +
      'On Node 20, workers get --max-semi-space-size=4 unless these or NODE_OPTIONS size the semi-space.',
  },
  {
    key: 'envFile',
    name: 'env-file',
    env: ['RAAS_ENV_FILE'],
    kind: 'list',
    default: [],
    defaultText: 'none',
    metavar: 'FILE',
    help:
      'Variables for the workers from a dotenv file (KEY=VALUE lines, # comments, quoted values; repeat or ' +
      'comma-separate for more, a later file wins), on every Node line. Read by the master at start and again ' +
      'on every HUP, so an edited file reaches the next generation; an unreadable file is refused (at start: ' +
      'exit 2; on HUP: the reload is refused and the workers serve on). A variable already in the master\'s ' +
      'environment wins over the files, as with Node\'s --env-file. Relative paths are read from the working directory. ' +
      '(Node 20 itself checks the flag\'s file and exits 9, "node: FILE: not found", before RAAS starts when it is missing.)',
  },
  {
    key: 'watch',
    name: 'watch',
    env: ['RAAS_WATCH'],
    kind: 'list',
    default: [],
    defaultText: 'off',
    optionalValue: WATCH_APP_DIR,
    metavar: '[PATH]',
    help:
      'The dev loop: when a file under PATH changes (repeatable; alone, or as "@app", the app\'s ' +
      'directory), roll the workers as HUP does, new ones ready before old ones drain. Debounced; node_modules, ' +
      '.git and dot-files are ignored; an app that fails to boot after a change is logged and the old workers ' +
      'serve on. Read at start. For development, not production.',
  },
  {
    key: 'tlsCert',
    name: 'tls-cert',
    env: ['RAAS_TLS_CERT'],
    kind: 'path',
    default: null,
    metavar: 'FILE',
    help: 'PEM certificate (chain) of the https:// listeners; read by every new worker, so a HUP picks up a renewed one.',
  },
  {
    key: 'tlsKey',
    name: 'tls-key',
    env: ['RAAS_TLS_KEY'],
    kind: 'path',
    default: null,
    metavar: 'FILE',
    help: 'PEM private key of the https:// listeners (read like tls-cert).',
  },
  {
    key: 'workerWatchdog',
    name: 'worker-watchdog',
    env: ['RAAS_WORKER_WATCHDOG'],
    kind: 'enum',
    choices: ['on', 'off'],
    default: 'on',
    metavar: 'MODE',
    help:
      'on: before killing a worker silent past `timeout`, ask its watchdog thread for a diagnostic report ' +
      '(waits at most 1 s) and name the JavaScript frames it was stuck in. Costs a second V8 isolate per ' +
      'worker (~10 MiB RSS on Node 20); off saves that.',
  },
  {
    key: 'rebalance',
    name: 'rebalance',
    env: ['RAAS_REBALANCE'],
    kind: 'enum',
    choices: ['on', 'off'],
    default: 'on',
    metavar: 'MODE',
    help:
      'on: once the total of open connections has held still for a beat, the master compares the workers\' counts; ' +
      'a worker holding over 1.05x the mean (and 2 more) answers keep-alive responses with `Connection: close` until ' +
      'it is down to its share, so those clients reconnect and land on a less busy worker. ' +
      'Corrects the uneven split a burst of new keep-alive connections leaves (a balancer filling its pool) and gives a worker added by TTIN its share. Never cuts a request; ' +
      'WebSockets are never shed. off: connections stay with the worker that accepted them.',
  },
  {
    key: 'reportDir',
    name: 'report-dir',
    env: ['RAAS_REPORT_DIR'],
    kind: 'path',
    default: null,
    defaultText: 'a private directory under the system temp dir',
    metavar: 'DIR',
    help: 'Where stuck-worker diagnostic reports are written; must not be writable by others.',
  },
  {
    key: 'socketMode',
    name: 'socket-mode',
    env: ['RAAS_SOCKET_MODE'],
    kind: 'mode',
    default: '0660',
    metavar: 'MODE',
    help: 'Permissions of the Unix listening sockets RAAS binds (octal, applied right after bind whatever the umask): who may connect. Read at start; a reload binds new sockets with the same mode.',
  },
  {
    key: 'admin',
    name: 'admin',
    env: ['RAAS_ADMIN'],
    kind: 'string',
    default: null,
    defaultText: 'off',
    metavar: 'ADDR',
    help:
      'Serve /metrics (Prometheus), /status (JSON) and a live status page from the master on this address: ' +
      'http://HOST:PORT or http://unix:/PATH. Keep it private (loopback, a Unix socket). Read at start.',
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
      'On TERM or QUIT, first answer 503 on /healthz (the built-in endpoint\'s and the admin listener\'s; ERR draining to a balancer\'s PROXY LOCAL check on a ' +
      'line+proxy listener) while still serving for this long, so a balancer stops sending new connections ' +
      'before the listeners close; then stop as usual. Set it above the balancer\'s check interval times its ' +
      'fall count. A second TERM stops at once.',
  },
  // ---- privileges (src/worker/privileges.ts, src/config/accounts.ts) ----
  {
    key: 'user',
    name: 'user',
    env: ['RAAS_USER'],
    kind: 'string',
    default: null,
    defaultText: 'off',
    pattern: ACCOUNT_PATTERN,
    patternText: ACCOUNT_PATTERN_TEXT,
    metavar: 'USER',
    help:
      'Workers run as this user (a name or a numeric id): each drops to it, after its supplementary groups ' +
      '(initgroups) and group, before it loads the app, and checks it cannot regain root. The master stays ' +
      'root: it binds the ports and keeps the pid and status files; workers read the TLS key and open the ' +
      'log files before the drop. Needs a master started as root; an unknown user is refused at start ' +
      '(as Unicorn\'s, gunicorn\'s and nginx\'s user).',
  },
  {
    key: 'group',
    name: 'group',
    env: ['RAAS_GROUP'],
    kind: 'string',
    default: null,
    defaultText: "the user's primary group",
    pattern: ACCOUNT_PATTERN,
    patternText: ACCOUNT_PATTERN_TEXT,
    metavar: 'GROUP',
    help:
      'Workers run with this group (a name or a numeric id) instead of the user\'s primary group. ' +
      'Alone (without user), workers keep the master\'s user and get this group as their only one. Needs root.',
  },
];

/**
 * Rules between settings, checked after each one is valid on its own: the message names both.
 * Throws SettingError (naming the first setting) when a rule is broken.
 */
export function checkSettingCombinations(settings: Settings): void {
  if (settings.maxWorkers !== 0 && settings.maxWorkers < settings.workers) {
    throw new SettingError('max-workers', settings.maxWorkers, 'at least workers', {
      message: `setting "max-workers" (${settings.maxWorkers}) must be 0 (off) or at least setting "workers" (${settings.workers}): workers is the fewest the master keeps`,
    });
  }
  if (settings.requestTimeout < settings.headersTimeout) {
    throw new SettingError('request-timeout', settings.requestTimeout, 'at least headers-timeout', {
      message: `setting "request-timeout" (${settings.requestTimeout}s) must be at least setting "headers-timeout" (${settings.headersTimeout}s): the whole request cannot have less time than its head`,
    });
  }
}
