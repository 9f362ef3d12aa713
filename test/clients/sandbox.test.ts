/**
 * The sandbox itself: it must catch what Auth0's runtime punishes, or the kit's scenario tests prove nothing. Each
 * defect below is the pattern of one of Auth0's own database-script templates (auth0/db-connections-templates and the
 * templates in Auth0's documentation), rewritten here in a few lines: a double callback (an error handler and a
 * completion handler both answering), a removed global (`request`, `crypto`), a callback never called (a catch block
 * that crashes on a missing response), an overrun, a numeric user_id, app_metadata instead of metadata, a hard-coded
 * get_user stub.
 */
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import {
  ActionsRuntime,
  getUserOutcome,
  loginOutcome,
  postLoginEvent,
  REMOVED_GLOBALS,
  SCRIPT_LIMIT_MS,
  ScriptContainer,
  UnauthorizedError,
  WrongUsernameOrPasswordError,
} from './sandbox.js';
import { ImportModeConnection } from './tenant.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const container = (limitMs = 2000) => new ScriptContainer({ configuration: { API: 'http://127.0.0.1:1' }, limitMs });

describe('script evaluation', () => {
  test('one function, the free variables present, module/exports and every removed global absent', async () => {
    const names = ['configuration', 'global', 'WrongUsernameOrPasswordError', 'ValidationError', 'UnauthorizedError', 'fetch', 'AbortSignal', 'Buffer', 'console', 'setTimeout', 'module', 'exports', ...REMOVED_GLOBALS];
    const source = `function probe(callback) {
      var seen = {};
      ${JSON.stringify(names)}.forEach(function (n) { try { seen[n] = typeof eval(n); } catch (e) { seen[n] = e.name; } });
      callback(null, seen);
    }`;
    const c = container();
    const run = await c.run(source, []);
    const seen = run.args[1] as Record<string, string>;
    for (const n of ['configuration', 'global', 'console']) assert.equal(seen[n], 'object', n);
    for (const n of ['WrongUsernameOrPasswordError', 'ValidationError', 'UnauthorizedError', 'fetch', 'setTimeout', 'Buffer']) assert.equal(seen[n], 'function', n);
    assert.equal(seen.AbortSignal, 'function');
    for (const n of ['module', 'exports', ...REMOVED_GLOBALS]) assert.equal(seen[n], 'ReferenceError', `${n} must not exist`);
    assert.equal(c.violations.filter((v) => /which Auth0's runtime does not have/.test(v)).length, REMOVED_GLOBALS.length + 2);
  });

  test('a script that is not exactly one function expression is refused, as `return <script>` refuses it', async () => {
    const c = container();
    const leadingComment = await c.run('// a comment first\nfunction login(u, p, cb) { cb(null); }', []);
    assert.match(leadingComment.violations.join('\n'), /not one top-level function/);
    const statement = await c.run('var x = 1;', []);
    assert.match(statement.violations.join('\n'), /does not compile/);
    const cjs = await c.run('module.exports = function login(u, p, cb) { cb(null); }', []);
    assert.match(cjs.violations.join('\n'), /uses "module"/);
  });

  test('configuration is read-only; require offers Node built-ins only', async () => {
    const c = container();
    const run = await c.run(`function s(cb) { configuration.API = 'x'; var ok = typeof require('node:crypto').createHash; try { require('bcrypt'); } catch (e) { return cb(null, ok + ' ' + configuration.API); } cb(null); }`, []);
    assert.equal(run.args[1], 'function http://127.0.0.1:1');
    assert.match(c.violations.join('\n'), /configuration is read-only/, 'recorded in the container (configuration is shared by its runs)');
    assert.match(run.violations.join('\n'), /require\('bcrypt'\)/);
  });
});

describe('catching the templates\' defects', () => {
  test('a double callback (error handler and completion both answer) is a violation, synchronous or not', async () => {
    const c = container();
    const sync = await c.run('function login(u, p, callback) { callback(new Error("connection error")); callback(null, { user_id: "1" }); }', ['a', 'b']);
    assert.match(sync.violations.join('\n'), /called 2 times/);
    assert.ok(sync.error instanceof Error, 'the first call is the outcome');
    const later = await c.run(`function login(u, p, callback) {
      setTimeout(function onError() { callback(new Error('connection error')); }, 5);
      setTimeout(function onDone() { callback(null, { user_id: '1', email: u }); }, 30);
    }`, ['a', 'b']);
    assert.ok(later.error instanceof Error);
    await sleep(60);
    assert.ok(c.violations.some((v) => /called 2 times/.test(v)), c.violations.join('\n'));
  });

  test('the Request template: the removed global `request` is a ReferenceError and a violation', async () => {
    const c = container();
    const run = await c.login(`function login(email, password, callback) {
      request.get({ url: 'https://legacy.example.com/profile', auth: { username: email, password: password } }, function (err, response, body) {
        if (err) return callback(err);
        if (response.statusCode === 401) return callback();
        callback(null, JSON.parse(body));
      });
    }`, 'a@example.com', 'pw');
    assert.match(run.violations.join('\n'), /uses "request"/);
    assert.match(run.violations.join('\n'), /the script threw: request is not defined/);
    assert.equal(loginOutcome(run).kind, 'error');
  });

  test('the old MVC4 template: the removed global `crypto` is a violation', async () => {
    const run = await container().login('function login(u, p, callback) { crypto.pbkdf2(p, "salt", 1000, 32, function (e, key) { callback(null, { user_id: "1" }); }); }', 'u', 'p');
    assert.match(run.violations.join('\n'), /uses "crypto"/);
  });

  test('the Axios template: a catch block reading e.response.status with no response never calls back → stall, then the limit', async () => {
    const c = container(300);
    c.global.marker = 'before';
    const run = await c.getUser(`async function getByEmail(email, callback) {
      try {
        const res = await fetch(configuration.API + '/getUser', { method: 'POST', body: JSON.stringify({ email: email }) });
        return callback(null, await res.json());
      } catch (e) {
        if (e.response.status === 404) return callback(null, null);
        return callback(e);
      }
    }`, 'a@example.com');
    assert.equal(run.outcome, 'timeout');
    assert.ok(run.ms >= 290 && run.ms < 2000, `${run.ms} ms`);
    assert.match(run.violations.join('\n'), /promise rejected without a callback/);
    assert.match(run.violations.join('\n'), /not called within 300 ms/);
    assert.equal(c.recycles, 1, 'an overrun recycles the container');
    assert.deepEqual(c.global, {}, 'global is empty after the recycle');
  });

  test('an overrun that calls back late: timeout, then a late-callback violation', async () => {
    const c = container(100);
    const run = await c.run('function login(u, p, callback) { setTimeout(function () { callback(null, { user_id: "1" }); }, 250); }', ['u', 'p']);
    assert.equal(run.outcome, 'timeout');
    await sleep(300);
    assert.ok(c.violations.some((v) => /after the time limit/.test(v)), c.violations.join('\n'));
  });

  test('the default limit is Auth0\'s 20 s (fake timers): pending at 19 999 ms, stopped at 20 000 ms', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const c = new ScriptContainer({ configuration: {} });
      assert.equal(c.limitMs, SCRIPT_LIMIT_MS);
      assert.equal(SCRIPT_LIMIT_MS, 20_000);
      let settled = false;
      const pending = c.run('function login(u, p, callback) { /* never answers */ }', ['u', 'p']).then((r) => {
        settled = true;
        return r;
      });
      mock.timers.tick(19_999);
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, false, 'still running just before 20 s');
      mock.timers.tick(1);
      const run = await pending;
      assert.equal(run.outcome, 'timeout');
      assert.match(run.violations.join('\n'), /not called within 20000 ms/);
    } finally {
      mock.timers.reset();
    }
  });

  test('profile checks: a numeric user_id (PostgreSQL template), app_metadata, keys with no documented effect, secrets', async () => {
    const run = await container().login('function login(u, p, cb) { cb(null, { user_id: 42, email: u, app_metadata: { plan: "x" }, blocked: false, password_hash: "$2b$..." }); }', 'a@example.com', 'p');
    const v = run.violations.join('\n');
    assert.match(v, /user_id \(or id\) must be a non-empty string/);
    assert.match(v, /app_metadata is returned as "metadata"/);
    assert.match(v, /"blocked" is not a documented script-profile key/);
    assert.match(v, /"password_hash" would put a secret/);
  });

  test('the old get_user stub (one hard-coded user for any email) makes every sign-up "already exist"', async () => {
    const c = container();
    const stub = 'function getByEmail(email, callback) { callback(null, { user_id: "103547991597142817347", nickname: "johnfoo", email: "johnfoo@gmail.com" }); }';
    const tenant = new ImportModeConnection('legacy', { login: 'function login(u, p, cb) { cb(null); }', get_user: stub }, c, { runtime: new ActionsRuntime(), sources: [], secrets: {} });
    const signup = await tenant.signup('brand-new@example.com', 'a-new-password');
    assert.deepEqual(signup.ok, false);
    assert.equal(!signup.ok && signup.reason, 'user_exists', 'nobody can sign up');
  });
});

describe('callback and global discipline', () => {
  test('a cold global, one that persists between calls, and one emptied by a recycle', async () => {
    const c = container();
    const count = 'function s(cb) { global.n = (global.n || 0) + 1; cb(null, global.n); }';
    assert.equal((await c.run(count, [])).args[1], 1);
    assert.equal((await c.run(count, [])).args[1], 2);
    c.recycle();
    assert.equal((await c.run(count, [])).args[1], 1);
    assert.equal(new ScriptContainer({ configuration: {} }).global.n, undefined, 'every container starts cold');
  });

  test('script context: the extra argument comes before the callback', async () => {
    const run = await container().run('function login(u, p, context, callback) { callback(null, { user_id: "1", name: context.name }); }', ['u', 'p'], { context: { id: 'org_1', name: 'acme', metadata: {} } });
    assert.deepEqual(run.profile, { user_id: '1', name: 'acme' });
  });

  test('outcome mapping: profile, fp/fu, UnauthorizedError, callback(null) as failed login / not found, Error', async () => {
    const c = container();
    const mk = (body: string) => `function s(u, cb) { ${body} }`;
    assert.equal(loginOutcome(await c.run(mk('cb(new WrongUsernameOrPasswordError(u))'), ['a'])).kind, 'fp');
    assert.equal(loginOutcome(await c.run(mk('cb(new WrongUsernameOrPasswordError(null))'), ['a'])).kind, 'fu');
    const unauthorized = await c.run(mk('cb(new UnauthorizedError("disabled"))'), ['a']);
    assert.ok(unauthorized.error instanceof UnauthorizedError);
    assert.deepEqual(loginOutcome(unauthorized), { kind: 'unauthorized', message: 'disabled' });
    assert.equal(loginOutcome(await c.run(mk('cb(null)'), ['a'])).kind, 'failed');
    assert.equal(getUserOutcome(await c.run(mk('cb()'), ['a'])).kind, 'not_found');
    assert.equal(getUserOutcome(await c.run(mk('cb(new Error("x"))'), ['a'])).kind, 'error');
    assert.ok((await c.run(mk('cb(new WrongUsernameOrPasswordError(u))'), ['a'])).error instanceof WrongUsernameOrPasswordError);
  });
});

describe('Actions: event and api shapes', () => {
  const event = () =>
    postLoginEvent({ connection: 'legacy', user: { user_id: 'auth0|legacy|1', email: 'a@example.com' }, secrets: { S: 'x' }, audience: 'https://api' });

  test('the post-login event has the documented fields', () => {
    const e = event();
    assert.equal(e.connection.strategy, 'auth0');
    assert.deepEqual(e.user.identities, [{ connection: 'legacy', provider: 'auth0', user_id: 'legacy|1', isSocial: false }]);
    assert.equal(e.resource_server?.identifier, 'https://api');
    assert.ok(Array.isArray(e.transaction.requested_scopes));
    assert.equal(e.stats.logins_count, 1);
    assert.deepEqual(e.secrets, { S: 'x' });
  });

  test('api.cache: get returns {value, expires_at}; TTL in ms (default 15 min, ≤ 24 h); size and count limits', async () => {
    let now = 1_000_000;
    const rt = new ActionsRuntime({ now: () => now });
    const source = `exports.onExecutePostLogin = async (event, api) => {
      api.user.setAppMetadata('set1', api.cache.set('k', 'v1', { ttl: 60000 }));
      api.user.setAppMetadata('got', api.cache.get('k'));
      api.user.setAppMetadata('missing', api.cache.get('nope') === undefined);
      api.user.setAppMetadata('default', api.cache.set('d', 'v2'));
      api.user.setAppMetadata('tooLong', api.cache.set('t', 'v', { ttl: 25 * 3600 * 1000 }));
      api.user.setAppMetadata('bigKey', api.cache.set('k'.repeat(65), 'v'));
      api.user.setAppMetadata('notString', api.cache.set('n', { a: 1 }));
      api.user.setAppMetadata('bigValue', api.cache.set('b', 'x'.repeat(4097)));
    };`;
    const run = await rt.postLogin(source, event());
    assert.deepEqual(run.appMetadata.set1, { type: 'success' });
    assert.deepEqual(run.appMetadata.got, { value: 'v1', expires_at: 1_000_000 + 60_000 });
    assert.equal(run.appMetadata.missing, true);
    assert.equal(rt.cache.get('d')?.expires_at, 1_000_000 + 15 * 60_000);
    for (const k of ['tooLong', 'bigKey', 'notString', 'bigValue']) assert.equal((run.appMetadata[k] as { type: string }).type, 'error', k);
    assert.equal(run.violations.length, 4);
    now += 60_000;
    const after = await rt.postLogin(`exports.onExecutePostLogin = async (e, api) => { api.user.setAppMetadata('got', api.cache.get('k') === undefined); };`, event());
    assert.equal(after.appMetadata.got, true, 'expired entries are gone');
    const many = await rt.postLogin(`exports.onExecutePostLogin = async (e, api) => { for (let i = 0; i < 21; i++) api.user.setAppMetadata('r' + i, api.cache.set('e' + i, 'v').type); };`, event());
    assert.equal(Object.values(many.appMetadata).filter((t) => t === 'error').length, 2, 'd is there already: the 20th and 21st new keys do not fit');
  });

  test('deny, a throw, and the 20 s limit (fake timers)', async () => {
    const rt = new ActionsRuntime();
    assert.equal((await rt.postLogin('exports.onExecutePostLogin = async (e, api) => { api.access.deny("no"); };', event())).denied, 'no');
    assert.match(String(((await rt.postLogin('exports.onExecutePostLogin = async () => { throw new Error("boom"); };', event())).threw as Error).message), /boom/);
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const pending = rt.postLogin('exports.onExecutePostLogin = () => new Promise(() => {});', event());
      await new Promise((r) => setImmediate(r));
      mock.timers.tick(20_000);
      const run = await pending;
      assert.equal(run.timedOut, true);
      assert.match(run.violations.join('\n'), /ran past 20000 ms/);
    } finally {
      mock.timers.reset();
    }
  });
});
