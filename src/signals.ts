// The one signal table: what each signal means to the master and to a worker. The master's and
// the worker's handlers are installed from it, and docs/SIGNALS.md is generated from it.
// Runs in: master and workers.

export type MasterAction =
  | 'graceful-stop'
  | 'bounded-stop'
  | 'immediate-stop'
  | 'reload'
  | 'reexec'
  | 'stop-workers'
  | 'add-worker'
  | 'remove-worker'
  | 'reopen-logs';

export type WorkerAction = 'graceful-stop' | 'immediate-stop' | 'reopen-logs' | 'ignore';

export interface SignalSpec {
  signal: NodeJS.Signals;
  master: MasterAction;
  worker: WorkerAction;
  masterDoc: string;
  workerDoc: string;
}

export const SIGNALS: readonly SignalSpec[] = [
  {
    signal: 'SIGQUIT',
    master: 'graceful-stop',
    worker: 'graceful-stop',
    masterDoc:
      'Graceful stop: the master closes its sockets at once (new clients are refused; not while another ' +
      'master of an upgrade shares them), workers stop accepting and finish every accepted connection, then ' +
      'the master exits 0. A worker still draining after `worker-shutdown-timeout` is killed (the log says how ' +
      'many connections it cut), one that stops beating after `timeout`. With `lame-duck S`, workers first serve on for S seconds ' +
      'with /healthz answering 503, and only then does the stop begin.',
    workerDoc: 'Graceful stop of this worker; the master replaces it.',
  },
  {
    signal: 'SIGTERM',
    master: 'bounded-stop',
    worker: 'graceful-stop',
    masterDoc:
      'Graceful stop bounded by `shutdown-timeout`; workers still running then are killed (what systemd, ' +
      'Docker and Kubernetes expect). A second TERM or INT makes it immediate. With `lame-duck S`, workers ' +
      'first serve on for S seconds with /healthz answering 503 (a second TERM then stops at once); ' +
      '`shutdown-timeout` counts from the end of lame duck.',
    workerDoc: 'Graceful stop of this worker; the master replaces it.',
  },
  {
    signal: 'SIGINT',
    master: 'immediate-stop',
    worker: 'immediate-stop',
    masterDoc:
      'Immediate stop: workers exit at once (in-flight connections are cut), SIGKILL after 1 s for any that ' +
      'does not. A second INT or TERM during a graceful stop also makes it immediate.',
    workerDoc: 'Immediate exit of this worker; the master replaces it.',
  },
  {
    signal: 'SIGHUP',
    master: 'reload',
    worker: 'ignore',
    masterDoc:
      'Re-read the config file and roll the workers: each old worker is stopped gracefully once a new one ' +
      'is ready. A config that does not parse or validate, or new workers that miss `boot-timeout`, abort the ' +
      'reload and keep the old workers serving.',
    workerDoc: 'Ignored.',
  },
  {
    signal: 'SIGUSR2',
    master: 'reexec',
    worker: 'ignore',
    masterDoc:
      'Upgrade: start a new master (same command line and directory) that inherits every listening socket. ' +
      'The pid file becomes `<pid>.oldbin`. Then WINCH and QUIT the old master, or back out with HUP to the ' +
      'old master and QUIT to the new one. With `upgrade-handover auto` the new master quits the old one ' +
      'once all its workers are ready.',
    workerDoc: 'Ignored.',
  },
  {
    signal: 'SIGWINCH',
    master: 'stop-workers',
    worker: 'ignore',
    masterDoc:
      'Gracefully stop every worker; the master keeps its sockets (connections queue in the kernel). ' +
      'Ignored when the master has a controlling terminal, which sends WINCH on every resize. TTIN or HUP ' +
      'brings workers back. With `max-workers`, both bounds become 0 (elastic scaling stops until HUP).',
    workerDoc: 'Ignored.',
  },
  {
    signal: 'SIGTTIN',
    master: 'add-worker',
    worker: 'ignore',
    masterDoc:
      'One worker more. With `max-workers`, both bounds of the elastic window move up by one with it ' +
      '(`workers 2 max-workers 4` becomes 3..5, and the count one more within it).',
    workerDoc: 'Ignored (without a handler it would stop the process).',
  },
  {
    signal: 'SIGTTOU',
    master: 'remove-worker',
    worker: 'ignore',
    masterDoc:
      'One worker fewer (never fewer than 0): the highest slot stops gracefully. With `max-workers`, both bounds ' +
      'move down by one with it (the lower never below 0, the upper never below the lower).',
    workerDoc: 'Ignored (without a handler it would stop the process).',
  },
  {
    signal: 'SIGUSR1',
    master: 'reopen-logs',
    worker: 'reopen-logs',
    masterDoc:
      'Reopen log files (log-file, access-log) in the master and every worker, for logrotate. Because RAAS ' +
      'handles USR1, it does not start the Node inspector as Node does by default.',
    workerDoc: 'Reopen this worker\'s log files.',
  },
];

export function renderSignalsDoc(): string {
  const rows = SIGNALS.map(
    (s) => `| \`${s.signal.slice(3)}\` | ${s.masterDoc} | ${s.workerDoc} |`,
  );
  return [
    '# Signals',
    '',
    '<!-- Generated from src/signals.ts by renderSignalsDoc(); test/unit/signals-doc.test.ts keeps them equal. -->',
    '',
    'Send them to the master (its pid is in the `pid` file) unless the column says worker. The control',
    'command (`raas reload`, `raas upgrade`, ...) sends them for you; see the README.',
    '',
    '| signal | master | worker |',
    '|---|---|---|',
    ...rows,
    '',
    'Every other signal a whole process group may receive (for example TTIN and TTOU from a terminal) is',
    'harmless to workers. Workers also leave on their own, within a second, when their master dies; one',
    'whose event loop is blocked then is killed by its own watchdog thread 5 s later (`worker-watchdog on`).',
    '',
    '## Signals while the master starts',
    '',
    'Which signals are safe from which moment (safe: handled as the table above says):',
    '',
    '| moment after `raas` starts | USR1 | HUP | QUIT, TERM, INT | USR2, WINCH, TTIN, TTOU |',
    '|---|---|---|---|---|',
    '| the `raas` command\'s shell (bin/raas, a few ms, until it execs Node) | ignored | ignored | kill (nothing has started) | default (kill or stop) |',
    '| Node\'s bootstrap, before RAAS\'s first instruction (10-50 ms), Node 22.14+, 23.7+, 24, 26 | kills (never an inspector: `--disable-sigusr1`) | kills | kill | default (kill or stop) |',
    '| the same, Node 20 (no `--disable-sigusr1`), or Node started without the `raas` command | kills, or **starts the inspector** on 127.0.0.1:9229 | kills | kill | default (kill or stop) |',
    '| RAAS\'s first instruction until its loop runs (config, pid file, binding) | queued | queued (one reload) | queued; a second one exits at once | queued |',
    '| the loop runs | safe | safe | safe | safe |',
    '',
    'The `raas` command as installed (`node_modules/.bin/raas`, `npx raas`; package.json `bin`) execs Node with',
    '`--disable-sigusr1` wherever Node has the flag, so the master keeps the pid that was started and no USR1',
    'can open an inspector, not even in Node\'s own bootstrap. The check costs one `node --version`-style start',
    'of a few milliseconds. The inspector accepts code from any local user and runs it as the master\'s user,',
    'root included; logrotate\'s `kill -USR1` in that window is enough. Node 20 has no such flag: a master that',
    'runs as root on it (or on any Node started without the flag, e.g. `node dist/src/cli.js`) logs',
    '`event=inspector-window` at start. What remains on Node 20 is that window of some tens of milliseconds',
    'after exec; only signal a pid read from the pid file (written once the handlers exist), or move to Node 22.14+.',
    '',
    'From RAAS\'s first instruction, a handler exists for every signal above; what arrives while the master',
    'loads its config, claims the pid file and binds is queued and handled, in order, as soon as its loop runs',
    '(a HUP then reloads; several coalesce into one). A second INT, TERM or QUIT before the loop runs exits at',
    'once (128 + signal number): a config that never finishes loading must not make the process unkillable.',
    '',
    '## Early signals in workers',
    '',
    'Until a Node process has a handler for USR1, USR1 opens the Node inspector (127.0.0.1:9229: code',
    'execution as the process\'s user), and HUP or USR1 kill it. So a worker\'s first instructions install',
    'a handler for every signal above (USR1 first) before anything else loads, and a stop that arrives',
    'before the runtime exists makes it leave at once (it has accepted nothing). Workers run in a process',
    'group and session of their own: signals for the master\'s group (a terminal\'s HUP, `kill -- -PGID`)',
    'never reach them; the master forwards what they must obey. On Node 22.14+ workers start with',
    '`--disable-sigusr1`, so even during Node\'s own start-up USR1 opens no inspector.',
    '',
    'What remains: a signal sent to a worker\'s pid before its first JS instruction (Node\'s start-up, about',
    '30-80 ms, more on a loaded machine) still kills it (on Node 20, USR1 may open the inspector then),',
    'and a group signal for the master that lands between fork and the worker\'s setsid is delivered at',
    'exec and kills it. Such a worker is respawned at once and logged as `event=worker-signalled-early`: a',
    'death by a signal its handlers would have caught says nothing about the app, so it never counts',
    'towards the crash-loop halt or its back-off. Signal the master, not workers, while they boot.',
    '',
  ].join('\n');
}
