// Integration: the `raas` command as npm installs it (package.json "bin", linked into
// node_modules/.bin). It execs Node, so the master keeps the pid that was started, and on a Node
// that has `--disable-sigusr1` it passes the flag: a USR1 in Node's own bootstrap, before RAAS's
// first instruction, then opens no inspector (127.0.0.1:9229, code execution as the master's
// user). On Node 20, which has no such flag, a root master says so at start.
// Runs in: the test runner process; drives real processes and signals, on whichever Node runs
// the suite (the command runs the `node` first on PATH, as the test runner's own is here).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG, parseLine } from '../../src/log.js';
import { REPO_ROOT, isAlive, tmpDir, waitUntil } from '../helpers/raas.js';

const CLEAN_ENV = { RAAS_WORKERS: '', WEB_CONCURRENCY: '', RAAS_LISTEN: '', RAAS_LOG_FILE: '', RAAS_APP: '' };
const HAS_FLAG = process.allowedNodeEnvironmentFlags.has('--disable-sigusr1');
const started: number[] = [];
after(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** node_modules/.bin/raas as npm links it: a symlink to the package's bin file. */
function installedCommand(): string {
  const bin = path.join(tmpDir('raas-bin-'), 'node_modules', '.bin');
  fs.mkdirSync(bin, { recursive: true });
  const link = path.join(bin, 'raas');
  fs.symlinkSync(path.join(REPO_ROOT, 'bin', 'raas'), link);
  return link;
}

/** Whether `pid` has a handler for SIGHUP: RAAS's first instruction has run. */
function catchesHup(pid: number): boolean {
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** The Node of the test run first on PATH, so the command runs the Node the suite runs on. */
function envWithThisNode(): NodeJS.ProcessEnv {
  return { ...process.env, ...CLEAN_ENV, PATH: `${path.dirname(process.execPath)}:${process.env['PATH'] ?? ''}` };
}

interface Started {
  pid: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(command: string, args: string[]): Started {
  let output = '';
  const child = spawn(command, args, { env: envWithThisNode(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  started.push(child.pid!);
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => void (output += chunk));
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { pid: child.pid!, output: () => output, exited };
}

describe('the installed raas command', () => {
  it('execs Node in place: the master keeps the started pid, with --disable-sigusr1 where Node has it', async () => {
    const raas = run(installedCommand(), ['--listen', '127.0.0.1:0', '-w', '1']);
    await waitUntil('ready', () => raas.output().includes(`event=${LOG.READY}`), 20_000);
    const ready = raas.output().split('\n').filter((l) => l.includes(`event=${LOG.READY}`)).map(parseLine)[0]!;
    assert.equal(Number(ready['master_pid']), raas.pid, 'no wrapper process: the master is the process started');
    assert.equal(fs.readlinkSync(`/proc/${raas.pid}/exe`), fs.realpathSync(process.execPath));
    // The master retitles itself over its argv, so the flag is read back through the warning a
    // root master gives when Node started without it.
    const warned = raas.output().includes(`event=${LOG.INSPECTOR_WINDOW}`);
    if (process.getuid?.() === 0) assert.equal(warned, !HAS_FLAG, `${process.version}: ${raas.output()}`);
    process.kill(raas.pid, 'SIGQUIT');
    assert.deepEqual(await raas.exited, { code: 0, signal: null });
  });

  it('USR1 every millisecond from the exec on: never an inspector (Node 22.14+), or a warning at start (Node 20)', async (t) => {
    const command = installedCommand();
    const outcomes: string[] = [];
    for (let round = 0; round < 5; round++) {
      const raas = run(command, ['--listen', '127.0.0.1:0', '-w', '1']);
      let sent = 0;
      // From the moment the process exists until RAAS's own handlers are in place.
      const storm = setInterval(() => {
        if (catchesHup(raas.pid)) return;
        try {
          process.kill(raas.pid, 'SIGUSR1');
          sent++;
        } catch {
          // gone
        }
      }, 1);
      await waitUntil('handlers installed or the process gone', () => catchesHup(raas.pid) || !isAlive(raas.pid), 20_000).finally(() =>
        clearInterval(storm),
      );
      const handled = isAlive(raas.pid);
      if (handled) {
        process.kill(raas.pid, 'SIGQUIT');
      }
      const exit = await raas.exited;
      const inspector = /Debugger listening|Starting inspector/.test(raas.output());
      outcomes.push(`${sent} sent: ${handled ? 'handled' : `died of ${exit.signal ?? exit.code}`}${inspector ? ', INSPECTOR' : ''}`);
      if (HAS_FLAG) {
        assert.equal(inspector, false, `an inspector opened on ${process.version}: ${raas.output()}`);
        // Before RAAS's handler, USR1 has its default meaning (the flag removes only Node's own handler).
        if (!handled) assert.equal(exit.signal, 'SIGUSR1');
      }
    }
    t.diagnostic(`${process.version}: ${outcomes.join('; ')}`);
  });
});
