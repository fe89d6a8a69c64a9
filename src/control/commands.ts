// The control commands by name, with their usage and help: read by `--help` and by the command
// runner (src/control/command.ts), so the two cannot disagree.
// Runs in: the operator's shell.

export const CONTROL_COMMANDS = {
  status: { usage: 'status [--json]', help: 'Show the master, its workers (state, age, requests, req/s, memory, event loop) and its listeners (queue depth); --json: the schema of docs/OBSERVABILITY.md. With neither --pid nor --name: list this user\'s live masters (name, pid, state, workers, generation, uptime, requests).' },
  reload: { usage: 'reload', help: 'HUP and wait: fails if the config is refused or the reload aborted.' },
  upgrade: { usage: 'upgrade', help: 'USR2 and wait until the new master (which inherits the sockets) is ready.' },
  stop: { usage: 'stop', help: 'TERM and wait: graceful, killing what is left after shutdown-timeout.' },
  quit: { usage: 'quit', help: 'QUIT and wait: graceful, every accepted connection finishes.' },
  scale: { usage: 'scale N', help: 'TTIN/TTOU one at a time until N workers are wanted and ready.' },
} as const;

export type ControlCommandName = keyof typeof CONTROL_COMMANDS;
