/**
 * The Auth0 client kit, end to end: clients/auth0/login.js and get_user.js run verbatim in the script sandbox, the two
 * post-login Actions in the Actions runtime, inside a model of an import-mode connection (tenant.ts), against a real
 * gateway on a real PostgreSQL store, with tokens from the local client-credentials endpoint over HTTPS.
 *
 * Every run must call back exactly once and break no sandbox rule; every failure must come back as an Error well
 * within the budget (and within Auth0's 20 s); nothing secret may reach a log line or an error message.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { toAuth0User } from '../../src/operations/auth0/record.js';
import { availability } from '../helpers/databases.js';
import { CLIENT_SECRET, closedPort, CONNECTION, KIT, startKitEnv, USERS, type KitEnv } from './kit.js';
import { ActionsRuntime, getUserOutcome, loginOutcome, ScriptContainer, type ScriptRun } from './sandbox.js';
import { ImportModeConnection } from './tenant.js';

const skip = await availability('postgres');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const user = (id: number) => USERS.find((u) => u.id === id)!;

describe('Auth0 client kit: scripts and Actions against a real gateway on PostgreSQL', { skip }, () => {
  let env: KitEnv;
  const containers: ScriptContainer[] = [];
  const runtimes: ActionsRuntime[] = [];
  const errors: string[] = [];

  before(async () => {
    env = await startKitEnv();
  });
  after(async () => env?.close());

  function setup(opts: { configuration?: Record<string, string>; limitMs?: number; scripts?: { login: string; get_user: string } } = {}) {
    const container = new ScriptContainer({ configuration: env.configuration(opts.configuration), fetch: env.tokens.fetch, ...(opts.limitMs ? { limitMs: opts.limitMs } : {}) });
    const runtime = new ActionsRuntime({ fetch: env.tokens.fetch });
    containers.push(container);
    runtimes.push(runtime);
    const tenant = new ImportModeConnection(CONNECTION, opts.scripts ?? { login: KIT.login, get_user: KIT.getUser }, container, {
      runtime,
      sources: [KIT.denyAudience, KIT.markMigrated],
      secrets: env.secrets(),
    });
    return { container, runtime, tenant };
  }
  const toGateway = (c: ScriptContainer | ActionsRuntime) => c.requests.filter((r) => r.url.startsWith(env.gw.url));
  const toTokens = (c: ScriptContainer | ActionsRuntime) => c.requests.filter((r) => r.url === env.tokens.url);
  /** One run, checked: the callback once, no rule broken; its error message kept for the secrets check. */
  const clean = (run: ScriptRun, container: ScriptContainer) => {
    assert.deepEqual(run.violations, [], run.violations.join('\n'));
    assert.deepEqual(container.violations, []);
    if (run.error instanceof Error) errors.push(run.error.message);
    return run;
  };
  const markOf = async (id: string) => (await env.gw.running.store.findById(id))?.migratedAt ?? null;

  test('first login of a legacy user: the profile comes back in Auth0\'s shape, then the Action marks the user migrated', async () => {
    const { tenant, container, runtime } = setup();
    const alice = user(1);
    assert.equal(await markOf('1'), null);
    const r = await tenant.login('ALICE', alice.password);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.viaScript, true);
    assert.deepEqual(r.outcome, {
      kind: 'profile',
      profile: {
        user_id: 'legacy|1', email: 'alice@example.com', email_verified: true, username: 'alice', name: 'Alice Doe',
        given_name: 'Alice', family_name: 'Doe', user_metadata: { locale: 'en' }, metadata: { plan: 'gold' },
      },
    });
    assert.equal(r.user.user_id, 'auth0|legacy|1');
    const mark = await markOf('1');
    assert.ok(mark, 'the gateway recorded the migration');
    assert.deepEqual(r.user.app_metadata, { plan: 'gold', legacy_gateway_migrated_at: mark });
    assert.deepEqual(r.user.user_metadata, { locale: 'en' });
    assert.deepEqual(toGateway(container).map((q) => `${q.method} ${q.url.slice(env.gw.url.length)} ${q.status}`), ['POST /v1/credentials/verify 200']);
    assert.deepEqual(toGateway(runtime).map((q) => `${q.method} ${q.url.slice(env.gw.url.length)} ${q.status}`), ['PUT /v1/users/legacy%7C1/migration 200']);
    assert.deepEqual(runtime.violations, []);
    assert.deepEqual(container.violations, []);
  });

  test('a later login is not sent to the gateway (Auth0 answers from its own store), and the Action makes no call', async () => {
    const { tenant, container, runtime } = setup();
    const bob = user(2);
    assert.ok((await tenant.login('bob@example.com', bob.password)).ok);
    const seen = { script: container.requests.length, action: runtime.requests.length };
    const again = await tenant.login('Bob@Example.com', bob.password);
    assert.ok(again.ok);
    assert.equal(again.viaScript, false);
    assert.equal(again.user.logins_count, 2);
    assert.deepEqual({ script: container.requests.length, action: runtime.requests.length }, seen, 'no request at all');
    // Were Auth0 to call the script anyway, the gateway refuses a migrated user like a wrong password.
    const stray = setup();
    assert.equal(loginOutcome(clean(await stray.container.login(KIT.login, 'bob', bob.password), stray.container)).kind, 'fp');
  });

  test('wrong password and unknown user: WrongUsernameOrPasswordError alike, nothing created, nothing marked', async () => {
    const { tenant, container } = setup();
    const wrong = await tenant.login('carol@example.com', 'not-her-password');
    const unknown = await tenant.login('nobody@example.com', 'whatever-password');
    for (const r of [wrong, unknown]) {
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, 'fp', 'the gateway does not tell which: the same outcome (logged as fp)');
    }
    assert.equal(tenant.users.size, 0);
    assert.equal(await markOf('3'), null);
    assert.deepEqual(container.violations, []);
  });

  test('forgot password of an unmigrated user: get_user brings the profile, the new password logs in through Auth0, the Action marks', async () => {
    const { tenant, container, runtime } = setup();
    const frank = user(6);
    const reset = await tenant.resetPassword('frank@example.com', 'frank-new-password-2');
    assert.ok(reset.ok && reset.user, JSON.stringify(reset));
    assert.equal(reset.user.user_id, 'auth0|legacy|6');
    assert.equal(reset.user.origin, 'get_user');
    assert.deepEqual(reset.user.app_metadata, { plan: 'gold' });
    assert.deepEqual(reset.user.user_metadata, { locale: 'fr' });
    assert.equal(await markOf('6'), null, 'a reset alone runs no post-login Action: not marked yet');
    const gatewayBefore = toGateway(container).length;
    const login = await tenant.login('frank', 'frank-new-password-2');
    assert.ok(login.ok);
    assert.equal(login.viaScript, false, 'the Login script is not called for a user Auth0 has');
    assert.equal(toGateway(container).length, gatewayBefore);
    assert.ok(await markOf('6'), 'the first login after the reset marks the user');
    const old = await tenant.login('frank', frank.password);
    assert.equal(!old.ok && old.reason, 'wrong_password', 'the legacy password is gone');
    assert.deepEqual(runtime.violations, []);
  });

  test('sign-up with an email the legacy store has: refused as an existing user; a new email signs up without the legacy store', async () => {
    const { tenant, container, runtime } = setup();
    const taken = await tenant.signup('GINA@example.com', 'a-new-password-1');
    assert.equal(!taken.ok && taken.reason, 'user_exists');
    assert.equal(tenant.users.size, 0);
    const fresh = await tenant.signup('newcomer@example.com', 'a-new-password-1');
    assert.ok(fresh.ok);
    const first = await tenant.login('newcomer@example.com', 'a-new-password-1');
    assert.ok(first.ok);
    assert.equal(first.viaScript, false);
    assert.deepEqual(toGateway(runtime), [], 'a user born in Auth0 (no legacy| prefix) costs the Action no call');
    assert.deepEqual(toGateway(container).map((q) => `${q.url.slice(env.gw.url.length)} ${q.status}`), ['/v1/users/lookup 200', '/v1/users/lookup 404']);
    assert.equal(await markOf('7'), null);
  });

  test('a blocked legacy account: UnauthorizedError from login and from get_user; a reset cannot bring it over', async () => {
    const { tenant, container } = setup();
    const login = await tenant.login('dave', user(4).password);
    assert.deepEqual({ ok: login.ok, reason: !login.ok && login.reason, message: !login.ok && login.message }, { ok: false, reason: 'unauthorized', message: 'This account is disabled.' });
    const reset = await tenant.resetPassword('dave@example.com', 'dave-new-password');
    assert.equal(reset.ok, false);
    assert.equal(!reset.ok && reset.outcome.kind, 'unauthorized');
    assert.equal(tenant.users.size, 0);
    assert.deepEqual(container.violations, []);
  });

  test('the profile from login deep-equals the profile from get_user, and both carry the user_id the bulk export writes', async () => {
    const { tenant, container, runtime } = setup();
    const ivy = user(9);
    const legacy = await env.gw.running.store.findById('9');
    assert.ok(legacy);
    const exported = toAuth0User(legacy, env.gw.config).record;
    assert.ok(exported, 'the export writes a record for this user');
    const viaGetUser = getUserOutcome(clean(await container.getUser(KIT.getUser, 'ivy@example.com'), container));
    const viaLogin = loginOutcome(clean(await container.login(KIT.login, 'IVY', ivy.password), container));
    assert.equal(viaGetUser.kind, 'profile');
    assert.equal(viaLogin.kind, 'profile');
    assert.ok(viaGetUser.kind === 'profile' && viaLogin.kind === 'profile');
    assert.deepStrictEqual(viaLogin.profile, viaGetUser.profile);
    assert.equal(viaLogin.profile.user_id, exported.user_id);
    assert.equal(viaLogin.profile.email, exported.email);
    assert.deepEqual(viaLogin.profile.metadata, exported.app_metadata, 'metadata in the scripts is app_metadata in the import file');
    assert.deepEqual(viaLogin.profile.user_metadata, exported.user_metadata);
    // Through the tenant: Auth0 stores auth0|<that id>, and the Action marks exactly the gateway's id.
    const r = await tenant.login('ivy@example.com', ivy.password);
    assert.ok(r.ok);
    assert.equal(r.user.user_id, `auth0|${exported.user_id}`);
    assert.deepEqual(toGateway(runtime).map((q) => q.url.slice(env.gw.url.length)), [`/v1/users/${encodeURIComponent(exported.user_id)}/migration`]);
    assert.ok(await markOf('9'));
  });

  test('the token is cached in global: one token request for several calls, a new one after a recycle, renewed shortly before expiry', async () => {
    const { container } = setup();
    clean(await container.getUser(KIT.getUser, 'erin@example.com'), container);
    clean(await container.login(KIT.login, 'erin', 'not-erins-password'), container);
    clean(await container.getUser(KIT.getUser, 'hank@example.com'), container);
    assert.equal(toTokens(container).length, 1, 'one token for three calls');
    container.recycle();
    clean(await container.getUser(KIT.getUser, 'erin@example.com'), container);
    assert.equal(toTokens(container).length, 2, 'a cold container asks again');
    const lifetime = env.tokens.expiresIn;
    env.tokens.expiresIn = 2;
    try {
      const short = setup().container;
      clean(await short.getUser(KIT.getUser, 'erin@example.com'), short);
      clean(await short.getUser(KIT.getUser, 'erin@example.com'), short);
      assert.equal(toTokens(short).length, 1);
      await sleep(1900); // kept until lifetime − min(60 s, lifetime/10) = 1.8 s
      clean(await short.getUser(KIT.getUser, 'erin@example.com'), short);
      assert.equal(toTokens(short).length, 2, 'renewed shortly before it expires');
    } finally {
      env.tokens.expiresIn = lifetime;
    }
  });

  test('an expired cached token is refreshed once: 401 invalid_token → one new token → the call succeeds; never a loop', async () => {
    const { container } = setup();
    env.tokens.next('expired');
    const run = clean(await container.getUser(KIT.getUser, 'hank@example.com'), container);
    assert.equal(getUserOutcome(run).kind, 'profile');
    assert.deepEqual(toGateway(container).map((q) => q.status), [401, 200]);
    assert.equal(toTokens(container).length, 2);
    // A token endpoint that keeps handing out dead tokens: two token requests, two calls, then an Error.
    const stubborn = setup().container;
    env.tokens.next('expired', 'expired');
    const failed = clean(await stubborn.getUser(KIT.getUser, 'hank@example.com'), stubborn);
    assert.equal(getUserOutcome(failed).kind, 'error');
    assert.match((failed.error as Error).message, /answered 401 invalid_token/);
    assert.deepEqual(toGateway(stubborn).map((q) => q.status), [401, 401]);
    assert.equal(toTokens(stubborn).length, 2);
  });

  describe('failures: an Error within the budget, the callback once', () => {
    let front: Server;
    let frontUrl = '';
    let answer: { status: number; type: string; body: string } = { status: 502, type: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' };
    before(async () => {
      // What sits in front of a gateway: a load balancer's HTML error page, a misrouted path, a plain-text 200.
      front = createServer((_req, res) => {
        res.writeHead(answer.status, { 'content-type': answer.type });
        res.end(answer.body);
      });
      await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
      frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => front.close(() => resolve())));

    const expectError = async (configuration: Record<string, string>, pattern: RegExp, maxMs: number, kind: 'login' | 'get_user' = 'login') => {
      const { container } = setup({ configuration });
      const run = kind === 'login' ? await container.login(KIT.login, 'hank', user(8).password) : await container.getUser(KIT.getUser, 'hank@example.com');
      clean(run, container);
      assert.equal(run.outcome, 'callback');
      assert.ok(run.error instanceof Error && run.error.constructor === Error, `a plain Error, got ${String(run.error)}`);
      assert.match(run.error.message, pattern);
      assert.ok(run.ms < maxMs, `${run.ms.toFixed(0)} ms (limit ${maxMs})`);
      await sleep(50);
      assert.deepEqual(container.violations, [], 'no late second callback');
      return run;
    };

    test('gateway down (nothing listens): Error at once', async () => {
      const port = await closedPort();
      await expectError({ GATEWAY_URL: `http://127.0.0.1:${port}` }, /could not be reached: ECONNREFUSED/, 3000);
      await expectError({ GATEWAY_URL: `http://127.0.0.1:${port}` }, /could not be reached: ECONNREFUSED/, 3000, 'get_user');
      // A sign-up while the legacy store cannot be asked is refused, not let through as a new account.
      const { tenant } = setup({ configuration: { GATEWAY_URL: `http://127.0.0.1:${port}` } });
      const signup = await tenant.signup('hank@example.com', 'some-new-password');
      assert.equal(!signup.ok && signup.reason, 'error');
      assert.equal(tenant.users.size, 0);
    });

    test('gateway slow past the budget (GATEWAY_TIMEOUT_MS 1500): Error after 1.5 s', async () => {
      env.fault.mode = 'slow';
      env.fault.slowMs = 6000;
      try {
        const run = await expectError({ GATEWAY_TIMEOUT_MS: '1500' }, /no answer within \d+ ms/, 2500);
        assert.ok(run.ms >= 1400, `${run.ms} ms`);
      } finally {
        env.fault.mode = 'pass';
      }
    });

    test('gateway slow with the default budget: Error after 10 s, well before Auth0\'s 20 s', async () => {
      env.fault.mode = 'slow';
      env.fault.slowMs = 15_000;
      try {
        const run = await expectError({}, /no answer within \d+ ms/, 11_000, 'get_user');
        assert.ok(run.ms >= 9500, `${run.ms} ms`);
        console.log(`# default budget: Error after ${run.ms.toFixed(0)} ms`);
      } finally {
        env.fault.mode = 'pass';
      }
    });

    test('5xx from the gateway (store unavailable), an HTML error page, a 404 page, a 200 that is not JSON', async () => {
      env.fault.mode = 'fail';
      try {
        await expectError({}, /answered 503 store_unavailable/, 3000);
        await expectError({}, /answered 503 store_unavailable/, 3000, 'get_user');
      } finally {
        env.fault.mode = 'pass';
      }
      answer = { status: 502, type: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' };
      await expectError({ GATEWAY_URL: frontUrl }, /answered 502 \(not the expected JSON\)/, 3000);
      answer = { status: 404, type: 'text/html', body: '<html>Not Found</html>' };
      await expectError({ GATEWAY_URL: frontUrl }, /answered 404 \(not the expected JSON\)/, 3000, 'get_user');
      answer = { status: 200, type: 'text/plain', body: 'OK' };
      await expectError({ GATEWAY_URL: frontUrl }, /answered 200 \(not the expected JSON\)/, 3000, 'get_user');
    });

    test('token failures: 500, an HTML page, wrong credentials, no answer (bounded by the budget); the gateway is never called', async () => {
      for (const [behaviour, pattern] of [['error', /token request failed: 500 server_error/], ['html', /token request failed: 502 \(not the expected JSON\)/], ['deny', /token request failed: 401 access_denied/]] as const) {
        env.tokens.next(behaviour);
        const run = await expectError({}, pattern, 3000);
        assert.equal(run.ms < 3000, true);
      }
      env.tokens.next('hang');
      await expectError({ GATEWAY_TIMEOUT_MS: '1200' }, /could not be reached: no answer within \d+ ms/, 2500);
      const wrongSecret = await expectError({ GATEWAY_CLIENT_SECRET: 'not-the-secret' }, /token request failed: 401 access_denied/, 3000);
      assert.doesNotMatch((wrongSecret.error as Error).message, /not-the-secret/);
    });

    test('a configuration value missing: an Error that names it', async () => {
      const { container } = setup({ configuration: { GATEWAY_URL: '' } });
      const run = clean(await container.login(KIT.login, 'hank', 'x'), container);
      assert.match((run.error as Error).message, /set GATEWAY_URL in the connection's configuration/);
      assert.equal(container.requests.length, 0);
    });
  });

  test('after the migration: the no-op scripts answer from Auth0 alone; migrated users still log in, nobody else does', async () => {
    const { tenant, container } = setup();
    const hank = user(8);
    assert.ok((await tenant.login('hank', hank.password)).ok);
    const noop = setup({ scripts: { login: KIT.noopLogin, get_user: KIT.noopGetUser } });
    // The same Auth0 users, now behind the no-op scripts.
    for (const [k, v] of tenant.users) noop.tenant.users.set(k, v);
    assert.ok((await noop.tenant.login('hank', hank.password)).ok);
    const legacyOnly = await noop.tenant.login('erin', user(5).password);
    assert.equal(!legacyOnly.ok && legacyOnly.reason, 'failed', 'a user never migrated cannot log in any more');
    assert.ok((await noop.tenant.signup('erin@example.com', 'erin-starts-over')).ok, 'and may sign up afresh');
    assert.equal(noop.container.requests.length, 0, 'the no-op scripts make no request');
    assert.deepEqual(noop.container.violations, []);
    assert.deepEqual(container.violations, []);
  });

  test('nothing secret in the scripts\' logs, errors or the gateway\'s log', () => {
    const secrets = [CLIENT_SECRET, ...USERS.map((u) => u.password), 'frank-new-password-2'];
    const texts = [...containers.flatMap((c) => c.logs), ...runtimes.flatMap((r) => r.logs), ...errors, ...env.gw.logs];
    assert.ok(errors.length >= 10, `errors checked: ${errors.length}`);
    for (const t of texts) for (const s of secrets) assert.ok(!t.includes(s), `a secret in: ${t.slice(0, 200)}`);
    for (const c of containers) assert.deepEqual(c.violations, []);
    for (const r of runtimes) assert.deepEqual(r.violations, []);
  });
});
