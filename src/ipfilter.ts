/**
 * server.allow_ips: single addresses or CIDR ranges, IPv4 and IPv6. Empty = every address.
 * server.trust_proxy: a hop count or the proxies' addresses/CIDR ranges (same syntax), never "trust everyone".
 */
import { readFileSync } from 'node:fs';
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

/**
 * server.allow_ips_files: published egress ranges loaded into the allow-list at start-up.
 * - format auth0: Auth0's machine-readable list (https://cdn.auth0.com/ip-ranges.json): {"regions": {"<region>":
 *   {"ipv4_cidrs": [...]}}, ...}; `regions` picks the tenant's region(s) (all when empty).
 * - format text: one address or CIDR range per line; blank lines and # comments are ignored.
 * Problems name the file entry (label) and never echo the file's contents beyond a region name.
 */
export interface AllowListFile {
  path: string;
  format: 'auth0' | 'text';
  regions: string[];
}

export function readAllowListFile(spec: AllowListFile, label: string): { entries: string[]; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(spec.path, 'utf8');
  } catch (e) {
    return { entries: [], problems: [`${label}.path: cannot read the file (${(e as { code?: string }).code ?? 'error'})`] };
  }
  if (spec.format === 'text') {
    const entries = text
      .split(/\r?\n/)
      .map((l) => l.replace(/#.*/, '').trim())
      .filter((l) => l.length > 0);
    const { problems } = parseAllowList(entries, `${label} (line)`);
    // An empty file must not turn an allow-list that holds only it into "every address".
    if (entries.length === 0) problems.push(`${label}: the file lists no addresses or ranges`);
    return { entries, problems };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { entries: [], problems: [`${label}.path: not JSON (format auth0 expects Auth0's ip-ranges.json)`] };
  }
  const regions = (doc as { regions?: unknown } | null)?.regions;
  if (!regions || typeof regions !== 'object' || Array.isArray(regions)) {
    return { entries: [], problems: [`${label}.path: no "regions" object (format auth0 expects Auth0's ip-ranges.json)`] };
  }
  const byRegion = regions as Record<string, { ipv4_cidrs?: unknown; ipv6_cidrs?: unknown } | undefined>;
  const problems: string[] = [];
  const wanted = spec.regions.length > 0 ? spec.regions : Object.keys(byRegion);
  const entries: string[] = [];
  for (const r of wanted) {
    const region = byRegion[r];
    if (!region || typeof region !== 'object') {
      problems.push(`${label}.regions: no region "${r.slice(0, 40)}" in the file (it has: ${Object.keys(byRegion).slice(0, 20).join(', ')})`);
      continue;
    }
    for (const key of ['ipv4_cidrs', 'ipv6_cidrs'] as const) {
      const list = region[key];
      if (list === undefined) continue;
      if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) problems.push(`${label}: regions.${r}.${key} is not a list of strings`);
      else entries.push(...list);
    }
  }
  problems.push(...parseAllowList(entries, `${label} (a range in the file)`).problems);
  if (entries.length === 0 && problems.length === 0) problems.push(`${label}: the file lists no ranges for the chosen regions`);
  return { entries, problems };
}
