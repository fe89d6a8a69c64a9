// `trust-proxy`: the client address of a request relayed by trusted balancers, read from
// `Forwarded` (RFC 7239) or else `X-Forwarded-For`, for the access log of plain HTTP listeners.
// Pure. Runs in: workers.
//
// Each hop appends the address it received the request from, so the list reads client, proxy1,
// proxy2 and the socket's peer comes after the last. Walking from the right, every address a
// trusted balancer wrote is believable until the first one that is not trusted: that one is the
// client. Anything left of it was written by the client itself and may be forged.

import type * as http from 'node:http';
import * as net from 'node:net';
import { cidrMatcher } from '../../config/cidr.js';

/**
 * The client address per `trusted`: the socket's peer when it is not a trusted balancer, else the
 * rightmost untrusted hop. A hop that is not an IP address (`unknown`, an obfuscated name, junk)
 * ends the walk at the nearest trusted hop: it can neither be believed nor written to a log.
 */
export function forwardedClient(
  peer: string | undefined,
  headers: http.IncomingHttpHeaders,
  trusted: (address: string | undefined) => boolean,
): string | undefined {
  if (!trusted(peer)) return peer;
  const hops = forwardedHops(headers);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (!net.isIP(hop)) return client;
    client = hop;
    if (!trusted(hop)) return hop;
  }
  return client;
}

/** The hop addresses, left (farthest) to right (nearest), from Forwarded or else X-Forwarded-For. */
export function forwardedHops(headers: http.IncomingHttpHeaders): string[] {
  const forwarded = headers.forwarded;
  if (typeof forwarded === 'string' && forwarded !== '') {
    return splitOutsideQuotes(forwarded, ',').map((element) => {
      for (const pair of splitOutsideQuotes(element, ';')) {
        const eq = pair.indexOf('=');
        if (eq !== -1 && pair.slice(0, eq).trim().toLowerCase() === 'for') return withoutPort(unquote(pair.slice(eq + 1).trim()));
      }
      return ''; // an element without for=: an unknown hop
    });
  }
  const xff = headers['x-forwarded-for'];
  const text = Array.isArray(xff) ? xff.join(',') : xff;
  if (typeof text !== 'string' || text === '') return [];
  return text.split(',').map((hop) => withoutPort(hop.trim()));
}

/** `"[2001:db8::1]:4711"` -> `2001:db8::1`, `192.0.2.1:80` -> `192.0.2.1`; anything else as is. */
function withoutPort(hop: string): string {
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracket) return bracket[1] as string;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4 ? (v4[1] as string) : hop;
}

function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/**
 * The access log's client-address function for a `trust-proxy` list, or undefined when the list
 * is empty (off: the log uses the socket's peer and pays nothing).
 */
export function clientAddressResolver(trustProxy: readonly string[]): ((req: http.IncomingMessage) => string | undefined) | undefined {
  if (trustProxy.length === 0) return undefined;
  const trusted = cidrMatcher(trustProxy);
  return (req) => forwardedClient(req.socket.remoteAddress, req.headers, trusted);
}
