/**
 * server.allow_ips: single addresses or CIDR ranges, IPv4 and IPv6. Empty = every address.
 * server.trust_proxy: a hop count or the proxies' addresses/CIDR ranges (same syntax), never "trust everyone".
 */
import type { RequestHandler } from 'express';
import ipaddr from 'ipaddr.js';
import { ApiError } from './errors.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** label: the config path the problems name (server.allow_ips, server.trust_proxy). */
export function parseAllowList(entries: string[], label = 'server.allow_ips'): { ranges: Range[]; problems: string[] } {
  const ranges: Range[] = [];
  const problems: string[] = [];
  entries.forEach((e, i) => {
    try {
      const [addr = '', bits] = e.trim().split('/');
      // ipaddr.js also takes octal, hex and shortened IPv4 ("010.0.0.1" is 8.0.0.1, "10" is 0.0.0.10):
      // an allow-list entry must mean what it looks like, so IPv4 must be four plain decimal parts.
      if (!addr.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(addr)) throw new Error('not dotted decimal');
      if (bits !== undefined && !/^\d{1,3}$/.test(bits)) throw new Error('bad prefix');
      if (bits !== undefined) ranges.push(ipaddr.parseCIDR(`${addr}/${bits}`));
      else {
        const a = ipaddr.process(addr);
        ranges.push([a, a.kind() === 'ipv4' ? 32 : 128]);
      }
    } catch {
      problems.push(`${label}.${i}: not an IP address or CIDR range`);
    }
  });
  return { ranges, problems };
}

export function ipAllowed(ranges: Range[], ip: string | undefined): boolean {
  if (ranges.length === 0) return true;
  if (!ip || !ipaddr.isValid(ip)) return false;
  const a = ipaddr.process(ip); // unwraps ::ffff:1.2.3.4
  return ranges.some(([net, bits]) => a.kind() === net.kind() && a.match(net, bits));
}

export function ipFilter(entries: string[]): RequestHandler {
  const { ranges, problems } = parseAllowList(entries);
  if (problems.length) throw new Error(problems.join('; '));
  return (req, _res, next) => {
    if (ipAllowed(ranges, req.ip)) return next();
    next(new ApiError(403, 'forbidden_ip', 'This address is not allowed to call the gateway.'));
  };
}

/**
 * Express's "trust proxy" setting for server.trust_proxy. Express walks X-Forwarded-For from the right, starting
 * with the socket's peer, and stops at the first address it does not trust: that one is req.ip.
 * - false / 0: nothing trusted; req.ip is the socket's peer and X-Forwarded-For is ignored.
 * - n: the n right-most hops are trusted whatever they are. Only right when exactly n proxies always stand in
 *   front: a client that connects directly can write the entry Express then takes as its address.
 * - a list: only hops from those addresses/ranges are trusted, so a client can never be placed by what it writes
 *   to the left of the entry a trusted proxy appended.
 */
export function trustProxySetting(value: false | number | string[]): false | number | ((addr: string, i: number) => boolean) {
  if (value === false || value === 0) return false;
  if (typeof value === 'number') return value;
  const { ranges, problems } = parseAllowList(value, 'server.trust_proxy');
  if (problems.length) throw new Error(problems.join('; '));
  if (ranges.length === 0) return false;
  return (addr: string) => ipAllowed(ranges, addr);
}
