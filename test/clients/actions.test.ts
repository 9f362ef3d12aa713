/**
 * The two post-login Actions (clients/auth0/*.action.js) run verbatim in the Actions runtime of the sandbox, against a
 * real gateway on PostgreSQL and the local token endpoint: mark-migrated marks only the legacy connection's users,
 * derives the gateway's id from event.user.user_id, caches its token with api.cache (a record, TTL in ms), back-fills
 * missing metadata, and never fails or delays a login for long when the gateway is down, slow or failing;
 * deny-gateway-audience refuses logins that ask for the gateway's audience.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { availability } from '../helpers/databases.js';
import { closedPort, CONNECTION, KIT, startKitEnv, type KitEnv } from './kit.js';
import { ActionsRuntime, postLoginEvent, type ActionRun } from './sandbox.js';

const skip = await availability('postgres');
const MARK = 'legacy_gateway_migrated_at';
const TOKEN_KEY = 'legacy-gateway-token';

describe('mark-migrated Action against a real gateway on PostgreSQL', { skip }, () => {
  let env: KitEnv;
  before(async () => {
    env = await startKitEnv();
  });
  after(async () => env?.close());

  const runtime = () => new ActionsRuntime({ fetch: env.tokens.fetch });
  const event = (userId: string, opts: { connection?: string; app?: Record<string, unknown>; usr?: Record<string, unknown>; secrets?: Record<string, string> } = {}) =>
    postLoginEvent({
      connection: opts.connection ?? CONNECTION,
      user: { user_id: userId, app_metadata: opts.app ?? { plan: 'x' }, user_metadata: opts.usr ?? { locale: 'x' } },
      secrets: env.secrets(opts.secrets),
    });
  const calls = (rt: ActionsRuntime) => rt.requests.map((q) => (q.url === env.tokens.url ? `token ${q.status}` : `${q.method} ${q.url.slice(env.gw.url.length)} ${q.status}`));
  const markOf = async (id: string) => (await env.gw.running.store.findById(id))?.migratedAt ?? null;
  /** The login goes on: no throw, no deny, within the time given. */
  const harmless = (run: ActionRun, maxMs: number) => {
    assert.equal(run.threw, undefined, String(run.threw));
    assert.equal(run.denied, undefined);
    assert.equal(run.timedOut, false);
    assert.ok(run.ms < maxMs, `${run.ms.toFixed(0)} ms`);
    assert.deepEqual(run.violations, []);
  };

  test('marks the user through PUT /v1/users/{id}/migration with the id Auth0 got from the scripts, and records the mark', async () => {
    const rt = runtime();
    const run = await rt.postLogin(KIT.markMigrated, event('auth0|legacy|7'));
    harmless(run, 3000);
    const mark = await markOf('7');
    assert.ok(mark);
    assert.deepEqual(run.appMetadata, { [MARK]: mark });
    assert.deepEqual(run.userMetadata, {});
    assert.deepEqual(calls(rt), ['token 200', 'PUT /v1/users/legacy%7C7/migration 200']);
    // Idempotent on the gateway's side: a second mark (a lost metadata write, say) keeps the first timestamp.
    const again = await runtime().postLogin(KIT.markMigrated, event('auth0|legacy|7'));
    assert.deepEqual(again.appMetadata, { [MARK]: mark });
  });

  test('a marked user, another connection, a user born in Auth0, a non-database id: no call at all', async () => {
    const rt = runtime();
    for (const e of [
      event('auth0|legacy|8', { app: { [MARK]: '2025-01-01T00:00:00.000Z' } }),
      event('auth0|legacy|8', { connection: 'Username-Password-Authentication' }),
      event('auth0|65f0c0ffee0123456789abcd'),
      event('google-oauth2|1234567890'),
    ]) {
      const run = await rt.postLogin(KIT.markMigrated, e);
      harmless(run, 1000);
      assert.deepEqual(run.appMetadata, {});
    }
    assert.deepEqual(rt.requests, []);
    assert.equal(await markOf('8'), null);
  });

  test('back-fills the metadata a migration dropped (never overwriting what Auth0 has), then marks', async () => {
    const rt = runtime();
    const run = await rt.postLogin(KIT.markMigrated, event('auth0|legacy|9', { app: {}, usr: {} }));
    harmless(run, 3000);
    assert.deepEqual(calls(rt), ['token 200', 'GET /v1/users/legacy%7C9 200', 'PUT /v1/users/legacy%7C9/migration 200']);
    assert.deepEqual(run.userMetadata, { locale: 'en' });
    assert.deepEqual(run.appMetadata, { plan: 'gold', [MARK]: await markOf('9') });
    const partial = await runtime().postLogin(KIT.markMigrated, event('auth0|legacy|6', { app: { plan: 'platinum' }, usr: {} }));
    assert.deepEqual(partial.userMetadata, { locale: 'fr' });
    assert.deepEqual(Object.keys(partial.appMetadata), [MARK], 'plan is kept as Auth0 has it');
  });

  test('the token lives in api.cache as a record with a TTL in ms, and serves the next executions', async () => {
    const rt = runtime();
    const before = Date.now();
    harmless(await rt.postLogin(KIT.markMigrated, event('auth0|legacy|2')), 3000);
    const cached = rt.cache.get(TOKEN_KEY);
    assert.ok(cached && typeof cached.value === 'string');
    const ttl = cached.expires_at - before;
    assert.ok(ttl > (86_400 - 61) * 1000 && ttl <= (86_400 - 60) * 1000 + 1000, `ttl ${ttl} ms: a day less a minute, in ms`);
    harmless(await rt.postLogin(KIT.markMigrated, event('auth0|legacy|3')), 3000);
    assert.deepEqual(calls(rt).filter((c) => c.startsWith('token')), ['token 200'], 'one token for two executions');
  });

  test('a cached token the gateway refuses (401 invalid_token) is renewed once', async () => {
    const rt = runtime();
    rt.cache.set(TOKEN_KEY, { value: 'not-a-valid-token', expires_at: Date.now() + 3_600_000 });
    const run = await rt.postLogin(KIT.markMigrated, event('auth0|legacy|5'));
    harmless(run, 3000);
    assert.deepEqual(calls(rt), ['PUT /v1/users/legacy%7C5/migration 401', 'token 200', 'PUT /v1/users/legacy%7C5/migration 200']);
    assert.ok(run.appMetadata[MARK]);
    assert.notEqual(rt.cache.get(TOKEN_KEY)?.value, 'not-a-valid-token');
  });

  test('never blocks a login: gateway down, slow, failing, token endpoint failing, a user the gateway does not know', async () => {
    const port = await closedPort();
    const cases: [string, () => Promise<ActionRun>, number][] = [
      ['down', () => runtime().postLogin(KIT.markMigrated, event('auth0|legacy|4', { secrets: { GATEWAY_URL: `http://127.0.0.1:${port}` } })), 2000],
      ['slow', async () => {
        env.fault.mode = 'slow';
        env.fault.slowMs = 5000;
        try {
          // User 1: the gateway finishes this mark after the Action gave up (so not user 4, checked below).
          return await runtime().postLogin(KIT.markMigrated, event('auth0|legacy|1', { secrets: { GATEWAY_TIMEOUT_MS: '1000' } }));
        } finally {
          env.fault.mode = 'pass';
        }
      }, 2000],
      ['failing', async () => {
        env.fault.mode = 'fail';
        try {
          return await runtime().postLogin(KIT.markMigrated, event('auth0|legacy|4'));
        } finally {
          env.fault.mode = 'pass';
        }
      }, 2000],
      ['token endpoint down', () => {
        env.tokens.next('error');
        return runtime().postLogin(KIT.markMigrated, event('auth0|legacy|4'));
      }, 2000],
      ['unknown to the gateway', () => runtime().postLogin(KIT.markMigrated, event('auth0|legacy|999')), 2000],
    ];
    for (const [what, go, maxMs] of cases) {
      const run = await go();
      harmless(run, maxMs);
      assert.deepEqual(run.appMetadata, {}, `${what}: not marked`);
    }
    assert.equal(await markOf('4'), null);
  });

  test('the default time budget is 5 s: a gateway slower than that costs the login 5 s, not more', async () => {
    env.fault.mode = 'slow';
    env.fault.slowMs = 8000;
    try {
      const rt = runtime();
      const run = await rt.postLogin(KIT.markMigrated, event('auth0|legacy|8'));
      harmless(run, 6000);
      assert.ok(run.ms >= 4500, `${run.ms} ms`);
      assert.match(rt.logs.join('\n'), /not marked yet \(the next login tries again\): .*no answer within \d+ ms/);
    } finally {
      env.fault.mode = 'pass';
    }
  });

  test('missing secrets: logged, nothing thrown, nothing called', async () => {
    const rt = runtime();
    const run = await rt.postLogin(KIT.markMigrated, event('auth0|legacy|4', { secrets: { GATEWAY_CLIENT_SECRET: '' } }));
    harmless(run, 1000);
    assert.deepEqual(rt.requests, []);
    assert.match(rt.logs.join('\n'), /set the secret\(s\) GATEWAY_CLIENT_SECRET/);
  });
});

describe('deny-gateway-audience Action', () => {
  const rt = new ActionsRuntime();
  const run = (audience: string | undefined, secrets: Record<string, string> = { GATEWAY_AUDIENCE: 'https://legacy-gateway.example.com' }) =>
    rt.postLogin(KIT.denyAudience, postLoginEvent({ connection: 'any', user: { user_id: 'auth0|x' }, secrets, ...(audience !== undefined ? { audience } : {}) }));

  test('refuses a login that asks for the gateway\'s audience, lets every other through', async () => {
    assert.match((await run('https://legacy-gateway.example.com')).denied ?? '', /not available to interactive logins/);
    assert.equal((await run('https://api.example.com')).denied, undefined);
    assert.equal((await run(undefined)).denied, undefined);
    assert.equal((await run('https://legacy-gateway.example.com/')).denied, undefined, 'audiences compare exactly, as Auth0 does');
  });

  test('without the secret it refuses nothing and says why', async () => {
    const r = await run('https://legacy-gateway.example.com', {});
    assert.equal(r.denied, undefined);
    assert.equal(r.threw, undefined);
    assert.match(rt.logs.join('\n'), /set the GATEWAY_AUDIENCE secret/);
  });
});
