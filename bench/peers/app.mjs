// Bench app served through RAAS's `--app`: the same GET /reverse?s=... handler as the plain
// node:http peer in bench/baseline-cluster.ts, so the two compare what RAAS adds around an app.
// Runs in: RAAS workers (loaded by the HTTP protocol).

function reverse(s) {
  return Array.from(s).reverse().join('');
}

export default function handler(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/reverse') {
    const body = reverse(url.searchParams.get('s') ?? '');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } else {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 10 });
    res.end('not found\n');
  }
}
