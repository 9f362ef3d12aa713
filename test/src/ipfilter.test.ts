import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ipAllowed, parseAllowList, readAllowListFile, trustProxySetting } from '../../src/ipfilter.js';

function ranges(entries: string[]) {
  const r = parseAllowList(entries);
  assert.deepEqual(r.problems, [], `unexpected problems: ${r.problems.join('; ')}`);
  return r.ranges;
}

describe('parseAllowList', () => {
  test('accepts single IPv4 and IPv6 addresses as host ranges', () => {
    const r = ranges(['10.0.0.1', '2001:db8::1']);
    assert.equal(r.length, 2);
    assert.equal(r[0]![0].kind(), 'ipv4');
    assert.equal(r[0]![0].toString(), '10.0.0.1');
    assert.equal(r[0]![1], 32);
    assert.equal(r[1]![0].kind(), 'ipv6');
    assert.equal(r[1]![1], 128);
  });

  test('accepts IPv4 and IPv6 CIDR ranges', () => {
    const r = ranges(['10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32', '0.0.0.0/0']);
    assert.deepEqual(
      r.map(([a, bits]) => `${a.toString()}/${bits}`),
      ['10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32', '0.0.0.0/0'],
    );
  });

  test('an IPv4-mapped IPv6 single address is stored as IPv4', () => {
    const r = ranges(['::ffff:192.168.1.1']);
    assert.equal(r[0]![0].kind(), 'ipv4');
    assert.equal(r[0]![0].toString(), '192.168.1.1');
  });

  test('invalid entries are reported with their index path, valid ones kept', () => {
    const { ranges: r, problems } = parseAllowList(['10.0.0.1', 'nope', '10.0.0.0/33', '', '2001:db8::/129', '300.1.1.1', '::1', '10.0.0.0/']);
    assert.deepEqual(problems, [
      'server.allow_ips.1: not an IP address or CIDR range',
      'server.allow_ips.2: not an IP address or CIDR range',
      'server.allow_ips.3: not an IP address or CIDR range',
      'server.allow_ips.4: not an IP address or CIDR range',
      'server.allow_ips.5: not an IP address or CIDR range',
      'server.allow_ips.7: not an IP address or CIDR range',
    ]);
    assert.equal(r.length, 2);
  });

  test('an empty list has no ranges and no problems', () => {
    assert.deepEqual(parseAllowList([]), { ranges: [], problems: [] });
  });

  test('non-dotted-quad IPv4 spellings are refused rather than silently reinterpreted', () => {
    // ipaddr.process() accepts classful/octal/hex forms: "10" would become 0.0.0.10 and a
    // zero-padded "010.000.000.001" would become 8.0.0.1 (octal). An allow-list must not guess.
    const { problems } = parseAllowList(['10', '010.000.000.001', '0x0a.0.0.1', '10.1']);
    assert.deepEqual(
      problems,
      [0, 1, 2, 3].map((i) => `server.allow_ips.${i}: not an IP address or CIDR range`),
      'ambiguous IPv4 spellings were accepted',
    );
  });
});

describe('ipAllowed', () => {
  test('an empty list allows every address, even a missing one', () => {
    assert.equal(ipAllowed([], '203.0.113.9'), true);
    assert.equal(ipAllowed([], '2001:db8::1'), true);
    assert.equal(ipAllowed([], undefined), true);
  });

  test('IPv4 CIDR membership', () => {
    const r = ranges(['10.0.0.0/8', '192.168.1.0/24']);
    assert.equal(ipAllowed(r, '10.0.0.5'), true);
    assert.equal(ipAllowed(r, '10.255.255.255'), true);
    assert.equal(ipAllowed(r, '192.168.1.77'), true);
    assert.equal(ipAllowed(r, '192.168.2.1'), false);
    assert.equal(ipAllowed(r, '11.0.0.1'), false);
    assert.equal(ipAllowed(r, '9.255.255.255'), false);
  });

  test('a single address matches only itself', () => {
    const r = ranges(['203.0.113.7']);
    assert.equal(ipAllowed(r, '203.0.113.7'), true);
    assert.equal(ipAllowed(r, '203.0.113.8'), false);
  });

  test('::ffff:10.0.0.5 (how Node reports IPv4 on a dual-stack socket) matches 10.0.0.0/8', () => {
    const r = ranges(['10.0.0.0/8']);
    assert.equal(ipAllowed(r, '::ffff:10.0.0.5'), true);
    assert.equal(ipAllowed(r, '::ffff:11.0.0.5'), false);
  });

  test('an IPv4-mapped allow entry matches the plain IPv4 client address', () => {
    const r = ranges(['::ffff:10.0.0.5']);
    assert.equal(ipAllowed(r, '10.0.0.5'), true);
    assert.equal(ipAllowed(r, '::ffff:10.0.0.5'), true);
  });

  test('IPv6 ranges and addresses', () => {
    const r = ranges(['2001:db8::/32', '::1']);
    assert.equal(ipAllowed(r, '2001:db8::1'), true);
    assert.equal(ipAllowed(r, '2001:db8:ffff:1::42'), true);
    assert.equal(ipAllowed(r, '2001:0db8:0000:0000:0000:0000:0000:0001'), true);
    assert.equal(ipAllowed(r, '2001:db9::1'), false);
    assert.equal(ipAllowed(r, '::1'), true);
    assert.equal(ipAllowed(r, '::2'), false);
  });

  test('IPv4 and IPv6 ranges do not match the other family', () => {
    assert.equal(ipAllowed(ranges(['0.0.0.0/0']), '2001:db8::1'), false);
    assert.equal(ipAllowed(ranges(['::/0']), '10.0.0.1'), false);
    assert.equal(ipAllowed(ranges(['::/0']), '2001:db8::1'), true);
    assert.equal(ipAllowed(ranges(['0.0.0.0/0']), '10.0.0.1'), true);
  });

  test('with a list set, a missing or garbage address is refused', () => {
    const r = ranges(['0.0.0.0/0', '::/0']);
    for (const ip of [undefined, '', 'garbage', 'localhost', '10.0.0.256', '1.2.3.4.5', ':::', '10.0.0.1/8']) {
      assert.equal(ipAllowed(r, ip), false, `${JSON.stringify(ip)} should be refused`);
    }
  });
});

describe('trustProxySetting (server.trust_proxy → Express "trust proxy")', () => {
  test('false and 0 trust nothing; a hop count is passed through', () => {
    assert.equal(trustProxySetting(false), false);
    assert.equal(trustProxySetting(0), false);
    assert.equal(trustProxySetting(2), 2);
  });

  test('a list trusts exactly its addresses/ranges (IPv4-mapped IPv6 included), an empty list nothing', () => {
    const trust = trustProxySetting(['127.0.0.1/32', '10.0.0.0/8', '::1']);
    assert.equal(typeof trust, 'function');
    const f = trust as (addr: string, i: number) => boolean;
    for (const a of ['127.0.0.1', '::ffff:127.0.0.1', '10.9.8.7', '::1']) assert.equal(f(a, 0), true, a);
    for (const a of ['127.0.0.2', '11.0.0.1', '6.6.6.6', '::2', 'garbage', '']) assert.equal(f(a, 0), false, a);
    assert.equal(trustProxySetting([]), false);
  });

  test('a bad entry throws, naming server.trust_proxy', () => {
    assert.throws(() => trustProxySetting(['loopback']), /server\.trust_proxy\.0: not an IP address or CIDR range/);
  });

  test('parseAllowList names the config path it is given', () => {
    assert.deepEqual(parseAllowList(['x'], 'server.trust_proxy').problems, ['server.trust_proxy.0: not an IP address or CIDR range']);
    assert.deepEqual(parseAllowList(['x']).problems, ['server.allow_ips.0: not an IP address or CIDR range']);
  });
});

describe('readAllowListFile (server.allow_ips_files)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-allow-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  // The shape Auth0 documents for https://cdn.auth0.com/ip-ranges.json: last_updated_at, regions.<region>.ipv4_cidrs,
  // changelog. Addresses from the documentation ranges (RFC 5737).
  const AUTH0 = JSON.stringify({
    last_updated_at: '2026-01-01T00:00:00Z',
    regions: {
      us: { ipv4_cidrs: ['192.0.2.10/32', '192.0.2.11/32'] },
      eu: { ipv4_cidrs: ['198.51.100.0/28'] },
    },
    changelog: [{ date: '2026-01-01', action: 'added', ipv4_cidrs: ['192.0.2.11/32'], region: 'us' }],
  });

  test("Auth0's ip-ranges.json: the chosen region's ranges, or every region's", () => {
    const file = write('auth0.json', AUTH0);
    const us = readAllowListFile({ path: file, format: 'auth0', regions: ['us'] }, 'server.allow_ips_files.0');
    assert.deepEqual(us, { entries: ['192.0.2.10/32', '192.0.2.11/32'], problems: [] });
    const all = readAllowListFile({ path: file, format: 'auth0', regions: [] }, 'server.allow_ips_files.0');
    assert.deepEqual(all.entries, ['192.0.2.10/32', '192.0.2.11/32', '198.51.100.0/28']);
    const { ranges } = parseAllowList(us.entries);
    assert.equal(ipAllowed(ranges, '192.0.2.11'), true);
    assert.equal(ipAllowed(ranges, '198.51.100.1'), false, 'another region is not allowed');
  });

  test('a plain text list: one range per line, comments and blank lines ignored', () => {
    const file = write('ranges.txt', '# the IdP egress\n192.0.2.10\n\n2001:db8::/32   # v6\n');
    assert.deepEqual(readAllowListFile({ path: file, format: 'text', regions: [] }, 'f'), { entries: ['192.0.2.10', '2001:db8::/32'], problems: [] });
  });

  test('problems name the entry and never echo the file: unreadable, not JSON, no regions, unknown region, bad range', () => {
    const label = 'server.allow_ips_files.0';
    const cases: [string, string, string[], RegExp][] = [
      [path.join(dir, 'missing.json'), 'auth0', [], /cannot read the file \(ENOENT\)/],
      [write('bad.json', '{"regions": [1, 2'), 'auth0', [], /not JSON/],
      [write('noregions.json', '{"ranges": []}'), 'auth0', [], /no "regions" object/],
      [write('auth0b.json', AUTH0), 'auth0', ['ap'], /no region "ap" in the file \(it has: us, eu\)/],
      [write('badrange.json', JSON.stringify({ regions: { us: { ipv4_cidrs: ['10.0.0.1/99'] } } })), 'auth0', [], /not an IP address or CIDR range/],
      [write('bad.txt', 'not-an-ip\n'), 'text', [], /not an IP address or CIDR range/],
      // An empty list would otherwise leave allow_ips empty, i.e. every address admitted.
      [write('empty.txt', '# nothing yet\n\n'), 'text', [], /lists no addresses or ranges/],
      [write('empty.json', JSON.stringify({ regions: { us: { ipv4_cidrs: [] } } })), 'auth0', ['us'], /lists no ranges/],
    ];
    for (const [file, format, regions, re] of cases) {
      const r = readAllowListFile({ path: file, format: format as 'auth0' | 'text', regions }, label);
      assert.ok(r.problems.length > 0 && r.problems.every((p) => p.startsWith(label)), `${file}: ${r.problems.join('; ')}`);
      assert.match(r.problems.join('; '), re);
    }
  });
});
