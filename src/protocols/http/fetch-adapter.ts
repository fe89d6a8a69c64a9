// Serves a WHATWG-fetch-style app (`{ fetch(request): Response }`, e.g. Hono) from node:http:
// IncomingMessage -> Request, then Response -> ServerResponse with the body streamed.
// Runs in: workers.

import type * as http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

export interface FetchApp {
  fetch(request: Request, ...rest: unknown[]): Response | Promise<Response>;
}

// node:http frames the message itself (Content-Length or chunked, keep-alive or close): a
// framing header copied from the app's Response could contradict what node actually sends.
const NOT_COPIED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'set-cookie']);
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The WHATWG Request for `req`; throws (TypeError) on a target or header undici refuses. */
export function toRequest(req: http.IncomingMessage, signal: AbortSignal): Request {
  const target = req.url ?? '/';
  // HTTP/1.0 may omit Host. An https:// listener's sockets are TLSSockets (`encrypted`).
  const host = req.headers.host ?? 'localhost';
  const scheme = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  const url = ABSOLUTE_FORM.test(target)
    ? target
    : `${scheme}://${host}${target.startsWith('/') ? target : `/${target}`}`;

  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);

  const method = req.method ?? 'GET';
  const hasBody =
    method !== 'GET' &&
    method !== 'HEAD' &&
    (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (hasBody) {
    // toWeb() pulls from `req` only as the app reads: TCP backpressure reaches the client.
    init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
    init.duplex = 'half'; // required by undici for a streamed request body
  }
  return new Request(url, init);
}

/** Writes `response` to `res`: status, headers (each Set-Cookie separately), streamed body. */
export async function writeResponse(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  response: Response,
): Promise<void> {
  res.statusCode = response.status;
  if (response.statusText !== '') res.statusMessage = response.statusText;
  for (const [name, value] of response.headers) {
    if (!NOT_COPIED.has(name)) res.setHeader(name, value);
  }
  // Iterating Headers would join several Set-Cookie values with ", ", which breaks cookies.
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('Set-Cookie', cookies);

  const body = response.body;
  const noBody = req.method === 'HEAD' || response.status === 204 || response.status === 304;
  if (body === null || noBody) {
    if (body !== null) body.cancel().catch(() => {});
    res.end();
    return;
  }
  try {
    await pipeline(Readable.fromWeb(body as unknown as NodeReadableStream<Uint8Array>), res);
  } catch (err) {
    // The client went away mid-body: not the app's fault, nothing left to answer.
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    throw err;
  }
}

/** A Node request listener serving `app`; rejects when the app throws or rejects (-> 500). */
export function fetchListener(app: FetchApp): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  return async (req, res) => {
    const controller = new AbortController();
    // Lets the app cancel its work (and upstream fetches) when the client disconnects.
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    // A body the app never read: node only discards unread bodies nobody listens to, and
    // Readable.toWeb() listens (paused, for backpressure), so the rest of the body would sit in
    // the socket and the next keep-alive request would never be parsed. Discard it like node.
    res.once('finish', () => {
      if (!req.complete) {
        req.removeAllListeners('data');
        req.resume();
      }
    });
    let request: Request;
    try {
      request = toRequest(req, controller.signal);
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end('bad request\n');
      return;
    }
    const response: unknown = await app.fetch(request);
    if (!(response instanceof Response)) {
      throw new TypeError(`fetch() must return a Response, got ${response === null ? 'null' : typeof response}`);
    }
    await writeResponse(req, res, response);
  };
}
