// CIDR lists for the settings that say which peers are trusted (proxy-from, trust-proxy):
// parsing one item into normal text, and matching a peer address against a list.
// Pure: no DNS, no sockets. Runs in: master (validating settings) and workers (matching peers).

import * as net from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** The network address as given (host bits may be set; they are ignored when matching). */
  address: string;
  prefix: number;
}

/**
 * One item: `10.0.0.0/8`, `192.0.2.7` (a single host), `fd00::/8`, `::1`. Returns the normal text
 * (`192.0.2.7/32`) or throws an Error saying what is wrong.
 */
export function parseCidr(item: string): Cidr {
  const slash = item.indexOf('/');
  const address = slash === -1 ? item : item.slice(0, slash);
  const family = net.isIPv4(address) ? 4 : net.isIPv6(address) ? 6 : 0;
  if (family === 0) throw new Error(`"${item}" is not an IP address or CIDR block (e.g. 10.0.0.0/8, ::1)`);
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const text = item.slice(slash + 1);
    if (!/^\d{1,3}$/.test(text) || Number(text) > max) throw new Error(`"${item}": prefix length must be 0-${max}`);
    prefix = Number(text);
  }
  return { family, address, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

/** Normalizes one list item for the settings table; throws with the reason. */
export function normalizeCidr(item: string): string {
  return formatCidr(parseCidr(item));
}

/**
 * A matcher over a list of CIDR items (already valid). An IPv4-mapped IPv6 peer
 * (`::ffff:10.1.2.3`, what a dual-stack socket reports) matches the IPv4 blocks.
 */
export function cidrMatcher(items: readonly string[]): (address: string | undefined) => boolean {
  if (items.length === 0) return () => false;
  const list = new net.BlockList();
  for (const item of items) {
    const c = parseCidr(item);
    list.addSubnet(c.address, c.prefix, c.family === 4 ? 'ipv4' : 'ipv6');
  }
  return (address) => {
    if (address === undefined || address === '') return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return list.check(mapped[1] as string, 'ipv4');
    if (net.isIPv4(address)) return list.check(address, 'ipv4');
    if (net.isIPv6(address)) return list.check(address, 'ipv6');
    return false;
  };
}
