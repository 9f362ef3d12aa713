/**
 * The kit's files as text: what Auth0 requires of them before they ever run, and the full answer → outcome table.
 *
 * - Shape: each script is one function expression (compiled as `return <script>`), with the documented arity; each
 *   Action a CommonJS module exporting onExecutePostLogin; all ≤ 100 kB.
 * - Free variables (read off the syntax tree with TypeScript's parser): only what Auth0's runtime has; none of the
 *   globals Auth0 removed; no API newer than Node 18 (the oldest runtime the kit supports).
 * - login.js and get_user.js share their client code byte for byte; every configuration key / secret the code reads is
 *   documented in the file's header, and every documented one is read.
 * - Answer → outcome: every way the gateway (or what stands in front of it) can answer, from a stub server, mapped to
 *   exactly one callback with the outcome the kit promises. (The real gateway's answers are in scenarios.test.ts.)
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import ts from 'typescript';
import { startLocalIssuer, type LocalIssuer } from '../../src/devtokens.js';
import { KIT } from './kit.js';
import { startTokenEndpoint, type TokenEndpoint } from './local-oauth.js';
import { ActionsRuntime, getUserOutcome, loginOutcome, REMOVED_GLOBALS, ScriptContainer } from './sandbox.js';

const SCRIPTS = { 'login.js': KIT.login, 'get_user.js': KIT.getUser, 'noop/login.js': KIT.noopLogin, 'noop/get_user.js': KIT.noopGetUser };
const ACTIONS = { 'mark-migrated.action.js': KIT.markMigrated, 'deny-gateway-audience.action.js': KIT.denyAudience };

/** Names every script may use without declaring them: Auth0's free variables and the JavaScript/Node globals it has. */
const SCRIPT_FREE = new Set([
  'configuration', 'global', 'WrongUsernameOrPasswordError', 'UnauthorizedError', 'ValidationError', 'fetch', 'AbortSignal',
  'arguments', 'undefined', 'JSON', 'Number', 'String', 'Math', 'Date', 'Error', 'Object', 'Array', 'Promise', 'console',
]);
const ACTION_FREE = new Set(['exports', 'fetch', 'AbortSignal', 'undefined', 'JSON', 'Number', 'String', 'Math', 'Date', 'Error', 'Object', 'Array', 'Promise', 'console', 'encodeURIComponent']);
/** Members added after Node 18 (AbortSignal.any in 20.3, array copies in 20, Set algebra and groupBy in 21/22, ...). */
const AFTER_NODE_18 = new Set(['any', 'toSorted', 'toReversed', 'toSpliced', 'isWellFormed', 'toWellFormed', 'groupBy', 'withResolvers', 'fromAsync', 'union', 'intersection', 'difference', 'symmetricDifference', 'isSubsetOf', 'isSupersetOf', 'isDisjointFrom']);

/** The identifiers a source reads without declaring them, and every member name it accesses. */
function names(source: string): { free: Set<string>; members: Set<string> } {
  const file = ts.createSourceFile('x.js', source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const declared = new Set<string>();
  const used = new Set<string>();
  const members = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node)) {
      const p = node.parent;
      if (ts.isPropertyAccessExpression(p) && p.name === node) members.add(node.text);
      else if ((ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p)) && p.name === node) {
        // an object literal key
      } else if ((ts.isVariableDeclaration(p) || ts.isFunctionDeclaration(p) || ts.isFunctionExpression(p) || ts.isParameter(p) || ts.isBindingElement(p)) && p.name === node) {
        declared.add(node.text);
      } else if (ts.isShorthandPropertyAssignment(p)) used.add(node.text);
      else used.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return { free: new Set([...used].filter((n) => !declared.has(n))), members };
}

/** ALL_CAPS keys (AUTH0_..., GATEWAY_..., LEGACY_...) named in the leading comment, and read by the code. */
function keys(source: string, reader: RegExp): { documented: Set<string>; read: Set<string> } {
  const header = (source.match(/^(?:async )?function[^\n]*\n((?:\s*\/\/[^\n]*\n)+)/) ?? source.match(/^\/\*\*([\s\S]*?)\*\//))?.[1] ?? '';
  const documented = new Set(header.match(/\b(?:AUTH0|GATEWAY|LEGACY)_[A-Z0-9_]+\b/g) ?? []);
  const body = source.slice(header.length);
  const read = new Set([...body.matchAll(reader)].map((m) => m[1]!));
  for (const m of body.matchAll(/'((?:AUTH0|GATEWAY|LEGACY)_[A-Z0-9_]+)'/g)) read.add(m[1]!);
  return { documented, read };
}

describe('the kit\'s files', () => {
  test('each script is one function with the documented signature; each Action exports onExecutePostLogin; all ≤ 100 kB', () => {
    const c = new ScriptContainer({ configuration: {} });
    const expect: Record<string, [string, number]> = { 'login.js': ['login', 3], 'get_user.js': ['getByEmail', 2], 'noop/login.js': ['login', 3], 'noop/get_user.js': ['getByEmail', 2] };
    for (const [file, source] of Object.entries(SCRIPTS)) {
      const violations: string[] = [];
      const fn = c.compile(source, violations);
      assert.deepEqual(violations, [], file);
      assert.equal(fn?.name, expect[file]![0], file);
      assert.equal(fn?.length, expect[file]![1], file);
      assert.ok(Buffer.byteLength(source) < 100 * 1024, file);
    }
    for (const [file, source] of Object.entries(ACTIONS)) {
      assert.equal(typeof new ActionsRuntime().load(source).onExecutePostLogin, 'function', file);
      assert.ok(Buffer.byteLength(source) < 100 * 1024, file);
    }
  });

  test('free variables: only what Auth0\'s runtime provides, none of the removed globals, nothing newer than Node 18', () => {
    const check = (file: string, source: string, allowed: Set<string>) => {
      const { free, members } = names(source);
      for (const n of free) assert.ok(allowed.has(n), `${file} reads "${n}", which is not a free variable of the runtime`);
      for (const n of REMOVED_GLOBALS) assert.ok(!free.has(n), `${file} uses the removed global ${n}`);
      for (const m of members) assert.ok(!AFTER_NODE_18.has(m), `${file} uses .${m}, which Node 18 lacks`);
      return free;
    };
    for (const [file, source] of Object.entries(SCRIPTS)) {
      const free = check(file, source, SCRIPT_FREE);
      for (const n of ['module', 'exports', 'require']) assert.ok(!free.has(n), `${file}: ${n}`);
    }
    for (const [file, source] of Object.entries(ACTIONS)) {
      const free = check(file, source, ACTION_FREE);
      assert.ok(!free.has('require'), `${file} needs no module`);
    }
    assert.ok(names(KIT.login).free.has('global'), 'the scanner sees free variables');
  });

  test('login.js and get_user.js share their client code byte for byte', () => {
    const shared = (s: string) => s.slice(s.indexOf('  // --- legacy-gateway client'), s.indexOf('  // --- end of the shared part ---'));
    assert.ok(shared(KIT.login).length > 2000);
    assert.equal(shared(KIT.getUser), shared(KIT.login));
  });

  test('every configuration key and secret the code reads is documented in the file, and every documented one is read', () => {
    for (const [file, source, reader] of [
      ['login.js', KIT.login, /configuration\.([A-Z0-9_]+)/g],
      ['get_user.js', KIT.getUser, /configuration\.([A-Z0-9_]+)/g],
      ['mark-migrated.action.js', KIT.markMigrated, /secrets\.([A-Z0-9_]+)/g],
      ['deny-gateway-audience.action.js', KIT.denyAudience, /secrets\.([A-Z0-9_]+)/g],
    ] as const) {
      const { documented, read } = keys(source, reader);
      assert.ok(read.size > 0, file);
      assert.deepEqual([...read].sort(), [...documented].sort(), file);
    }
  });
});

describe('every answer → exactly one callback with the promised outcome (stub gateway)', () => {
  let issuer: LocalIssuer;
  let tokens: TokenEndpoint;
  let stub: Server;
  let stubUrl = '';
  let answer: (res: import('node:http').ServerResponse) => void = () => undefined;

  before(async () => {
    issuer = await startLocalIssuer('https://legacy-gateway.stub', 'stub');
    tokens = await startTokenEndpoint(issuer, { c: { secret: 's', scope: 'verify:credentials read:users' } });
    stub = createServer((_req, res) => answer(res));
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  });
  after(async () => {
    stub.closeAllConnections();
    await new Promise<void>((resolve) => stub.close(() => resolve()));
    await tokens.close();
    await issuer.close();
  });

  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => (res: import('node:http').ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const raw = (status: number, type: string, body: string, headers: Record<string, string> = {}) => (res: import('node:http').ServerResponse) => {
    res.writeHead(status, { 'content-type': type, ...headers });
    res.end(body);
  };
  const user = { user_id: 'legacy|1', email: 'a@example.com', email_verified: true, blocked: false, app_metadata: { plan: 'gold' }, user_metadata: { locale: 'en' } };
  const profile = { user_id: 'legacy|1', email: 'a@example.com', email_verified: true, user_metadata: { locale: 'en' }, metadata: { plan: 'gold' } };

  // [what, answer, login outcome, get_user outcome]
  const TABLE: [string, (res: import('node:http').ServerResponse) => void, string, string][] = [
    ['200 profile', json(200, { user }), 'profile', 'profile'],
    ['200 profile, blocked', json(200, { user: { ...user, blocked: true } }), 'unauthorized', 'unauthorized'],
    ['200 without user_id', json(200, { user: { email: 'a@example.com' } }), 'error', 'error'],
    ['200 {}', json(200, {}), 'error', 'error'],
    ['200 null', json(200, 'null'), 'error', 'error'],
    ['200 text', raw(200, 'text/plain', 'OK'), 'error', 'error'],
    ['200 broken JSON', json(200, '{"user": {'), 'error', 'error'],
    ['401 invalid_credentials', json(401, { error: 'invalid_credentials', message: 'Wrong username or password.' }), 'fp', 'error'],
    ['401 invalid_token (twice)', json(401, { error: 'invalid_token', message: 'x' }, { 'www-authenticate': 'Bearer error="invalid_token"' }), 'error', 'error'],
    ['401 without a body', raw(401, 'text/plain', ''), 'error', 'error'],
    ['403 user_blocked', json(403, { error: 'user_blocked', message: 'x' }), 'unauthorized', 'unauthorized'],
    ['403 insufficient_scope', json(403, { error: 'insufficient_scope', message: 'x' }), 'error', 'error'],
    ['403 forbidden_ip', json(403, { error: 'forbidden_ip', message: 'x' }), 'error', 'error'],
    ['404 user_not_found', json(404, { error: 'user_not_found', message: 'No such user.' }), 'failed', 'not_found'],
    ['404 not_found (a wrong path)', json(404, { error: 'not_found', message: 'x' }), 'error', 'error'],
    ['404 HTML', raw(404, 'text/html', '<html>Not Found</html>'), 'error', 'error'],
    ['409 ambiguous_login', json(409, { error: 'ambiguous_login', message: 'x' }), 'error', 'error'],
    ['429 too_many_attempts', json(429, { error: 'too_many_attempts', message: 'x' }, { 'retry-after': '60' }), 'error', 'error'],
    ['500 internal_error', json(500, { error: 'internal_error', message: 'x' }), 'error', 'error'],
    ['502 HTML', raw(502, 'text/html', '<html>Bad Gateway</html>'), 'error', 'error'],
    ['503 store_unavailable', json(503, { error: 'store_unavailable', message: 'x' }, { 'retry-after': '5' }), 'error', 'error'],
    ['302 redirect', raw(302, 'text/plain', '', { location: 'https://elsewhere.example.com/' }), 'error', 'error'],
    ['connection cut mid-body', (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"user": {"user_id": "legacy|1"');
      setTimeout(() => res.destroy(), 20);
    }, 'error', 'error'],
  ];

  for (const [what, respond, loginKind, getUserKind] of TABLE) {
    test(what, async () => {
      answer = respond;
      const c = new ScriptContainer({ configuration: { AUTH0_DOMAIN: tokens.domain, GATEWAY_URL: stubUrl, GATEWAY_AUDIENCE: issuer.audience, GATEWAY_CLIENT_ID: 'c', GATEWAY_CLIENT_SECRET: 's' }, fetch: tokens.fetch, limitMs: 5000 });
      const login = await c.login(KIT.login, 'a@example.com', 'pw');
      const getUser = await c.getUser(KIT.getUser, 'a@example.com');
      await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(c.violations, [], 'exactly one callback, no rule broken');
      const lo = loginOutcome(login);
      const go = getUserOutcome(getUser);
      assert.equal(lo.kind, loginKind, `login: ${JSON.stringify(lo)}`);
      assert.equal(go.kind, getUserKind, `get_user: ${JSON.stringify(go)}`);
      if (lo.kind === 'profile') assert.deepEqual(lo.profile, profile);
      if (lo.kind === 'error') assert.equal((login.error as Error).constructor, Error, 'a plain Error');
      if (lo.kind === 'unauthorized') assert.equal(lo.message, 'This account is disabled.');
      for (const r of [login, getUser]) assert.ok(r.ms < 5000);
    });
  }
});
