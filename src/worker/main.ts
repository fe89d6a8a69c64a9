// Entry point of a worker process, spawned by the master's launcher with the listening sockets
// as inherited fds and its boot configuration in the environment.
// Runs in: workers.

import { EXIT } from '../exit-codes.js';
import { WORKER_CONFIG_ENV, type WorkerBootConfig } from '../ipc.js';
import { WorkerRuntime } from './runtime.js';

const raw = process.env[WORKER_CONFIG_ENV];
if (raw === undefined) {
  process.stderr.write('this is a RAAS worker; start RAAS with the `raas` command\n');
  process.exit(EXIT.WORKER_BOOT_ERROR);
}
// Children of the app (a worker's own subprocesses) must not look like workers.
delete process.env[WORKER_CONFIG_ENV];

await new WorkerRuntime(JSON.parse(raw) as WorkerBootConfig).run();
