// The built-in RAAS endpoints, served when no `app` is configured:
//   GET|HEAD /reverse?s=TEXT  -> TEXT reversed by grapheme cluster
//   POST /reverse             -> the request body reversed (at most `maxBody` bytes, else 413)
//   GET|HEAD /healthz         -> 200 "ok" while serving, 503 "draining" once the worker drains
// Runs in: workers.

import type * as http from 'node:http';
import { reverseText, reverseUtf8 } from '../reverse.js';
import { parseTarget, plainQueryParam, queryParam } from './query.js';

export type BuiltinHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  expectContinue: boolean,
) => Promise<void> | void;

export interface BuiltinOptions {
  maxBody: number;
  isDraining: () => boolean;
}

const ALLOW: Record<string, string> = {
  '/reverse': 'GET, HEAD, POST',
  '/healthz': 'GET, HEAD',
};

/** Sends a complete text/plain response (no body for HEAD: Content-Length still tells its size). */
export function sendText(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  // One writeHead with a flat array: the cheapest way through node's header machinery.
  const head = [
    'Content-Type', 'text/plain; charset=utf-8',
    // The body echoes client input: never let a browser sniff it into HTML.
    'X-Content-Type-Options', 'nosniff',
    'Content-Length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length),
  ];
  for (const name in headers) head.push(name, headers[name] as string);
  res.writeHead(status, head);
  if (req.method === 'HEAD') res.end();
  // A string body leaves node:http with one write(2) of head and body together; a Buffer body
  // costs a second syscall (measured: a third fewer requests per second on keep-alive).
  else res.end(typeof body === 'string' || body.length > 16 * 1024 ? body : body.toString('utf8'));
}

export function createBuiltinHandler(options: BuiltinOptions): BuiltinHandler {
  // Not async: GET is the hot path and must not pay for a promise per request.
  return (req, res, expectContinue) => {
    const { path, query } = parseTarget(req.url ?? '/');
    const method = req.method ?? 'GET';
    const allow = ALLOW[path];
    if (allow === undefined) return sendText(req, res, 404, 'not found\n');

    if (path === '/healthz' && (method === 'GET' || method === 'HEAD')) {
      const draining = options.isDraining();
      return sendText(req, res, draining ? 503 : 200, draining ? 'draining\n' : 'ok\n', {
        'Cache-Control': 'no-store',
      });
    }
    if (path === '/reverse' && (method === 'GET' || method === 'HEAD')) {
      return reverseQuery(req, res, query);
    }
    if (path === '/reverse' && method === 'POST') {
      return readBody(req, res, options.maxBody, expectContinue).then((body) => {
        if (body === null) return;
        const reversed = reverseUtf8(body);
        if (reversed === null) return sendText(req, res, 400, 'request body is not valid UTF-8\n');
        return sendText(req, res, 200, reversed);
      });
    }
    return sendText(req, res, 405, 'method not allowed\n', { Allow: allow });
  };
}

function reverseQuery(req: http.IncomingMessage, res: http.ServerResponse, query: string | null): void {
  const plain = query === null ? undefined : plainQueryParam(query, 's');
  if (typeof plain === 'string') return sendText(req, res, 200, reverseText(plain));
  const bytes = query === null ? undefined : queryParam(query, 's');
  if (bytes === undefined) return sendText(req, res, 400, 'missing query parameter s\n');
  if (bytes === null) return sendText(req, res, 400, 'malformed percent-encoding in the query\n');
  const reversed = reverseUtf8(bytes);
  if (reversed === null) return sendText(req, res, 400, 'query parameter s is not valid UTF-8\n');
  sendText(req, res, 200, reversed);
}

/** Answers 413 and closes: we stop reading, so the rest of the body must not be parsed as a request. */
function tooLarge(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.shouldKeepAlive = false;
  sendText(req, res, 413, 'request body too large\n', { Connection: 'close' });
}

/**
 * The whole request body, or null when a response was already sent (413) or the client went away.
 * A declared Content-Length over the limit is refused before reading a byte, and before
 * `100 Continue` is sent, so a well-behaved client never uploads a body we would throw away.
 */
function readBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  limit: number,
  expectContinue: boolean,
): Promise<Buffer | null> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    tooLarge(req, res);
    return Promise.resolve(null);
  }
  if (expectContinue) res.writeContinue();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: Buffer | null): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Chunked bodies have no declared length: refuse as soon as the limit is crossed.
        req.pause();
        tooLarge(req, res);
        done(null);
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = (): void => done(Buffer.concat(chunks, size));
    // 'close' before 'end' (or 'error') means the client aborted: nobody is left to answer.
    const onClose = (): void => done(null);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onClose);
  });
}
