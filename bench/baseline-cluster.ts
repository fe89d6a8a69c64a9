// Bench peer: Node's `cluster`, serving the RAAS line protocol and/or HTTP GET /reverse?s=...
// with plain `node:net` / `node:http` handlers. NODE_CLUSTER_SCHED_POLICY=rr (Linux's default:
// the primary accepts and hands connections to workers) or =none (every worker accepts on the
// shared socket: for HTTP, plain node:http workers sharing one socket); bench/servers.ts sets it.
// Runs in: the cluster primary (bench-started process) and its workers (cluster.fork()).
//
// Usage (same flag shape as the RAAS CLI):
//   node dist/bench/baseline-cluster.js --listen 127.0.0.1:PORT --listen http://127.0.0.1:PORT2 [--workers 2]
// Prints "ready" on stdout once every worker listens on every listener. SIGTERM/SIGQUIT/SIGINT
// stop the workers, then the primary exits.

import cluster from 'node:cluster';
import * as http from 'node:http';
import * as net from 'node:net';

interface Listener {
  kind: 'line' | 'http';
  host: string;
  port: number;
}

function parseArgs(argv: string[]): { listeners: Listener[]; workers: number } {
  const listeners: Listener[] = [];
  let workers = 2;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[i + 1];
    if ((arg === '--listen' || arg === '--workers') && value === undefined) throw new Error(`${arg} needs a value`);
    if (arg === '--listen') {
      i++;
      const http = value!.startsWith('http://');
      const m = /^([\d.]+):(\d+)$/.exec(http ? value!.slice('http://'.length) : value!);
      if (!m) throw new Error(`bad --listen ${value}: want [http://]IPV4:PORT`);
      listeners.push({ kind: http ? 'http' : 'line', host: m[1]!, port: Number(m[2]) });
    } else if (arg === '--workers') {
      i++;
      workers = Number(value);
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  if (listeners.length === 0) throw new Error('at least one --listen is needed');
  if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers must be a positive integer');
  return { listeners, workers };
}

/** Code-point reversal (same result as byte reversal for ASCII). */
function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}

const MAX_LINE = 64 * 1024;

function lineServer(): net.Server {
  return net.createServer((socket) => {
    let buffered = '';
    let answered = false;
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      if (answered) return;
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl >= 0) {
        answered = true;
        const line = buffered.endsWith('\r', nl) ? buffered.slice(0, nl - 1) : buffered.slice(0, nl);
        socket.end(reverse(line) + '\n');
      } else if (buffered.length > MAX_LINE) {
        socket.destroy();
      }
    });
  });
}

function httpServer(): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/reverse') {
      const body = reverse(url.searchParams.get('s') ?? '');
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 10 });
      res.end('not found\n');
    }
  });
}

const { listeners, workers } = parseArgs(process.argv.slice(2));

if (cluster.isPrimary) {
  let listening = 0;
  let stopping = false;
  cluster.on('listening', () => {
    listening++;
    if (listening === listeners.length * workers) process.stdout.write('ready\n');
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) process.stderr.write(`baseline: worker ${worker.process.pid} exited code=${code} signal=${signal}\n`);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(stopping ? 0 : 1);
  });
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  for (const sig of ['SIGTERM', 'SIGQUIT', 'SIGINT'] as const) process.on(sig, stop);
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  for (const l of listeners) {
    const server = l.kind === 'http' ? httpServer() : lineServer();
    server.listen({ host: l.host, port: l.port, backlog: 1024 });
  }
}
