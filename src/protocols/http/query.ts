// Request-target parsing for the built-in endpoints: the path, and one query parameter decoded to
// raw bytes so that invalid UTF-8 can be refused instead of silently becoming U+FFFD.
// Runs in: workers.
//
// Why not URL / URLSearchParams: both decode `%FF` to U+FFFD, where RAAS answers 400. llhttp
// refuses raw bytes >= 0x80 in the request-target (400 before we see it), so the target is ASCII
// and every non-ASCII character of `s` arrives percent-encoded: we decode the escapes to bytes and
// the UTF-8 check happens once, on those bytes.

export interface Target {
  /** The path, not decoded: `/reverse` must be spelled exactly so. */
  path: string;
  /** Everything after the first `?` (without fragment), or null when there is no `?`. */
  query: string | null;
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/** Splits a request-target in origin-form (`/p?q`) or absolute-form (`http://h/p?q`). */
export function parseTarget(target: string): Target {
  let rest = target;
  const absolute = ABSOLUTE_FORM.exec(rest);
  if (absolute !== null) rest = rest.slice(absolute[0].length) || '/';
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  if (q === -1) return { path: rest, query: null };
  return { path: rest.slice(0, q), query: rest.slice(q + 1) };
}

/**
 * The bytes of the first parameter called `name` in an application/x-www-form-urlencoded query
 * (`+` is a space), or undefined when absent, or null when a percent-escape is malformed.
 * The bytes are not checked for UTF-8 here: the caller's reversal does that.
 */
export function queryParam(query: string, name: string): Buffer | null | undefined {
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const key = percentDecode(rawKey);
    if (key === null || key.toString('latin1') !== name) continue;
    return percentDecode(eq === -1 ? '' : pair.slice(eq + 1));
  }
  return undefined;
}

/** A query with nothing to decode: no `%` escape, no `+`, ASCII only. */
const PLAIN_QUERY = /^[^%+\u0080-\uffff]*$/;

/**
 * queryParam for the usual target (`?s=hello`): when `query` has nothing to decode, every
 * parameter is its own text, so the first `name` parameter's value is returned as a string
 * without a Buffer per key and value (the built-in GET /reverse hot path). Returns undefined when
 * absent, and null when `query` needs queryParam.
 */
export function plainQueryParam(query: string, name: string): string | null | undefined {
  if (!PLAIN_QUERY.test(query)) return null;
  for (let start = 0; start <= query.length; ) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    let keyEnd = query.indexOf('=', start);
    if (keyEnd === -1 || keyEnd > end) keyEnd = end;
    if (keyEnd - start === name.length && query.startsWith(name, start)) {
      return keyEnd === end ? '' : query.slice(keyEnd + 1, end);
    }
    start = end + 1;
  }
  return undefined;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10; // a-f
  return -1;
}

/**
 * Strict form-urlencoded decoding to bytes: `+` becomes a space and `%XX` a byte; a `%` not
 * followed by two hex digits is an error (as in decodeURIComponent), not a literal `%`.
 */
export function percentDecode(raw: string): Buffer | null {
  const src = Buffer.from(raw, 'latin1');
  const out = Buffer.allocUnsafe(src.length);
  let j = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as number;
    if (c === 0x2b /* + */) {
      out[j++] = 0x20;
    } else if (c === 0x25 /* % */) {
      const hi = i + 2 < src.length ? hexValue(src[i + 1] as number) : -1;
      const lo = hi === -1 ? -1 : hexValue(src[i + 2] as number);
      if (lo === -1) return null;
      out[j++] = hi * 16 + lo;
      i += 2;
    } else {
      out[j++] = c;
    }
  }
  return out.subarray(0, j);
}
