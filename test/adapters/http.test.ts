/**
 * The http store against a real legacy web service started here (node:http on loopback): Basic-auth profile and
 * JSON login endpoints, by-email / by-username / by-id lookups, a count and a paged list, and endpoints that are
 * slow, fail, drop the connection or answer garbage. mTLS against an https service with a CA made by openssl.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createStore } from '../../adapters/index.js';
import { encodePlaceholder, expandPath, HttpUserStore, valueAtPath } from '../../adapters/http.js';
import { isAmbiguous, StoreError, type LegacyUser, type UserStore } from '../../adapters/types.js';
import { ConfigError, parseConfig, type Config } from '../../src/config.js';
import { toProfile } from '../../src/profile.js';
import { SEED, type SeedUser } from './contract.js';
import { findByLogin } from '../../src/matching.js';

// ---- the legacy web service ----------------------------------------------------------------------------------------

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface LegacyService {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** Every seed user's password in the service. */
const passwordOf = (u: SeedUser) => `pw-${u.id}-Ünïcode`;
/** A marker the service puts in its error bodies: it must never reach an error message. */
const BODY_MARKER = 'internal-detail-7f3a';

/** The service's own JSON for a user: nested, with a hash field the gateway must never read. */
function view(u: SeedUser) {
  return {
    user_id: u.id,
    login: u.username,
    contact: { email: u.email, verified: u.email_confirmed ?? null },
    profile: { full_name: u.full_name ?? null, locale: 'en' },
    flags: { disabled: u.is_disabled ?? false },
    billing: { plan: u.plan ?? null },
    activity: { last_seen: u.last_login?.toISOString() ?? null },
    password_hash: u.password_hash,
  };
}

const lower = (s: string | null) => (s ?? '').toLowerCase();

function handler(users: SeedUser[], seen: Seen[], timers: Set<NodeJS.Timeout>) {
  const find = (login: string) => users.filter((u) => lower(u.email) === login.toLowerCase() || lower(u.username) === login.toLowerCase());
  const route = (req: http.IncomingMessage, res: http.ServerResponse, url: string, body: string): void => {
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    // Raw segments, decoded one by one: a URL parser would resolve "..", which is what the encoding must prevent.
    const [pathPart = '', query = ''] = url.split('?');
    const seg = pathPart.split('/').slice(1).map((s) => decodeURIComponent(s));
    const q = new URLSearchParams(query);
    const [head, ...rest] = seg;
    if (head === 'slow') {
      const t = setTimeout(() => {
        timers.delete(t);
        route(req, res, `/${rest.map(encodeURIComponent).join('/')}`, body);
      }, 3000);
      timers.add(t);
      return;
    }
    if (head === 'fail') return send(500, { error: BODY_MARKER });
    if (head === 'teapot') return send(418, { error: BODY_MARKER });
    if (head === 'conflict') return send(409, { error: 'more than one' });
    if (head === 'redirect') {
      res.writeHead(302, { location: '/profile' });
      return void res.end();
    }
    if (head === 'drop') return void req.socket.destroy();
    if (head === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(`<html>${BODY_MARKER}`);
    }
    if (head === 'huge') return send(200, { data: { user: view(users[0]!) }, pad: 'x'.repeat(2 * 1024 * 1024) });
    if (head === 'halfway') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"data": {"user": ');
      setImmediate(() => req.socket.destroy());
      return;
    }
    if (head === 'health') return send(200, { ok: true });
    if (head === 'profile' && req.method === 'GET') {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Basic ')) return send(401, { error: 'auth required' });
      const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const [u] = find(decoded.slice(0, i)).filter((x) => passwordOf(x) === decoded.slice(i + 1));
      return u ? send(200, { data: { user: view(u) } }) : send(401, { error: BODY_MARKER });
    }
    if (head === 'login' && req.method === 'POST') {
      let j: { user?: string; pass?: string };
      try {
        j = JSON.parse(body);
      } catch {
        return send(400, { error: 'bad json' });
      }
      const matches = find(String(j.user ?? ''));
      if (matches.length > 1) return send(409, { error: 'ambiguous' });
      const u = matches.find((x) => passwordOf(x) === j.pass);
      return u ? send(200, { data: { user: view(u) } }) : send(401, { error: BODY_MARKER });
    }
    if (head === 'users-by-email' && rest.length === 1) {
      const m = users.filter((u) => lower(u.email) === rest[0]!.toLowerCase());
      return m.length ? send(200, { data: { users: m.map(view) } }) : send(404, { error: 'no such user' });
    }
    if (head === 'users' && rest[0] === 'by-name' && rest.length === 2) {
      const u = users.find((x) => lower(x.username) === rest[1]!.toLowerCase());
      return u ? send(200, { data: { user: view(u) } }) : send(404, { error: 'no such user' });
    }
    if (head === 'users' && rest[0] === 'id' && rest.length === 2) {
      // Lenient like many legacy apps: "01" and " 1" are user 1.
      const n = Number(rest[1]);
      const u = rest[1]!.trim() !== '' && Number.isInteger(n) ? users.find((x) => x.id === n) : undefined;
      return u ? send(200, { data: { user: view(u) } }) : send(404, { error: 'no such user' });
    }
    if (head === 'users' && rest.length === 0) {
      const page = Number(q.get('page'));
      const per = Number(q.get('per_page'));
      const sorted = [...users].sort((a, b) => a.id - b.id);
      return send(200, { items: sorted.slice((page - 1) * per, page * per).map(view) });
    }
    if (head === 'same-page') return send(200, { items: users.slice(0, 2).map(view) });
    if (head === 'stats') return send(200, { meta: { total: users.length } });
    return send(404, { error: 'no route' });
  };
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      route(req, res, req.url ?? '/', body);
    });
  };
}

async function listen(server: http.Server | https.Server, seenTimers: Set<NodeJS.Timeout>, scheme: string): Promise<Omit<LegacyService, 'seen'>> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    async close() {
      for (const t of seenTimers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function startLegacyService(users: SeedUser[]): Promise<LegacyService> {
  const seen: Seen[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer(handler(users, seen, timers));
  return { ...(await listen(server, timers, 'http')), seen };
}

// ---- configuration -------------------------------------------------------------------------------------------------

const COLUMNS = {
  id: 'user_id',
  email: 'contact.email',
  username: 'login',
  email_verified: 'contact.verified',
  name: 'profile.full_name',
  blocked: 'flags.disabled',
  last_login: 'activity.last_seen',
  // Configured on purpose: the http store must still never read a hash from a response.
  password: 'password_hash',
};

let dir: string;
let svc: LegacyService;
let dbCount = 0;
const opened: UserStore[] = [];

const AUTH = { issuer: 'https://issuer.test/', audience: 'https://legacy-gateway.test' };

function rawStore(http: Record<string, unknown>, over: Record<string, unknown> = {}, url = svc.url) {
  return {
    adapter: 'http',
    url,
    users: { columns: COLUMNS, app_metadata: ['billing.plan'], user_metadata: ['profile.locale'] },
    http: {
      migration_db: path.join(dir, `marks-${++dbCount}.sqlite`),
      timeout_ms: 500,
      verify: { mode: 'basic', path: '/profile', user_path: 'data.user' },
      lookup: {
        by_email: { path: '/users-by-email/{email}', user_path: 'data.users' },
        by_username: { path: '/users/by-name/{username}' },
        by_id: { path: '/users/id/{id}' },
      },
      count: { path: '/stats', count_path: 'meta.total' },
      list: { path: '/users?page={page}&per_page={limit}', items_path: 'items', page_size: 3 },
      health: { path: '/health' },
      response: { user_path: 'data.user' },
      ...http,
    },
    ...over,
  };
}

function section(http: Record<string, unknown> = {}, over: Record<string, unknown> = {}, url?: string): Config['store'] {
  return parseConfig({ auth: AUTH, store: rawStore(http, over, url) }, {}).store;
}

async function open(http: Record<string, unknown> = {}, over: Record<string, unknown> = {}, url?: string): Promise<UserStore> {
  const s = await createStore(section(http, over, url));
  opened.push(s);
  return s;
}

function problems(http: Record<string, unknown>, over: Record<string, unknown> = {}): string[] {
  try {
    parseConfig({ auth: AUTH, store: rawStore(http, over) }, {});
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

const one = async (store: UserStore, login: string): Promise<LegacyUser> => {
  const u = await findByLogin(store, login);
  assert.ok(u && !isAmbiguous(u), `expected one user for ${login}`);
  return u;
};

const rejectsStore = async (p: Promise<unknown>, re?: RegExp): Promise<StoreError> => {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${(e as Error).name}: ${(e as Error).message}`);
    if (re) assert.match(e.message, re);
    assert.ok(!e.message.includes(BODY_MARKER), 'no response body in error messages');
    return e;
  }
  assert.fail('expected a StoreError');
};

const lastSeen = () => svc.seen[svc.seen.length - 1]!;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'lg-http-'));
  svc = await startLegacyService(SEED);
});
after(async () => {
  for (const s of opened) await s.close();
  await svc.close();
  rmSync(dir, { recursive: true, force: true });
});

// ---- tests ---------------------------------------------------------------------------------------------------------

describe('http store: configuration', () => {
  test('a full configuration validates, with defaults', () => {
    const s = section();
    assert.equal(s.http?.verify.mode, 'basic');
    assert.equal(s.http?.verify.method, 'GET');
    assert.deepEqual(s.http?.verify.reject_status, [401, 404]);
    assert.deepEqual(s.http?.lookup.not_found_status, [404]);
    assert.deepEqual(s.http?.auth, { type: 'none' });
  });

  test('every problem is reported with its path', () => {
    const p = problems({
      migration_db: undefined,
      verify: { mode: 'basic', path: '/profile/{user}' },
      lookup: { by_email: { path: '/users-by-email' }, by_username: { method: 'GET', path: '/u/{username}', json_field: 'u' } },
      list: { path: '/users?limit={limit}' },
      headers: { Authorization: 'x', 'X-Api-Key': 'ok' },
    });
    const has = (re: RegExp) => assert.ok(p.some((x) => re.test(x)), `${re} in:\n${p.join('\n')}`);
    has(/^store\.http\.migration_db: required/);
    has(/^store\.http\.verify\.path: unknown placeholder \{user\}/);
    has(/^store\.http\.lookup\.by_email\.path: must contain \{email\}/);
    has(/^store\.http\.lookup\.by_username\.json_field: needs method POST/);
    has(/^store\.http\.list\.path: must contain \{page\} or \{offset\}/);
    has(/^store\.http\.headers\.Authorization: .*set by the gateway/);
  });

  test("Basic verify can't share the Authorization header with the service's own Basic or bearer auth", () => {
    for (const auth of [{ type: 'basic', username: 'gw', password: 'x' }, { type: 'bearer', token: 't' }]) {
      assert.ok(problems({ auth }).some((x) => /^store\.http\.auth\.type: verify\.mode basic sends/.test(x)), auth.type);
    }
    assert.deepEqual(problems({ auth: { type: 'bearer', token: 't' }, verify: { mode: 'json', path: '/login' } }), []);
  });

  test('at least one login lookup; no lookup, no http section', () => {
    assert.ok(problems({ lookup: {} }).some((x) => /^store\.http\.lookup: set by_email and\/or by_username/.test(x)));
    assert.ok(problems({}, { http: undefined }).some((x) => /^store\.http: required for adapter http/.test(x)));
  });

  test('the store refuses plain http to a remote host, a migration column, joins and filters', async () => {
    const make = (over: Record<string, unknown>, http: Record<string, unknown> = {}, url?: string) => () => new HttpUserStore(section(http, over, url));
    assert.throws(make({}, {}, 'http://legacy.example.com/api'), /plain http to a non-loopback host/);
    assert.throws(make({}, {}, 'ftp://legacy.example.com/'), /http\(s\) URL/);
    assert.throws(make({}, {}, 'https://user:pw@legacy.example.com/'), /must not contain credentials/);
    assert.throws(make({ migration: { column: 'migrated_at' } }), /store\.migration\.column is not available/);
    assert.throws(make({}, { auth: { type: 'mtls', cert_file: '/nope.crt', key_file: '/nope.key' }, verify: { mode: 'json', path: '/login' } }), /mtls needs an https/);
    assert.throws(
      make({}, { auth: { type: 'mtls', cert_file: '/nope.crt', key_file: '/nope.key' }, verify: { mode: 'json', path: '/login' } }, 'https://127.0.0.1:1'),
      /cannot read store\.http\.auth\.cert_file \/nope\.crt \(ENOENT\)/,
    );
    assert.throws(make({ users: { columns: COLUMNS, filter: [{ column: 'x', value: 1 }] } }), /store\.users\.filter is not available/);
    const s = new HttpUserStore(section({ allow_plain_http: true }, {}, 'http://legacy.example.com/api'));
    await s.close();
  });

  test('placeholders are encoded so that a value stays one path segment or one query value', () => {
    assert.equal(expandPath('/users/{username}', { username: '../admin?x=1' }), '/users/..%2Fadmin%3Fx%3D1');
    assert.equal(expandPath('/users/{username}', { username: '..' }), '/users/%2E%2E');
    assert.equal(expandPath('/users?email={email}', { email: 'a+b@x.com&admin=1#f' }), '/users?email=a%2Bb%40x.com%26admin%3D1%23f');
    assert.equal(encodePlaceholder('%00\r\n'), '%2500%0D%0A');
    assert.throws(() => expandPath('/u/{username}', { username: '\ud800' }), URIError);
    assert.equal(valueAtPath({ a: { b: [{ c: 1 }] } }, 'a.b.0.c'), 1);
    assert.equal(valueAtPath({ a: {} }, 'a.toString'), undefined, 'own properties only');
  });
});

describe('http store: verify (the service checks the password)', () => {
  let store: UserStore;
  before(async () => {
    store = await open({ headers: { 'X-Api-Key': 'service-key-1' } });
  });

  test('HTTP Basic with the right password returns the mapped user; the service key is sent as well', async () => {
    const u = await store.verifyCredentials!('alice@example.com', passwordOf(SEED[0]!));
    assert.ok(u && !isAmbiguous(u));
    const req = lastSeen();
    assert.equal(req.method, 'GET');
    assert.equal(req.url, '/profile');
    assert.equal(req.headers.authorization, `Basic ${Buffer.from(`alice@example.com:${passwordOf(SEED[0]!)}`, 'utf8').toString('base64')}`);
    assert.equal(req.headers['x-api-key'], 'service-key-1');
    assert.equal(u.id, '1');
    assert.equal(u.email, 'Alice@Example.com', 'as the service wrote it: lower-casing is the profile mapper\'s');
    assert.equal(u.username, 'Alice');
    assert.equal(u.name, 'Alice Doe');
    assert.equal(u.emailVerified, true);
    assert.equal(u.blocked, false);
    assert.deepEqual(u.appMetadata, { plan: 'gold' });
    assert.deepEqual(u.userMetadata, { locale: 'en' });
    assert.equal(u.password, undefined, 'a hash in the response is never read');
    assert.equal(u.migratedAt, null);
    const p = toProfile(u, 'legacy|');
    assert.equal(p.email, 'alice@example.com');
    assert.equal(p.username, 'alice');
    assert.equal(JSON.stringify(p).includes('$2b$'), false);
  });

  test('a username login, trimmed; the service decides case rules', async () => {
    const u = await store.verifyCredentials!('  BOB ', passwordOf(SEED[1]!));
    assert.ok(u && !isAmbiguous(u));
    assert.equal(u.id, '2');
    assert.equal(Buffer.from(lastSeen().headers.authorization!.slice(6), 'base64').toString('utf8').startsWith('BOB:'), true);
  });

  test('401 from the service is null, for a wrong password and an unknown user alike', async () => {
    assert.equal(await store.verifyCredentials!('alice@example.com', 'wrong'), null);
    assert.equal(await store.verifyCredentials!('nobody@example.com', 'whatever'), null);
  });

  test('a login that Basic cannot carry (":") or that is empty is null without a call', async () => {
    const before = svc.seen.length;
    assert.equal(await store.verifyCredentials!('ali:ce', 'x'), null);
    assert.equal(await store.verifyCredentials!('   ', 'x'), null);
    assert.equal(svc.seen.length, before);
  });

  test('a blocked user with the right password is returned (the gateway answers 403)', async () => {
    const u = await store.verifyCredentials!('no-email', passwordOf(SEED[5]!));
    assert.ok(u && !isAmbiguous(u));
    assert.equal(toProfile(u, '').blocked, true);
  });

  test('JSON POST mode with a bearer token for the service', async () => {
    const json = await open({
      verify: { mode: 'json', path: '/login', login_field: 'user', password_field: 'pass' },
      auth: { type: 'bearer', token: 'service-token-2' },
    });
    const u = await json.verifyCredentials!('élodie', passwordOf(SEED[2]!));
    assert.ok(u && !isAmbiguous(u));
    assert.equal(u.id, '3');
    const req = lastSeen();
    assert.equal(req.method, 'POST');
    assert.equal(req.headers.authorization, 'Bearer service-token-2');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(req.body), { user: 'élodie', pass: passwordOf(SEED[2]!) });
    assert.equal(await json.verifyCredentials!('élodie', 'nope'), null);
    assert.ok(isAmbiguous(await json.verifyCredentials!('dup@example.com', 'x')), '409 → ambiguous');
  });

  test('the service answering 500 / dropping / garbage / slow is a StoreError, never a "no"', async () => {
    for (const prefix of ['fail', 'drop', 'garbage', 'teapot', 'redirect', 'halfway']) {
      const s = await open({ verify: { mode: 'basic', path: `/${prefix}/profile` } });
      await rejectsStore(s.verifyCredentials!('alice@example.com', passwordOf(SEED[0]!)), /^legacy service GET \/\w+\/profile: /);
    }
    const slow = await open({ verify: { mode: 'basic', path: '/slow/profile' } });
    const t0 = Date.now();
    await rejectsStore(slow.verifyCredentials!('alice@example.com', passwordOf(SEED[0]!)), /timed out after 500 ms/);
    assert.ok(Date.now() - t0 < 1500, `gave up after ${Date.now() - t0} ms`);
  });

  test('no error message carries the password or the service credentials', async () => {
    const s = await open({
      verify: { mode: 'json', path: '/fail/login' },
      auth: { type: 'bearer', token: 'service-token-secret' },
      headers: { 'X-Api-Key': 'api-key-secret' },
    });
    const e = await rejectsStore(s.verifyCredentials!('alice@example.com', 'the-users-password'), /answered 500$/);
    for (const secret of ['the-users-password', 'service-token-secret', 'api-key-secret', 'alice']) assert.ok(!e.message.includes(secret), secret);
  });
});

describe('http store: lookups and the mapping', () => {
  let store: UserStore;
  before(async () => {
    store = await open({ auth: { type: 'basic', username: 'gateway', password: 'svc-pass' }, verify: { mode: 'json', path: '/login' } });
  });

  test("lookups send the service's own Basic auth", async () => {
    await one(store, 'bob');
    assert.equal(lastSeen().headers.authorization, `Basic ${Buffer.from('gateway:svc-pass').toString('base64')}`);
  });

  test('an email goes to by_email (an array of one), a username to by_username', async () => {
    assert.equal((await one(store, 'ALICE@example.com')).id, '1');
    assert.equal(lastSeen().url, '/users-by-email/ALICE%40example.com');
    assert.equal((await one(store, 'aLiCe')).id, '1');
    assert.equal(lastSeen().url, '/users/by-name/aLiCe');
  });

  test('an email-like login unknown to by_email falls back to by_username', async () => {
    assert.equal((await one(store, 'dup-a@other')).id, '7');
    assert.deepEqual(svc.seen.slice(-2).map((s) => s.url), ['/users-by-email/dup-a%40other', '/users/by-name/dup-a%40other']);
  });

  test('404 is null; two users in the answer, or a 409, are ambiguous', async () => {
    assert.equal(await findByLogin(store, 'nobody@example.com'), null);
    assert.equal(await findByLogin(store, 'nobody'), null);
    assert.ok(isAmbiguous(await findByLogin(store, 'dup@example.com')));
    const conflict = await open({ lookup: { by_username: { path: '/conflict/{username}' } } });
    assert.ok(isAmbiguous(await findByLogin(conflict, 'bob')));
  });

  test('null JSON values are absent', async () => {
    const bob = await one(store, 'bob');
    assert.deepEqual(bob.appMetadata, {});
    assert.equal((await one(store, 'no-email')).email, undefined);
  });

  test('path injection: a login is one encoded segment and never changes the path', async () => {
    for (const [login, url] of [
      ['../admin?x=1', '/users/by-name/..%2Fadmin%3Fx%3D1'],
      ['..', '/users/by-name/%2E%2E'],
      ['a/../../users?page=1', '/users/by-name/a%2F..%2F..%2Fusers%3Fpage%3D1'],
      ['%2e%2e', '/users/by-name/%252e%252e'],
      ['x#frag', '/users/by-name/x%23frag'],
      ["' OR '1'='1", "/users/by-name/'%20OR%20'1'%3D'1"],
    ] as const) {
      assert.equal(await findByLogin(store, login), null, login);
      assert.equal(lastSeen().url, url);
    }
    assert.equal(await findByLogin(store, 'x@y/../../stats'), null);
    assert.equal(svc.seen[svc.seen.length - 2]!.url, '/users-by-email/x%40y%2F..%2F..%2Fstats');
    assert.equal(await findByLogin(store, 'bad\ud800'), null, 'not well-formed Unicode: no call, no crash');
  });

  test('findById reads by_id; ids are canonical ("01" is not user 1)', async () => {
    assert.equal((await store.findById('2'))?.email, 'bob@example.com');
    assert.equal(await store.findById('999'), null);
    assert.equal(await store.findById('abc'), null);
    assert.equal(await store.findById('01'), null);
    assert.equal(await store.findById(''), null);
  });

  test('failures of a lookup are StoreErrors: 500, a dropped connection, invalid JSON, too large, a timeout, a refused port', async () => {
    for (const prefix of ['fail', 'drop', 'garbage', 'huge', 'halfway', 'teapot']) {
      const s = await open({ lookup: { by_username: { path: `/${prefix}/users/by-name/{username}` } } });
      await rejectsStore(findByLogin(s, 'alice'));
    }
    const slow = await open({ lookup: { by_username: { path: '/slow/users/by-name/{username}' } } });
    const t0 = Date.now();
    await rejectsStore(findByLogin(slow, 'alice'), /^legacy service GET \/slow\/users\/by-name\/\{username\}: timed out after 500 ms$/);
    assert.ok(Date.now() - t0 < 1500);
    const refused = await open({}, {}, 'http://127.0.0.1:1');
    // A connection failure names the service's host and port, and what to do.
    await rejectsStore(findByLogin(refused, 'alice'), /request failed: http at 127\.0\.0\.1:1: ECONNREFUSED .*hint: server not listening/);
  });

  test('a response without the configured user path is a StoreError naming the path', async () => {
    const s = await open({ lookup: { by_username: { path: '/users/by-name/{username}', user_path: 'result.user' } } });
    await rejectsStore(findByLogin(s, 'alice'), /no user at response path "result\.user"/);
    const noId = await open({}, { users: { columns: { ...COLUMNS, id: 'uid' } } });
    await rejectsStore(findByLogin(noId, 'alice'), /no usable id at "uid"/);
  });
});

describe('http store: the UserStore contract where it applies (marks in the gateway-owned SQLite file)', () => {
  let store: UserStore;
  let marksFile: string;
  before(async () => {
    const s = section();
    marksFile = s.http!.migration_db;
    store = await createStore(s);
    opened.push(store);
  });

  test('ping answers (health endpoint and marks file)', async () => {
    await store.ping();
    assert.equal(lastSeen().url, '/health');
    const down = await open({}, {}, 'http://127.0.0.1:1');
    await rejectsStore(down.ping());
    const failing = await open({ health: { path: '/fail/health' } });
    await rejectsStore(failing.ping(), /answered 500/);
    const noHealth = await open({ health: undefined });
    await noHealth.ping(); // GET / answers 404: reachable
  });

  test('the marks file is opened with the gateway\'s SQLite settings: WAL, SQLite\'s own 2 MB page cache', () => {
    const db = (store as unknown as { db: { pragma(p: string, o: { simple: true }): unknown } }).db;
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('cache_size', { simple: true }), -2000, 'not better-sqlite3\'s 16 MB');
  });

  test('non-ASCII logins (the service folds case)', async () => {
    assert.equal((await one(store, 'élodie@exemple.fr')).id, '3');
    assert.equal((await one(store, 'ÉLODIE')).id, '3');
  });

  test('markMigrated is idempotent and keeps the first timestamp; unmark reverts', async () => {
    const first = await store.markMigrated('2');
    assert.ok(first && !Number.isNaN(Date.parse(first)), 'ISO timestamp');
    await new Promise((r) => setTimeout(r, 15));
    assert.equal(await store.markMigrated('2'), first);
    assert.equal((await one(store, 'bob')).migratedAt, first);
    assert.equal((await store.findById('2'))?.migratedAt, first);
    assert.equal((await store.verifyCredentials!('bob', passwordOf(SEED[1]!)) as LegacyUser).migratedAt, first);
    assert.equal(await store.unmarkMigrated('2'), true);
    assert.equal((await one(store, 'bob')).migratedAt, null);
    assert.equal(await store.unmarkMigrated('2'), true, 'unmarking an unmarked user is fine');
  });

  test('marking or unmarking an unknown or non-canonical id reports it', async () => {
    assert.equal(await store.markMigrated('999'), null);
    assert.equal(await store.markMigrated('02'), null);
    assert.equal(await store.unmarkMigrated('999'), false);
  });

  test('concurrent marks of one user produce one record with the first timestamp', async () => {
    const stamps = await Promise.all(Array.from({ length: 20 }, () => store.markMigrated('1')));
    assert.equal(new Set(stamps).size, 1, `got ${[...new Set(stamps)].join(', ')}`);
    assert.equal((await store.migrationStatus()).migrated, 1);
    await store.unmarkMigrated('1');
  });

  test('migrationStatus: total from the count endpoint, migrated and per day from the marks file; no export ledger, no activity', async () => {
    const at6 = await store.markMigrated('6');
    const at7 = await store.markMigrated('7');
    const perDay = [...new Set([at6!.slice(0, 10), at7!.slice(0, 10)])].map((day) => ({ day, count: [at6, at7].filter((a) => a!.startsWith(day)).length }));
    assert.deepEqual(await store.migrationStatus(), { total: SEED.length, migrated: 2, exported: null, remaining: SEED.length - 2, perDay, activeRemaining: null });
    assert.equal(store.markExported, undefined, 'the service keeps no export ledger');
    await store.unmarkMigrated('6');
    await store.unmarkMigrated('7');
    assert.deepEqual((await store.migrationStatus()).perDay, []);
  });

  test('columns.last_login (a JSON path) is mapped into lastLogin', async () => {
    assert.equal((await store.findById('1'))?.lastLogin, SEED[0]!.last_login!.toISOString());
    assert.equal((await store.findById('4'))?.lastLogin, undefined);
  });

  test('marks survive a restart (they are in the file)', async () => {
    await store.markMigrated('3');
    const again = await createStore(section({ migration_db: marksFile }));
    try {
      assert.ok((await one(again, 'élodie')).migratedAt);
    } finally {
      await again.close();
      await store.unmarkMigrated('3');
    }
  });

  test('scan pages through the list endpoint (page size 3) with the marks', async () => {
    await store.markMigrated('4');
    const users: LegacyUser[] = [];
    for await (const u of store.scan()) users.push(u);
    assert.deepEqual(users.map((u) => u.id), SEED.map((s) => String(s.id)));
    assert.ok(users.find((u) => u.id === '4')?.migratedAt);
    assert.ok(users.every((u) => u.password === undefined));
    assert.deepEqual(
      svc.seen.filter((s) => s.url.startsWith('/users?')).slice(-3).map((s) => s.url),
      ['/users?page=1&per_page=3', '/users?page=2&per_page=3', '/users?page=3&per_page=3'],
    );
    await store.unmarkMigrated('4');
  });

  test('a list endpoint that ignores paging is caught, not listed forever', async () => {
    const s = await open({ list: { path: '/same-page?page={page}', items_path: 'items', page_size: 2 } });
    const ids: string[] = [];
    await rejectsStore((async () => { for await (const u of s.scan()) ids.push(u.id); })(), /returned the same page twice/);
    assert.deepEqual(ids, ['1', '2']);
  });

  test('without count, list or by_id: status, scan and findById fail clearly (503), marks are kept as given', async () => {
    const s = await open({ count: undefined, list: undefined, lookup: { by_username: { path: '/users/by-name/{username}' } } });
    await rejectsStore(s.migrationStatus(), /store\.http\.count is not configured/);
    await rejectsStore((async () => { for await (const _ of s.scan()) void _; })(), /store\.http\.list is not configured/);
    await rejectsStore(s.findById('1'), /store\.http\.lookup\.by_id is not configured/);
    const at = await s.markMigrated('1');
    assert.ok(at);
    assert.equal((await one(s, 'alice')).migratedAt, at);
    assert.equal(await s.unmarkMigrated('1'), true);
    assert.equal((await one(s, 'alice')).migratedAt, null);
  });

  test('close releases the connections and the marks file', async () => {
    const s = await createStore(section());
    await s.ping();
    await s.close();
  });
});

// ---- mTLS ----------------------------------------------------------------------------------------------------------

function makePki(at: string): boolean {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: at, stdio: 'pipe' });
  try {
    run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=lg-test-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    for (const [name, cn, ext] of [
      ['server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
      ['client', 'legacy-gateway', 'extendedKeyUsage=clientAuth\n'],
    ] as const) {
      writeFileSync(path.join(at, `${name}.ext`), ext);
      run('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
      run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
    }
    return true;
  } catch {
    return false;
  }
}

describe('http store: mTLS to an https service', () => {
  let pki: string;
  let ok = false;
  let tls: LegacyService | undefined;
  const peers: string[] = [];
  before(async () => {
    pki = path.join(dir, 'pki');
    execFileSync('mkdir', ['-p', pki]);
    ok = makePki(pki);
    if (!ok) return;
    const seen: Seen[] = [];
    const timers = new Set<NodeJS.Timeout>();
    const inner = handler(SEED, seen, timers);
    const server = https.createServer(
      {
        key: readFileSync(path.join(pki, 'server.key')),
        cert: readFileSync(path.join(pki, 'server.crt')),
        ca: readFileSync(path.join(pki, 'ca.crt')),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        peers.push(String((req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN));
        inner(req, res);
      },
    );
    tls = { ...(await listen(server, timers, 'https')), seen };
  });
  after(async () => tls?.close());

  const mtls = () => ({
    verify: { mode: 'basic', path: '/profile', user_path: 'data.user' },
    auth: { type: 'mtls', cert_file: path.join(pki, 'client.crt'), key_file: path.join(pki, 'client.key') },
    ca_file: path.join(pki, 'ca.crt'),
  });

  test('with the client certificate and the private CA: verify and lookup work', async (t) => {
    if (!ok) return t.skip('openssl is not available');
    const s = await open(mtls(), {}, tls!.url);
    const u = await s.verifyCredentials!('alice@example.com', passwordOf(SEED[0]!));
    assert.ok(u && !isAmbiguous(u) && u.id === '1');
    assert.equal((await one(s, 'bob')).id, '2');
    assert.deepEqual(peers.slice(-2), ['legacy-gateway', 'legacy-gateway']);
  });

  test('without a client certificate, or without trusting the CA, calls fail as StoreErrors', async (t) => {
    if (!ok) return t.skip('openssl is not available');
    const noCert = await open({ ...mtls(), auth: { type: 'none' } }, {}, tls!.url);
    await rejectsStore(findByLogin(noCert, 'bob'), /failed/);
    const { ca_file: _ca, ...untrusted } = mtls();
    const noCa = await open(untrusted, {}, tls!.url);
    // The hint points at the http store's own TLS settings, not at a database's.
    await rejectsStore(
      findByLogin(noCa, 'bob'),
      /request failed: http at 127\.0\.0\.1:\d+: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY) .*hint: TLS: .*store\.http\.ca_file(?!.*pg_hba)/,
    );
  });
});
