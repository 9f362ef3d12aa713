/** server.allow_ips: single addresses or CIDR ranges, IPv4 and IPv6. Empty = every address. */
import type { RequestHandler } from 'express';
import ipaddr from 'ipaddr.js';
import { ApiError } from './errors.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export function parseAllowList(entries: string[]): { ranges: Range[]; problems: string[] } {
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
      problems.push(`server.allow_ips.${i}: not an IP address or CIDR range`);
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
