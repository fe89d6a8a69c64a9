// Entry point of a worker process, spawned by the master's launcher with the listening sockets
// as inherited fds and its boot configuration in the environment.
// Runs in: workers.
//
// Its first instructions install a handler for every signal of the signal table: until then,
// USR1 would open Node's inspector (code execution as this user) and HUP would kill the
// worker. The only static import is the small signal table; everything else comes after, by
// dynamic import(). Stops that arrive before the runtime exists are queued, and honoured by
// leaving at once (nothing was accepted yet). What remains unprotected is Node's own start-up,
// before any JS runs: see docs/SIGNALS.md ("Early signals").

import { SIGNALS } from '../signals.js';

const early: NodeJS.Signals[] = [];
const queueEarly = (signal: NodeJS.Signals): void => void early.push(signal);
// USR1 first: until its handler exists, Node opens the inspector on it.
process.on('SIGUSR1', queueEarly);
for (const spec of SIGNALS) if (spec.signal !== 'SIGUSR1') process.on(spec.signal, queueEarly);

const [{ EXIT }, { WORKER_CONFIG_ENV }, { WorkerRuntime }] = await Promise.all([
  import('../exit-codes.js'),
  import('../ipc.js'),
  import('./runtime.js'),
]);

const raw = process.env[WORKER_CONFIG_ENV];
if (raw === undefined) {
  process.stderr.write('this is a RAAS worker; start RAAS with the `raas` command\n');
  process.exit(EXIT.WORKER_BOOT_ERROR);
}
// Children of the app (a worker's own subprocesses) must not look like workers.
delete process.env[WORKER_CONFIG_ENV];

// A stop ordered before the runtime existed: nothing was accepted, so leaving now loses nothing.
const stopped = early.some((signal) => {
  const action = SIGNALS.find((s) => s.signal === signal)?.worker;
  return action === 'graceful-stop' || action === 'immediate-stop';
});
if (stopped) process.exit(EXIT.OK);

const runtime = new WorkerRuntime(JSON.parse(raw) as import('../ipc.js').WorkerBootConfig);
// run() installs the runtime's own handlers before its first await: only then do ours go.
const running = runtime.run();
for (const spec of SIGNALS) process.off(spec.signal, queueEarly);
await running;
