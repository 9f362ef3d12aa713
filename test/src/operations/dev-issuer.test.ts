/**
 * `legacy-gateway dev-issuer`, run as a child process exactly as an operator would: the auth: block it prints is
 * pasted into a gateway on the SQLite demo store, and both the printed token and one from its POST /oauth/token are
 * accepted by that gateway.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { DEMO_USERS } from '../../../src/demo.js';
import { startTestGateway, type TestGateway } from '../../helpers/harness.js';

const MAIN = fileURLToPath(new URL('../../../src/main.js', import.meta.url));
const env = { PATH: process.env.PATH ?? '' };

/** Start dev-issuer; resolve with everything it printed once it says "Ctrl-C to stop". */
function startIssuer(args: string[]): { child: ChildProcess; printed: Promise<string> } {
  const child = spawn(process.execPath, [MAIN, 'dev-issuer', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const printed = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev-issuer not ready:\n${out}`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.stderr!.on('data', (d) => (out += d));
    child.on('exit', (code) => reject(new Error(`dev-issuer exited ${code}:\n${out}`)));
  });
  return { child, printed };
}

/** The value printed after "label:" on its own line. */
function field(out: string, label: string): string {
  const m = new RegExp(`^${label}:\\s+(\\S+)$`, 'm').exec(out);
  assert.ok(m, `no "${label}:" line in:\n${out}`);
  return m[1]!;
}

/** The `auth:` block as printed (from "auth:" to the first blank line), parsed as the gateway would parse it. */
function authBlock(out: string): Record<string, unknown> {
  const start = out.indexOf('\nauth:\n');
  assert.ok(start >= 0, `no auth: block in:\n${out}`);
  const block = out.slice(start + 1, out.indexOf('\n\n', start + 1));
  return (parseYaml(block) as { auth: Record<string, unknown> }).auth;
}

async function post(url: string, body: unknown, token?: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> | null };
}

describe('dev-issuer', () => {
  let issuer: ChildProcess;
  let out: string;
  let gw: TestGateway;
  const alice = DEMO_USERS[0]!;

  before(async () => {
    const started = startIssuer(['--client', 'my-app', '--audience', 'https://gw.dev.test', '--ttl', '600', '--client-secret', 'dev-secret-123']);
    issuer = started.child;
    out = await started.printed;
    gw = await startTestGateway({ config: { auth: authBlock(out) as never } });
  });

  after(async () => {
    await gw?.close();
    issuer?.kill('SIGINT');
  });

  test('says it is for development only, and prints a loopback issuer, its jwks_uri and the auth: block', () => {
    assert.match(out, /DEVELOPMENT ONLY/);
    const iss = field(out, 'issuer');
    assert.match(iss, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(field(out, 'jwks_uri'), `${iss}.well-known/jwks.json`);
    assert.deepEqual(authBlock(out), {
      issuer: iss,
      audience: 'https://gw.dev.test',
      jwks_uri: `${iss}.well-known/jwks.json`,
      allow_insecure_http: true,
      clients: ['my-app'],
    });
    // The gateway really runs with what was pasted.
    assert.equal(gw.config.auth.issuer, iss);
    assert.deepEqual(gw.config.auth.clients, ['my-app']);
  });

  test('the JWKS is served', async () => {
    const res = await fetch(field(out, 'jwks_uri'));
    assert.equal(res.status, 200);
    const jwks = (await res.json()) as { keys: { kty: string; kid: string }[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.kty, 'RSA');
  });

  test('the printed token is accepted: verify and lookup answer 200', async () => {
    const token = /export TOKEN='([^']+)'/.exec(out)?.[1];
    assert.ok(token, out);
    const v = await post(`${gw.url}/v1/credentials/verify`, { login: alice.email, password: alice.password }, token);
    assert.equal(v.status, 200, JSON.stringify(v.body));
    const l = await post(`${gw.url}/v1/users/lookup`, { login: 'bob' }, token);
    assert.equal(l.status, 200, JSON.stringify(l.body));
  });

  test('POST /oauth/token (JSON, form, HTTP Basic) gives tokens the gateway accepts', async () => {
    const tokenUrl = field(out, 'token endpoint');
    const json = await post(tokenUrl, { grant_type: 'client_credentials', client_id: 'my-app', client_secret: 'dev-secret-123', audience: 'https://gw.dev.test' });
    assert.equal(json.status, 200, JSON.stringify(json.body));
    assert.equal(json.body!.token_type, 'Bearer');
    assert.equal(json.body!.expires_in, 600);
    const v = await post(`${gw.url}/v1/credentials/verify`, { login: alice.email, password: alice.password }, json.body!.access_token as string);
    assert.equal(v.status, 200, JSON.stringify(v.body));

    const form = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'my-app', client_secret: 'dev-secret-123', scope: 'read:users' }),
    });
    assert.equal(form.status, 200);
    const narrow = (await form.json()) as { access_token: string; scope: string };
    assert.equal(narrow.scope, 'read:users');
    assert.equal((await post(`${gw.url}/v1/users/lookup`, { login: 'bob' }, narrow.access_token)).status, 200);
    // Only the scopes asked for: verify needs verify:credentials.
    assert.equal((await post(`${gw.url}/v1/credentials/verify`, { login: alice.email, password: alice.password }, narrow.access_token)).status, 403);

    const basic = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('my-app:dev-secret-123').toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    assert.equal(basic.status, 200);
  });

  test('/oauth/token refuses a wrong secret, another client, another grant, another audience, a scope not granted', async () => {
    const tokenUrl = field(out, 'token endpoint');
    const base = { grant_type: 'client_credentials', client_id: 'my-app', client_secret: 'dev-secret-123' };
    const cases: [Record<string, unknown>, number, string][] = [
      [{ ...base, client_secret: 'wrong' }, 401, 'access_denied'],
      [{ ...base, client_id: 'other' }, 401, 'access_denied'],
      [{ ...base, grant_type: 'password' }, 400, 'unsupported_grant_type'],
      [{ ...base, audience: 'https://elsewhere' }, 403, 'access_denied'],
      [{ ...base, scope: 'read:users delete:everything' }, 403, 'access_denied'],
    ];
    for (const [body, status, error] of cases) {
      const r = await post(tokenUrl, body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body!.error, error);
      assert.ok(!JSON.stringify(r.body).includes('dev-secret-123'), 'the secret is never echoed');
    }
  });
});

describe('dev-issuer: refusals', () => {
  const run = promisify(execFile);
  async function cli(args: string[]) {
    try {
      const r = await run(process.execPath, [MAIN, 'dev-issuer', ...args], { env, timeout: 20_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  }

  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
    test(`--host ${host} is refused with exit 2, nothing served`, async () => {
      const r = await cli(['--host', host]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /loopback only/);
      assert.equal(r.stdout, '');
    });
  }

  test('bad numbers and unknown flags are usage errors (exit 2, no stack trace)', async () => {
    for (const args of [['--port', '80a'], ['--port', '70000'], ['--ttl', '0'], ['--scopes', ' '], ['--bogus']]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, r.stderr);
    }
  });
});
