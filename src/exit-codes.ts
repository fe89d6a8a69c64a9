// Exit codes of every RAAS process (master, worker, control command), named once.
// Runs in: all processes.

export const EXIT = {
  /** Clean exit: graceful stop finished, or a control command succeeded. */
  OK: 0,
  /** Unexpected crash (an uncaught exception in the master or control command). */
  FATAL: 1,
  /**
   * A setting was refused (flag, env var or config file); nothing was started. Also a missing or
   * unreadable `app` file, and a TypeScript app this Node cannot run (config/app-file.ts).
   */
  CONFIG: 2,
  /** A listening socket could not be bound or inherited. */
  BIND: 3,
  /**
   * Workers could not boot at all: the master gave up instead of respawning forever (5 failed
   * boots in a row with none serving, or at the first start a failed boot once `boot-timeout` has
   * passed with none ready). Its last log line repeats the first boot error.
   */
  WORKERS_CANNOT_BOOT: 4,
  /** Another live master already owns the pid file. */
  ALREADY_RUNNING: 5,
  /** A control command's operation failed (a reload was aborted, no master answered, two masters matched). */
  CONTROL_FAILED: 6,
  /** The master loop kept failing in its own handlers: it stopped because its state is not trusted. */
  MASTER_UNSOUND: 8,
  /**
   * The pid file cannot be claimed: its directory is writable by other users (and not sticky), the
   * file belongs to another user or is not a regular file, or it cannot be written.
   */
  PIDFILE: 7,
  /** Worker only: it could not start (bad inherited fd, app module failed to load). */
  WORKER_BOOT_ERROR: 10,
  /** Worker only: it drained and left after an uncaught exception or unhandled rejection. */
  WORKER_CRASHED: 11,
  /** Worker only: its master went away. */
  WORKER_ORPHANED: 12,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
