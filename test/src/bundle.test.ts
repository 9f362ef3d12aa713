/**
 * scripts/bundle.mjs: the CLI that `npm run build` leaves is one CommonJS file (dist/src/main.cjs, esbuild) that the
 * stub dist/src/main.js runs with V8's code cache (src/launch.ts), and it runs the gateway as the modules tsc wrote
 * do: `serve` answers, and a sha512_crypt login is checked on the crypt worker thread, whose file the bundle names
 * through LG_CRYPT_WORKER (dist/src/passwords/unix.js). A second start, from the code cache the first wrote, serves
 * the same (code taken from a cache has no import() hook: the bundle must hold no import()).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { createDemoDatabase } from '../../src/demo.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/devtokens.js';
import { cacheFileFor } from '../../src/launch.js';
import { call, startTestGateway, TEST_USERS } from '../helpers/harness.js';
import { ROOT } from '../helpers/openapi.js';
import { startChild, type Child } from '../helpers/walkthrough.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../../src/main.cjs', import.meta.url));

describe('the bundled CLI', () => {
  test('dist/src/main.js is a stub that runs dist/src/main.cjs through the launcher', () => {
    const text = readFileSync(MAIN, 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/env node\n'), 'the shebang is kept (package.json bin)');
    assert.match(text, /^const \{ runBundle \} = await import\(new URL\("\.\/launch\.js", here\)\.href\);$/m);
    assert.match(text, /^runBundle\(new URL\("\.\/main\.cjs", here\)\);$/m);
  });

  test('dist/src/main.cjs is ASCII: V8 keeps its source one byte per character, not two', () => {
    const bytes = readFileSync(BUNDLE);
    const at = bytes.findIndex((b) => b > 0x7f);
    assert.equal(at, -1, `a non-ASCII byte at offset ${at}`);
  });

  test('started through a symlink, even with --preserve-symlinks-main, it finds the bundle beside its real file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lg-bin-'));
    try {
      const link = path.join(dir, 'legacy-gateway');
      symlinkSync(MAIN, link);
      for (const flags of [[], ['--preserve-symlinks-main']]) {
        const out = execFileSync(process.execPath, [...flags, link, 'hash', 'identify', '$2y$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy'], { encoding: 'utf8' });
        assert.match(out, /^bcrypt$/m, flags.join(' '));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('dist/src/main.cjs is one CommonJS file: no other dist module, no import(), drivers and native bindings left to node_modules', () => {
    const text = readFileSync(BUNDLE, 'utf8');
    // (Booleans, not assert.match: a failure must not print 3 MB of bundle.) esbuild writes requires with double quotes.
    assert.equal(/\brequire\("\.\.?\//.test(text), false, 'no require of another dist module');
    // Outside comments: an import() would fail in code taken from the cache (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING).
    // Strict, as the ES modules it is made of: the directive is the first statement (after the shebang).
    assert.equal(text.split('\n')[1], '"use strict";', 'strict mode');
    const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    assert.equal(/(?<![\w$.])import\(/.test(code), false, 'no import()');
    assert.equal(/^(import|export)\s/m.test(code), false, 'no ES module syntax');
    // Bundled: express and the token library are inside; the drivers are not.
    assert.equal(text.includes('InsufficientScopeError'), true, 'express-oauth2-jwt-bearer is inside');
    assert.equal(/\brequire\("(express|zod|yaml|pino)"\)/.test(text), false, 'express, zod, yaml and pino are inside');
    assert.equal(/\brequire\("@node-rs\/bcrypt"\)/.test(text), true, 'the bcrypt binding is required from node_modules');
    assert.equal(text.includes('class Pool extends EventEmitter'), false, 'pg stays outside');
  });

  test('no source tells an error apart by a class name it did not set itself (esbuild renames some classes)', () => {
    // A bundled library class can be renamed (express-oauth2-jwt-bearer's InvalidRequestError is InvalidRequestError2
    // in the bundle, and sets its name from its constructor), so an error's class is told by instanceof. A name is
    // safe only when the class sets it as a literal (this.name = 'StoreError'), or when the class is not bundled.
    const NOT_BUNDLED = new Set(['MongoTopologyClosedError']); // the mongodb driver stays in node_modules
    const files = ['src', 'adapters'].flatMap((d) =>
      readdirSync(path.join(ROOT, d), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => path.join(ROOT, d, f)),
    );
    const texts = files.map((f) => ({ f: path.relative(ROOT, f), text: readFileSync(f, 'utf8') }));
    const own = new Set(texts.flatMap(({ text }) => [...text.matchAll(/this\.name = '([A-Za-z]+)';/g)].map((m) => m[1]!)));
    assert.ok(own.has('StoreError') && own.has('ApiError'), [...own].join(', '));
    const unsafe = texts.flatMap(({ f, text }) =>
      [...text.matchAll(/['"]([A-Z][A-Za-z]*Error)['"]/g)].map((m) => m[1]!).filter((n) => !own.has(n) && !NOT_BUNDLED.has(n)).map((n) => `${f}: ${n}`),
    );
    assert.deepEqual(unsafe, []);
  });

  test('the crypt worker file the bundle names exists and is the crypt module', () => {
    const text = readFileSync(BUNDLE, 'utf8');
    const m = /new URL\("(\.\/passwords\/unix\.js)", __lgImportMetaUrl\)/.exec(text) ?? undefined;
    assert.ok(m, 'LG_CRYPT_WORKER was defined as ./passwords/unix.js');
    const file = fileURLToPath(new URL(m[1]!, pathToFileURL(BUNDLE)));
    assert.ok(existsSync(file), file);
    assert.match(readFileSync(file, 'utf8'), /legacy-gateway\/passwords\/unix/);
  });
});

describe('the bundled CLI serves, and checks sha512_crypt on its worker thread', () => {
  let dir: string;
  let issuer: LocalIssuer;
  let child: Child;
  let url = '';
  let configFile = '';
  const password = 'worker-thread-pass';

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lg-bundle-'));
    const db = path.join(dir, 'legacy.sqlite');
    createDemoDatabase(db, TEST_USERS);
    // sha512_crypt at its default 5,000 rounds: more work than the crypt module does inline, so a worker runs it.
    const stored = execFileSync('openssl', ['passwd', '-6', '-salt', 'Bund1eSa', password], { encoding: 'utf8' }).trim();
    assert.match(stored, /^\$6\$Bund1eSa\$/);
    const d = new Database(db);
    d.prepare('UPDATE users SET password_hash = ? WHERE id = 2').run(stored);
    d.close();
    issuer = await startLocalIssuer('https://legacy-gateway.test', 'test-client');
    const file = path.join(dir, 'config.yaml');
    configFile = file;
    writeFileSync(
      file,
      JSON.stringify({
        server: { host: '127.0.0.1', port: 0 },
        auth: { issuer: issuer.issuer, audience: issuer.audience, jwks_uri: issuer.jwksUri, allow_insecure_http: true },
        store: {
          adapter: 'sqlite',
          url: db,
          users: { table: 'users', columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash', blocked: 'is_disabled' } },
          migration: { table: 'legacy_gateway_migrations' },
        },
        log: { level: 'info' },
      }),
    );
    child = startChild([MAIN, 'serve', '--config', file], { PATH: process.env.PATH ?? '' });
    url = (await child.waitFor(/"listen":"(http:\/\/[^"]+)"[^\n]*legacy-gateway listening/))[1]!;
  });

  after(async () => {
    await child?.kill();
    await issuer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const threads = () => readdirSync(`/proc/${child.proc.pid}/task`).length;

  test('a bcrypt login and a lookup, as from the modules tsc wrote', async () => {
    const token = await issuer.mint({});
    const alice = TEST_USERS.find((u) => u.id === 1)!;
    const v = await call(url, 'POST', '/v1/credentials/verify', { token, body: { login: alice.username, password: alice.password } });
    assert.equal(v.status, 200, v.text);
    assert.equal(v.json.user.user_id, '1');
    const l = await call(url, 'POST', '/v1/users/lookup', { token, body: { login: 'BOB@example.com' } });
    assert.equal(l.status, 200, l.text);
    assert.equal((await call(url, 'POST', '/v1/users/lookup', { body: { login: 'bob' } })).status, 401);
  });

  test('sha512_crypt: the right password passes, a wrong one fails, and a worker thread was started for it', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    const token = await issuer.mint({});
    const before = threads();
    const ok = await call(url, 'POST', '/v1/credentials/verify', { token, body: { login: 'bob', password } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.user.email, 'bob@example.com');
    const bad = await call(url, 'POST', '/v1/credentials/verify', { token, body: { login: 'bob', password: `${password}x` } });
    assert.equal(bad.status, 401, bad.text);
    assert.ok(threads() > before, `the crypt worker added threads (${before} before, ${threads()} after)`);
    assert.doesNotMatch(child.stdout() + child.stderr(), /ERR_MODULE_NOT_FOUND|Cannot find module|ReferenceError/);
  });

  test('every refused token is answered, logged and counted as from the modules tsc wrote (by class: esbuild renames some)', async () => {
    // esbuild names the token library's InvalidRequestError "InvalidRequestError2": an answer chosen by an error's
    // name, not its class, differed in the bundle alone (a "Basic" header was a 400 invalid_request there, with no
    // "token rejected" line). Each case is asked of this bundled server and of an in-process one built from the
    // modules, each with its own issuer, and must come back the same.
    const modules = await startTestGateway({ logLevel: 'info' });
    const now = Math.floor(Date.now() / 1000);
    type Ask = { path?: string; headers?: Record<string, string> };
    const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
    const cases: [string, (i: LocalIssuer) => Promise<Ask>][] = [
      ['no Authorization header', async () => ({})],
      ['Basic credentials', async () => ({ headers: { authorization: 'Basic dXNlcjpwYXNz' } })],
      ['"Bearer" alone', async () => ({ headers: { authorization: 'Bearer' } })],
      ['three parts', async () => ({ headers: { authorization: 'Bearer a b' } })],
      ['another scheme', async () => ({ headers: { authorization: 'Token abc' } })],
      ['not a JWT', async () => bearer('not-a-jwt')],
      ['a valid token in the URL', async (i) => ({ path: `/v1/users/lookup?access_token=${await i.mint({})}` })],
      ['expired', async (i) => bearer(await i.mint({ iat: now - 7200, exp: now - 3600 }))],
      ['another audience', async (i) => bearer(await i.mint({ aud: 'https://someone-else.test' }))],
      ['an unknown kid', async (i) => bearer(await i.mint({}, { kid: 'not-in-the-jwks' }))],
      ['a DPoP proof that is no proof', async (i) => ({ headers: { authorization: `Bearer ${await i.mint({})}`, dpop: 'x' } })],
      ['the DPoP scheme without a proof', async (i) => ({ headers: { authorization: `DPoP ${await i.mint({})}` } })],
      ['a scope that is not enough', async (i) => bearer(await i.mint({ scope: 'read:migration' }))],
      ['accepted: the scheme in lower case', async (i) => ({ headers: { authorization: `bearer ${await i.mint({})}` } })],
    ];
    const rejectionsIn = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.includes('"token rejected"'))
        .map((l) => (JSON.parse(l) as { reason?: string }).reason);
    const ask = async (base: string, a: Ask) => {
      const r = await call(base, 'POST', a.path ?? '/v1/users/lookup', { headers: a.headers, body: { login: 'bob' } });
      return { status: r.status, error: r.json?.error as unknown, wwwAuthenticate: r.headers.get('www-authenticate') };
    };
    try {
      for (const [name, make] of cases) {
        const fromBundle = child.stdout().length;
        const fromModules = modules.logs.length;
        const b = await ask(url, await make(issuer));
        const m = await ask(modules.url, await make(modules.issuer));
        const expected = { ...m, logged: rejectionsIn(modules.logs.slice(fromModules).join('\n')) };
        // The child writes its line before it answers, but its stdout pipe may reach this process after the answer.
        for (let i = 0; i < 40 && rejectionsIn(child.stdout().slice(fromBundle)).length < expected.logged.length; i++) await sleep(50);
        const answered = { ...b, logged: rejectionsIn(child.stdout().slice(fromBundle)) };
        assert.deepEqual(answered, expected, name);
        if (name.startsWith('accepted')) assert.equal(b.status, 200, name);
        else {
          assert.ok(b.status === 401 || b.status === 403, `${name}: ${b.status}`);
          assert.equal(answered.logged.length, 1, `${name}: one "token rejected" line`);
        }
      }
      const counted = (await call(url, 'GET', '/metrics', {})).text;
      const total = [...counted.matchAll(/^legacy_gateway_token_rejections_total\{reason="[a-z_]+"\} (\d+)$/gm)].reduce((n, x) => n + Number(x[1]), 0);
      assert.ok(total >= cases.length - 1, `the bundle counted ${total} rejections`);
    } finally {
      await modules.close();
    }
  });

  test('a second start runs from the code cache the first wrote, and serves the same', async () => {
    // Written beside the bundle about 2 s after a start (src/launch.ts); this suite's server has run since before().
    const cacheFile = cacheFileFor(BUNDLE);
    for (let i = 0; i < 100 && !existsSync(cacheFile); i++) await sleep(100);
    assert.ok(existsSync(cacheFile), cacheFile);
    const second = startChild([MAIN, 'serve', '--config', configFile], { PATH: process.env.PATH ?? '' });
    try {
      const at = (await second.waitFor(/"listen":"(http:\/\/[^"]+)"[^\n]*legacy-gateway listening/))[1]!;
      const token = await issuer.mint({});
      const alice = TEST_USERS.find((u) => u.id === 1)!;
      // prom-client's default collectors are loaded on the first scrape (an import() in the sources), from code the
      // cache supplied; so are the crypt worker and bcrypt.
      const m = await call(at, 'GET', '/metrics', {});
      assert.equal(m.status, 200, m.text);
      assert.match(m.text, /^process_cpu_user_seconds_total /m);
      const v = await call(at, 'POST', '/v1/credentials/verify', { token, body: { login: alice.username, password: alice.password } });
      assert.equal(v.status, 200, v.text);
      const ok = await call(at, 'POST', '/v1/credentials/verify', { token, body: { login: 'bob', password } });
      assert.equal(ok.status, 200, ok.text);
      assert.equal((await call(at, 'POST', '/v1/users/lookup', { token, body: { login: 'BOB@example.com' } })).status, 200);
      assert.doesNotMatch(second.stdout() + second.stderr(), /ERR_VM_DYNAMIC_IMPORT|ERR_MODULE_NOT_FOUND|Cannot find module|ReferenceError/);
    } finally {
      await second.kill();
    }
  });
});
