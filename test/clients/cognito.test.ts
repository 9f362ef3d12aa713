/**
 * clients/cognito/migrate-user.mjs, the Cognito Migrate user Lambda (and its optional Post authentication handler),
 * against a real gateway (the SQLite demo users, a store that can be made to fail) and the local client-credentials
 * token endpoint signing with the key the gateway trusts. Events are Cognito's documented shapes: the common
 * parameters (version, triggerSource, region, userPoolId, userName, callerContext) and the trigger's request /
 * response. The handlers run in process through createHandlers (with the endpoint's trusting fetch), and the
 * module's own `handler` export runs in a child process on the runtime's global fetch, configured through the
 * environment only, as Lambda runs it (on every binary in TEST_NODE_RUNTIMES too).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { StoreError, type LegacyUser, type UserStore } from '../../adapters/types.js';
import { ndjsonRecords, reconcile } from '../../src/operations/reconcile.js';
import { env as testEnv } from '../helpers/databases.js';
import { startTestGateway, TEST_USERS, wrapStore, type TestGateway } from '../helpers/harness.js';
import { closedPort, ROOT } from './kit.js';
import { startTokenEndpoint, type TokenEndpoint } from './local-oauth.js';

type Json = Record<string, unknown>;
interface CognitoEvent {
  version: string;
  triggerSource: string;
  region: string;
  userPoolId: string;
  userName: string;
  callerContext: { awsSdkVersion: string; clientId: string };
  request: Json;
  response: Json;
}
type Handler = (event: CognitoEvent, context?: { getRemainingTimeInMillis(): number }) => Promise<CognitoEvent>;
interface CognitoModule {
  handler: Handler;
  markMigrated: Handler;
  createHandlers(o?: { env?: Record<string, string | undefined>; fetch?: typeof fetch; log?: (line: string) => void }): { handler: Handler; markMigrated: Handler };
}

const FILE = path.join(ROOT, 'clients', 'cognito', 'migrate-user.mjs');
const kit = (await import(pathToFileURL(FILE).href)) as CognitoModule;
const run = promisify(execFile);

/** The README's jq filter: a Cognito ListUsers output → the NDJSON `legacy-gateway reconcile` reads. */
const JQ_FILTER = '.Users[] | (reduce (.Attributes // [])[] as $a ({}; .[$a.Name] = $a.Value)) as $u | select($u["custom:legacy_id"] != null) | {user_id: ("auth0|" + $u["custom:legacy_id"])} + (if $u.email then {email: $u.email} else {} end)';
const jq = (() => {
  try {
    execFileSync('jq', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
})();

const CLIENT_ID = 'cognito-lambda';
const CLIENT_SECRET = 'cognito-lambda-secret-0123456789abcdef';
const SCOPES = 'verify:credentials read:users migrate:users';
const ALICE = { login: 'Alice', password: 'correct horse battery staple' };
const PASSWORDS = ['frank-password-1', 'correct horse battery staple', 'hunter2-but-longer', 'Pässwörd-ünïcode', 'dave-was-disabled', 'erin-has-no-email', 'dup-one-pass', 'wrong-password-1'];

function common(triggerSource: string, userName: string): Omit<CognitoEvent, 'request' | 'response'> {
  return { version: '1', triggerSource, region: 'eu-west-1', userPoolId: 'eu-west-1_Legacy01', userName, callerContext: { awsSdkVersion: 'aws-sdk-unknown-unknown', clientId: '1example23456789' } };
}
const authEvent = (userName: string, password: string): CognitoEvent => ({
  ...common('UserMigration_Authentication', userName),
  request: { password, validationData: { k: 'v' }, clientMetadata: { k: 'v' } },
  response: {},
});
const forgotEvent = (userName: string): CognitoEvent => ({
  ...common('UserMigration_ForgotPassword', userName),
  request: { clientMetadata: { k: 'v' } },
  response: {},
});
const postAuthEvent = (userName: string, userAttributes: Json, source = 'PostAuthentication_Authentication'): CognitoEvent => ({
  ...common(source, userName),
  request: { userAttributes: { sub: '0f1e2d3c-aaaa-bbbb-cccc-0123456789ab', 'cognito:user_status': 'CONFIRMED', ...userAttributes }, newDeviceUsed: false },
  response: {},
});
/** Cognito's 5 s, as the Lambda context reports it. */
const lambdaContext = (ms = 5000) => {
  const end = Date.now() + ms;
  return { getRemainingTimeInMillis: () => end - Date.now() };
};

/** The four messages the handler throws (Cognito may show them to the user). */
const PUBLIC = {
  credentials: 'Incorrect username or password.',
  disabled: 'User is disabled.',
  limited: 'Password attempts exceeded.',
  unavailable: 'Sign-in is not available right now. Please try again later.',
} as const;
/** Every message thrown and every line logged in this file: none may carry a password, a secret or a token. */
const thrown: string[] = [];
const logs: string[] = [];
/** p rejects with the generic message of `outcome`, and the function's last log line gives the reason. */
async function rejects(p: Promise<unknown>, outcome: keyof typeof PUBLIC, reason: RegExp): Promise<string> {
  const logged = logs.length;
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error, 'an Error');
    thrown.push(e.message);
    assert.equal(e.message, PUBLIC[outcome]);
    assert.equal(logs.length, logged + 1, 'one log line per failure');
    assert.match(logs.at(-1)!, /^legacy-gateway: (UserMigration_Authentication|UserMigration_ForgotPassword|[A-Za-z_]+|\(no triggerSource\)): /);
    assert.match(logs.at(-1)!, reason);
    return logs.at(-1)!;
  }
  assert.fail(`expected a rejection (${outcome})`);
}
async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const v = await p;
  return [v, Date.now() - started];
}

describe('the Cognito Migrate user Lambda (clients/cognito/migrate-user.mjs)', () => {
  let gw: TestGateway;
  let tokens: TokenEndpoint;
  let stall: Server;
  let stallUrl = '';
  const sockets = new Set<Socket>();
  const fault = { fail: false };
  const requests: string[] = [];
  const counting = (input: RequestInfo | URL, init?: RequestInit) => {
    requests.push(`${init?.method ?? 'GET'} ${String(input)}`);
    return tokens.fetch(input, init);
  };
  const config = (over: Record<string, string | undefined> = {}) => ({
    GATEWAY_URL: gw.url, TOKEN_URL: tokens.url, CLIENT_ID, CLIENT_SECRET, AUDIENCE: gw.issuer.audience, ...over,
  });
  /** A fresh container: its own token cache. */
  const lambda = (over: Record<string, string | undefined> = {}) => kit.createHandlers({ env: config(over), fetch: counting, log: (l) => void logs.push(l) });
  const tokenHits = () => tokens.requests.length;

  before(async () => {
    const failing = (s: UserStore) =>
      wrapStore(s, {
        findCandidates: (real) => async (login: string) => {
          if (fault.fail) throw new StoreError('read: injected failure (test)');
          return real.findCandidates(login);
        },
        findById: (real) => async (id: string): Promise<LegacyUser | null> => {
          if (fault.fail) throw new StoreError('read: injected failure (test)');
          return real.findById(id);
        },
        markMigrated: (real) => async (id: string) => {
          if (fault.fail) throw new StoreError('write: injected failure (test)');
          return real.markMigrated(id);
        },
      });
    // The demo users, plus one whose legacy email is not an address.
    const users = [...TEST_USERS, { id: 8, email: 'frank at example', username: 'frank', password: 'frank-password-1', scheme: 'bcrypt' as const, name: 'Frank', email_confirmed: 1 }];
    gw = await startTestGateway({ users, logLevel: 'warn', config: { limits: { login_failures: { max: 3, window_s: 900 } } }, wrapStore: failing });
    tokens = await startTokenEndpoint(gw.issuer, {
      [CLIENT_ID]: { secret: CLIENT_SECRET, scope: SCOPES },
      'verify-only': { secret: 'verify-only-secret-0123456789', scope: 'verify:credentials' },
    });
    stall = createServer((socket) => {
      sockets.add(socket); // accepts, reads, never answers
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
    stallUrl = `http://127.0.0.1:${(stall.address() as import('node:net').AddressInfo).port}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => (stall ? stall.close(() => resolve()) : resolve()));
    await tokens?.close();
    gw?.running.server.closeAllConnections();
    await gw?.close();
  });

  test('sign-in: the event comes back with exactly userAttributes, finalUserStatus CONFIRMED and messageAction SUPPRESS', async () => {
    const { handler } = lambda();
    const event = authEvent(ALICE.login, ALICE.password);
    const request = structuredClone(event.request);
    const out = await handler(event, lambdaContext());
    assert.equal(out, event, 'the same event object is returned');
    assert.deepEqual(out.response, {
      userAttributes: { email: 'alice@example.com', email_verified: 'true', name: 'Alice Doe', given_name: 'Alice', family_name: 'Doe' },
      finalUserStatus: 'CONFIRMED',
      messageAction: 'SUPPRESS',
    });
    assert.equal(typeof (out.response.userAttributes as Json).email_verified, 'string');
    assert.deepEqual(out.request, request, 'the request is left alone');
    assert.equal(out.userName, ALICE.login);

    // An unverified legacy email is "false"; a user without an email gets no email and no email_verified at all.
    const carol = await handler(authEvent('carol@example.com', 'Pässwörd-ünïcode'), lambdaContext());
    assert.deepEqual(carol.response.userAttributes, { email: 'carol@example.com', email_verified: 'false', name: 'Carol Poe' });
    const erin = await handler(authEvent('erin', 'erin-has-no-email'), lambdaContext());
    assert.deepEqual(erin.response, { userAttributes: { name: 'Erin' }, finalUserStatus: 'CONFIRMED', messageAction: 'SUPPRESS' });
    // A legacy email Cognito would refuse is left out (with its email_verified) rather than failing the migration.
    const frank = await handler(authEvent('frank', 'frank-password-1'), lambdaContext());
    assert.deepEqual(frank.response.userAttributes, { name: 'Frank' });
  });

  test('a response that arrives with null fields: the handler sets its three and leaves the others as they came', async () => {
    const { handler } = lambda();
    const event = authEvent(ALICE.login, ALICE.password);
    event.response = { userAttributes: null, finalUserStatus: null, messageAction: null, desiredDeliveryMediums: null, forceAliasCreation: null, enableSMSMFA: null };
    const out = await handler(event, lambdaContext());
    assert.deepEqual(out.response, {
      userAttributes: { email: 'alice@example.com', email_verified: 'true', name: 'Alice Doe', given_name: 'Alice', family_name: 'Doe' },
      finalUserStatus: 'CONFIRMED', messageAction: 'SUPPRESS', desiredDeliveryMediums: null, forceAliasCreation: null, enableSMSMFA: null,
    });
  });

  test('forgot password: a lookup, the attributes and messageAction SUPPRESS (no finalUserStatus: the user sets a new password)', async () => {
    const { handler } = lambda();
    const out = await handler(forgotEvent('bob@example.com'), lambdaContext());
    assert.deepEqual(out.response, { userAttributes: { email: 'bob@example.com', email_verified: 'true', name: 'Bob Roe' }, messageAction: 'SUPPRESS' });
  });

  test('ATTRIBUTES, LEGACY_ID_ATTRIBUTE and CUSTOM_ATTRIBUTES choose what is sent; absent values are never sent', async () => {
    const { handler } = lambda({
      ATTRIBUTES: 'email, email_verified, preferred_username, nickname, picture',
      LEGACY_ID_ATTRIBUTE: 'custom:legacy_id',
      CUSTOM_ATTRIBUTES: 'custom:plan=app_metadata.plan,custom:locale=user_metadata.locale',
    });
    const alice = await handler(authEvent('alice@example.com', ALICE.password), lambdaContext());
    assert.deepEqual(alice.response.userAttributes, {
      email: 'alice@example.com', email_verified: 'true', preferred_username: 'alice',
      'custom:legacy_id': 'legacy|1', 'custom:plan': 'gold', 'custom:locale': 'en',
    });
    const bob = await handler(forgotEvent('bob'), lambdaContext());
    assert.deepEqual(bob.response.userAttributes, { email: 'bob@example.com', email_verified: 'true', preferred_username: 'bob', 'custom:legacy_id': 'legacy|2', 'custom:plan': 'free' });
    for (const v of Object.values(bob.response.userAttributes as Json)) assert.equal(typeof v, 'string');
  });

  test('every refusal throws: wrong password, unknown user, blocked, ambiguous, too many attempts, store down', async () => {
    const { handler } = lambda();
    await rejects(handler(authEvent('bob', 'wrong-password-1'), lambdaContext()), 'credentials', /answered 401 invalid_credentials$/);
    await rejects(handler(authEvent('nobody@example.com', 'wrong-password-1'), lambdaContext()), 'credentials', /answered 401 invalid_credentials$/);
    await rejects(handler(forgotEvent('nobody@example.com'), lambdaContext()), 'credentials', /answered 404 user_not_found$/);
    await rejects(handler(authEvent('dave', 'dave-was-disabled'), lambdaContext()), 'disabled', /answered 403 user_blocked$/);
    await rejects(handler(forgotEvent('dave@example.com'), lambdaContext()), 'disabled', /UserMigration_ForgotPassword: the gateway answered 200 with a blocked user$/);
    await rejects(handler(authEvent('dup@example.com', 'dup-one-pass'), lambdaContext()), 'unavailable', /answered 409 ambiguous_login$/);
    await rejects(handler(forgotEvent('dup@example.com'), lambdaContext()), 'unavailable', /answered 409 ambiguous_login$/);
    for (let i = 0; i < 3; i += 1) await rejects(handler(authEvent('carol', 'wrong-password-1'), lambdaContext()), 'credentials', /401 invalid_credentials$/);
    await rejects(handler(authEvent('carol', 'Pässwörd-ünïcode'), lambdaContext()), 'limited', /answered 429 too_many_attempts$/);
    fault.fail = true;
    try {
      await rejects(handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /answered 503 store_unavailable$/);
      await rejects(handler(forgotEvent('bob'), lambdaContext()), 'unavailable', /answered 503 store_unavailable$/);
    } finally {
      fault.fail = false;
    }
    // A missing password never reaches the gateway.
    const before = requests.length;
    await rejects(handler({ ...authEvent('bob', ''), request: { validationData: {} } }, lambdaContext()), 'credentials', /no password/);
    await rejects(handler({ ...authEvent('', 'x') }, lambdaContext()), 'unavailable', /no userName/);
    assert.equal(requests.length, before);
  });

  test('a triggerSource other than the two migration sources throws, with no request', async () => {
    const { handler } = lambda();
    const before = requests.length;
    await rejects(handler({ ...authEvent(ALICE.login, ALICE.password), triggerSource: 'PreSignUp_SignUp' }), 'unavailable', /^legacy-gateway: PreSignUp_SignUp: unsupported triggerSource: attach this function to the Migrate user trigger only$/);
    await rejects(handler(postAuthEvent('alice', {})), 'unavailable', /^legacy-gateway: PostAuthentication_Authentication: unsupported triggerSource/);
    await rejects(handler({ ...authEvent(ALICE.login, ALICE.password), triggerSource: '' }), 'unavailable', /^legacy-gateway: \(no triggerSource\): unsupported triggerSource/);
    await rejects(handler(undefined as unknown as CognitoEvent), 'unavailable', /^legacy-gateway: \(no triggerSource\): unsupported triggerSource/);
    assert.equal(requests.length, before);
  });

  test('configuration: a missing or unsafe setting fails every invocation; the log names the variable, never its value', async () => {
    const before = requests.length;
    const missing = await rejects(
      lambda({ TOKEN_URL: undefined, CLIENT_SECRET: '' }).handler(authEvent(ALICE.login, ALICE.password)), 'unavailable', /set TOKEN_URL, CLIENT_SECRET in the function's environment/);
    assert.ok(!missing.includes(CLIENT_SECRET) && !missing.includes(tokens.url));
    await rejects(lambda({ GATEWAY_URL: 'http://gateway.internal:8080' }).handler(authEvent(ALICE.login, ALICE.password)), 'unavailable', /GATEWAY_URL must be an https:\/\/ URL/);
    await rejects(lambda({ TOKEN_URL: 'http://tenant.example.com/oauth/token' }).handler(authEvent(ALICE.login, ALICE.password)), 'unavailable', /TOKEN_URL must be an https:\/\/ URL/);
    await rejects(lambda({ GATEWAY_URL: 'https://user:pw@gateway.example.com' }).handler(authEvent(ALICE.login, ALICE.password)), 'unavailable', /GATEWAY_URL must not carry credentials/);
    await rejects(lambda({ GATEWAY_URL: 'not a url' }).handler(authEvent(ALICE.login, ALICE.password)), 'unavailable', /GATEWAY_URL is not a URL/);
    await rejects(lambda({ ATTRIBUTES: 'email,phone_number' }).handler(authEvent(ALICE.login, ALICE.password)), 'unavailable', /ATTRIBUTES: unknown attribute\(s\) phone_number/);
    await rejects(lambda({ LEGACY_ID_ATTRIBUTE: 'legacy_id' }).handler(authEvent(ALICE.login, ALICE.password)), 'unavailable', /LEGACY_ID_ATTRIBUTE must be a custom attribute/);
    await rejects(lambda({ CUSTOM_ATTRIBUTES: 'plan=app_metadata.plan' }).handler(authEvent(ALICE.login, ALICE.password)), 'unavailable', /CUSTOM_ATTRIBUTES must be/);
    assert.equal(requests.length, before, 'no request with a bad configuration');
    // ALLOW_INSECURE_HTTP=true lets an http:// gateway through: the failure is then the network's, not the setting's.
    await rejects(lambda({ GATEWAY_URL: 'http://gateway.invalid:8080', ALLOW_INSECURE_HTTP: 'true' }).handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /the gateway could not be reached \(/);
  });

  test('the gateway down (a closed port) throws at once, well within 5 s', async () => {
    const { handler } = lambda({ GATEWAY_URL: `http://127.0.0.1:${await closedPort()}` });
    const [, ms] = await timed(rejects(handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /the gateway could not be reached \(ECONNREFUSED\)$/));
    assert.ok(ms < 1000, `${ms} ms`);
  });

  test('a stalled gateway (a TCP server that never answers) throws within 5 s: the call is cut at 2.5 s', async () => {
    const { handler } = lambda({ GATEWAY_URL: stallUrl });
    const [, ms] = await timed(rejects(handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /the gateway did not answer within 2500 ms$/));
    assert.ok(ms >= 2400 && ms < 5000, `${ms} ms`);
    const [, ms2] = await timed(rejects(handler(forgotEvent('bob'), lambdaContext()), 'unavailable', /the gateway did not answer within/));
    assert.ok(ms2 < 5000, `${ms2} ms`);
  });

  test('the function\'s own remaining time is honoured (a 1.5 s Lambda timeout cuts the call sooner)', async () => {
    const { handler } = lambda({ GATEWAY_URL: stallUrl });
    const [, ms] = await timed(rejects(handler(authEvent(ALICE.login, ALICE.password), lambdaContext(1500)), 'unavailable', /the gateway did not answer within \d+ ms$/));
    assert.ok(ms < 1500, `${ms} ms`);
  });

  test('token endpoint failures throw within 5 s: a hang is cut at 1.5 s, an error or a refusal is logged by status and code', async () => {
    const { handler } = lambda();
    tokens.next('hang');
    const [, ms] = await timed(rejects(handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /the token endpoint did not answer within 1500 ms$/));
    assert.ok(ms >= 1400 && ms < 2500, `${ms} ms`);
    tokens.next('error');
    await rejects(handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /the token endpoint answered 500 server_error$/);
    tokens.next('html');
    await rejects(handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /the token endpoint answered 502$/);
    await rejects(lambda({ CLIENT_SECRET: 'not-the-secret' }).handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /the token endpoint answered 401 access_denied$/);
    await rejects(lambda({ AUDIENCE: 'https://another-api.example.com' }).handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /the token endpoint answered 403 access_denied$/);
    // A client without read:users: the gateway's 403 insufficient_scope.
    await rejects(lambda({ CLIENT_ID: 'verify-only', CLIENT_SECRET: 'verify-only-secret-0123456789' }).handler(forgotEvent('bob'), lambdaContext()), 'unavailable', /answered 403 insufficient_scope$/);
  });

  test('the token is fetched once and cached across invocations; concurrent invocations share one request', async () => {
    const first = tokenHits();
    const { handler } = lambda();
    await handler(authEvent(ALICE.login, ALICE.password), lambdaContext());
    await handler(forgotEvent('bob'), lambdaContext());
    await rejects(handler(authEvent('nobody@example.com', 'wrong-password-1'), lambdaContext()), 'credentials', /401 invalid_credentials/);
    assert.equal(tokenHits() - first, 1);
    const log = tokens.requests.at(-1)!;
    assert.deepEqual({ client_id: log.client_id, audience: log.audience, grant_type: log.grant_type }, { client_id: CLIENT_ID, audience: gw.issuer.audience, grant_type: 'client_credentials' });

    const second = tokenHits();
    const other = lambda();
    const outs = await Promise.all([
      other.handler(authEvent(ALICE.login, ALICE.password), lambdaContext()),
      other.handler(forgotEvent('bob'), lambdaContext()),
      other.handler(forgotEvent('alice'), lambdaContext()),
      other.handler(authEvent('carol@example.com', 'Pässwörd-ünïcode'), lambdaContext()).catch((e: Error) => e),
      other.handler(forgotEvent('erin'), lambdaContext()),
    ]);
    assert.equal(tokenHits() - second, 1, 'one token request for five concurrent invocations');
    assert.equal((outs[0] as CognitoEvent).response.finalUserStatus, 'CONFIRMED');
    assert.deepEqual((outs[4] as CognitoEvent).response.userAttributes, { name: 'Erin' });
  });

  test('the token is renewed shortly before it expires', async () => {
    const saved = tokens.expiresIn;
    tokens.expiresIn = 2; // cached until 0.2 s before expiry (a tenth of the lifetime, at most a minute)
    try {
      const start = tokenHits();
      const { handler } = lambda();
      await handler(forgotEvent('bob'), lambdaContext());
      await handler(forgotEvent('bob'), lambdaContext());
      assert.equal(tokenHits() - start, 1);
      await new Promise((resolve) => setTimeout(resolve, 1900));
      await handler(forgotEvent('bob'), lambdaContext());
      assert.equal(tokenHits() - start, 2, 'a new token after expiry');
    } finally {
      tokens.expiresIn = saved;
    }
  });

  test('a 401 invalid_token renews the token once; a second refusal throws', async () => {
    const { handler } = lambda();
    const start = tokenHits();
    tokens.next('expired'); // a token already expired although expires_in says a day
    const out = await handler(authEvent(ALICE.login, ALICE.password), lambdaContext());
    assert.equal(out.response.finalUserStatus, 'CONFIRMED');
    assert.equal(tokenHits() - start, 2);
    await handler(forgotEvent('bob'), lambdaContext());
    assert.equal(tokenHits() - start, 2, 'the renewed token is the cached one');

    const other = lambda();
    tokens.next('expired', 'expired');
    await rejects(other.handler(authEvent(ALICE.login, ALICE.password), lambdaContext()), 'unavailable', /the gateway answered 401 invalid_token$/);
    assert.equal(tokenHits() - start, 4, 'renewed once, not more');
  });

  test('thrown messages are the four generic texts; no message or log line carries a password, secret or token', () => {
    assert.ok(thrown.length >= 30, `${thrown.length} messages`);
    assert.deepEqual(new Set(thrown), new Set(Object.values(PUBLIC)));
    assert.ok(logs.length >= thrown.length);
    for (const m of [...thrown, ...logs]) {
      for (const p of PASSWORDS) assert.ok(!m.includes(p), m);
      assert.ok(!m.includes(CLIENT_SECRET) && !m.includes('verify-only-secret') && !m.includes('not-the-secret'), m);
      assert.ok(!/eyJ|Bearer|@example\.com|nobody/.test(m), m); // no token, and no login either
    }
  });

  describe('markMigrated: the Post authentication / Post confirmation handler', () => {
    const ID = { LEGACY_ID_ATTRIBUTE: 'custom:legacy_id' };
    const migratedAt = async (id: string) => (await gw.running.store.findById(id))?.migratedAt ?? null;

    test('after a migration sign-in it marks the user, and the gateway then refuses the legacy login', async () => {
      const { handler, markMigrated } = lambda(ID);
      const migrated = await handler(authEvent('erin', 'erin-has-no-email'), lambdaContext());
      const attributes = migrated.response.userAttributes as Json;
      assert.deepEqual(attributes, { name: 'Erin', 'custom:legacy_id': 'legacy|5' });
      assert.equal(await migratedAt('5'), null);

      const event = postAuthEvent('erin', attributes);
      const copy = structuredClone(event);
      const before = requests.length;
      const [out, ms] = await timed(markMigrated(event, lambdaContext()));
      assert.equal(out, event);
      assert.deepEqual(out, copy, 'the event comes back unchanged');
      assert.ok(ms < 2500, `${ms} ms`);
      assert.deepEqual(requests.slice(before), [`PUT ${gw.url}/v1/users/legacy%7C5/migration`]);
      assert.ok(await migratedAt('5'), 'marked in the legacy store');

      // This container remembers the mark: the next sign-in makes no call.
      await markMigrated(postAuthEvent('erin', attributes), lambdaContext());
      assert.equal(requests.length, before + 1);
      // The gateway now treats the legacy row as gone.
      await rejects(handler(authEvent('erin', 'erin-has-no-email'), lambdaContext()), 'credentials', /401 invalid_credentials$/);
      await rejects(handler(forgotEvent('erin'), lambdaContext()), 'credentials', /404 user_not_found$/);
    });

    test('a forgot-password migration is marked by the Post confirmation trigger', async () => {
      const { handler, markMigrated } = lambda(ID);
      const migrated = await handler(forgotEvent('carol@example.com'), lambdaContext());
      assert.equal((migrated.response.userAttributes as Json)['custom:legacy_id'], 'legacy|3');
      await markMigrated(postAuthEvent('carol', migrated.response.userAttributes as Json, 'PostConfirmation_ConfirmForgotPassword'), lambdaContext());
      assert.ok(await migratedAt('3'));
    });

    test('it never throws: gateway down or stalled, unknown id, other users and triggers, no setting', async () => {
      logs.length = 0;
      const attributes = { email: 'bob@example.com', 'custom:legacy_id': 'legacy|2' };
      const down = lambda({ ...ID, GATEWAY_URL: `http://127.0.0.1:${await closedPort()}` });
      const event = postAuthEvent('bob', attributes);
      assert.equal(await down.markMigrated(event, lambdaContext()), event);
      const stalled = lambda({ ...ID, GATEWAY_URL: stallUrl });
      const [out, ms] = await timed(stalled.markMigrated(postAuthEvent('bob', attributes), lambdaContext()));
      assert.equal(out.triggerSource, 'PostAuthentication_Authentication');
      assert.ok(ms < 2600, `${ms} ms`);
      assert.equal(await migratedAt('2'), null, 'not marked');
      assert.deepEqual(logs, [
        'legacy-gateway: legacy|2 is not marked yet (the next sign-in tries again): the gateway could not be reached (ECONNREFUSED)',
        'legacy-gateway: legacy|2 is not marked yet (the next sign-in tries again): the gateway did not answer within 1500 ms',
      ]);

      logs.length = 0;
      const ok = lambda(ID);
      await ok.markMigrated(postAuthEvent('ghost', { 'custom:legacy_id': 'legacy|999' }), lambdaContext());
      assert.deepEqual(logs, ['legacy-gateway: legacy|999 is not in the legacy store (nothing to mark)']);
      const afterGhost = requests.length;
      await ok.markMigrated(postAuthEvent('ghost', { 'custom:legacy_id': 'legacy|999' }), lambdaContext());
      assert.equal(requests.length, afterGhost, 'a 404 is not retried by the same container');
      fault.fail = true;
      try {
        await ok.markMigrated(postAuthEvent('bob', attributes), lambdaContext());
      } finally {
        fault.fail = false;
      }
      assert.match(logs[1] ?? '', /legacy\|2 is not marked yet .*answered 503 store_unavailable$/);

      const before = requests.length;
      await ok.markMigrated(postAuthEvent('native-user', { email: 'new@example.com' }), lambdaContext()); // signed up in Cognito
      await ok.markMigrated({ ...postAuthEvent('bob', attributes), triggerSource: 'PostConfirmation_ConfirmSignUp' }, lambdaContext());
      await ok.markMigrated(undefined as unknown as CognitoEvent);
      logs.length = 0;
      const unset = lambda();
      await unset.markMigrated(postAuthEvent('bob', attributes), lambdaContext());
      await unset.markMigrated(postAuthEvent('bob', attributes), lambdaContext());
      assert.deepEqual(logs, ['legacy-gateway: set LEGACY_ID_ATTRIBUTE (and have the migrate function fill it) to mark users migrated']);
      assert.equal(requests.length, before, 'no call for any of these');
      assert.equal(await migratedAt('2'), null);
      for (const line of logs) assert.ok(!line.includes(CLIENT_SECRET) && !/eyJ/.test(line));
    });
  });

  describe('the module as Lambda loads it: env only, the runtime\'s global fetch', () => {
    // TEST_NODE_RUNTIMES also names Node 18 (for Auth0's runtime): Lambda's supported runtimes are 20 and newer.
    const binaries = [process.execPath, ...testEnv.nodeRuntimes].map((b) => ({ binary: b, version: execFileSync(b, ['--version']).toString().trim() }));
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'lg-cognito-'));
      writeFileSync(path.join(dir, 'ca.pem'), tokens.ca);
    });
    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
    const runner = `
      const [file, events] = process.argv.slice(1);
      const { handler } = await import(file);
      const out = [];
      for (const event of JSON.parse(events)) {
        const end = Date.now() + 5000;
        try {
          const r = await handler(event, { getRemainingTimeInMillis: () => end - Date.now() });
          out.push({ response: r.response });
        } catch (e) {
          out.push({ error: e.message });
        }
      }
      process.stdout.write('\\n' + JSON.stringify({ node: process.version, out }) + '\\n');
    `;

    binaries.forEach(({ binary, version }, i) => {
      const major = Number(/^v(\d+)\./.exec(version)?.[1] ?? 0);
      test(`${binary === process.execPath ? 'this Node' : binary}: handler export`, { skip: major < 20 ? `${version}: not a Lambda runtime (nodejs20.x and newer)` : false }, async () => {
        const start = tokenHits();
        const events = [authEvent(ALICE.login, ALICE.password), authEvent(`nobody-${i}@example.com`, 'wrong-password-1'), forgotEvent('bob'), forgotEvent('nobody@example.com')];
        const { stdout } = await run(binary, ['--input-type=module', '-e', runner, pathToFileURL(FILE).href, JSON.stringify(events)], {
          env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem'), ...config() },
          timeout: 30_000,
        });
        // The handler's own log lines (console.log, as CloudWatch gets them), then the runner's result.
        const lines = stdout.trim().split('\n');
        const result = JSON.parse(lines.pop()!) as { node: string; out: { response?: Json; error?: string }[] };
        console.log(`# ${binary}: ${result.node}`);
        assert.match(result.node, /^v(2[0-9])\./, 'a Lambda Node runtime (20 or newer)');
        assert.deepEqual(result.out, [
          { response: { userAttributes: { email: 'alice@example.com', email_verified: 'true', name: 'Alice Doe', given_name: 'Alice', family_name: 'Doe' }, finalUserStatus: 'CONFIRMED', messageAction: 'SUPPRESS' } },
          { error: PUBLIC.credentials },
          { response: { userAttributes: { email: 'bob@example.com', email_verified: 'true', name: 'Bob Roe' }, messageAction: 'SUPPRESS' } },
          { error: PUBLIC.credentials },
        ]);
        assert.deepEqual(lines.filter(Boolean), [
          'legacy-gateway: UserMigration_Authentication: the gateway answered 401 invalid_credentials',
          'legacy-gateway: UserMigration_ForgotPassword: the gateway answered 404 user_not_found',
        ]);
        for (const secret of [...PASSWORDS, CLIENT_SECRET, 'eyJ']) assert.ok(!stdout.includes(secret), 'nothing secret on stdout');
        assert.equal(tokenHits() - start, 1, 'one token for the four invocations of one container');
      });
    });
  });
  test('backstop: `reconcile` marks the users a Cognito user list names (the README\'s jq filter)', { skip: jq ? false : 'jq is not installed' }, async () => {
    // What `aws cognito-idp list-users --user-pool-id <pool>` prints (ListUsers' documented response shape).
    const user = (name: string, attributes: Record<string, string>) => ({
      Username: name, Enabled: true, UserStatus: 'CONFIRMED', UserCreateDate: '2026-12-01T10:00:00+00:00', UserLastModifiedDate: '2026-12-01T10:00:00+00:00',
      Attributes: Object.entries(attributes).map(([Name, Value]) => ({ Name, Value })),
    });
    const listUsers = {
      Users: [
        user('frank', { sub: 'a1', name: 'Frank', 'custom:legacy_id': 'legacy|8' }),
        user('dup-one', { sub: 'a2', email: 'dup@example.com', 'custom:legacy_id': 'legacy|6' }),
        user('erin', { sub: 'a3', name: 'Erin', 'custom:legacy_id': 'legacy|5' }), // marked by markMigrated above
        user('ghost', { sub: 'a4', 'custom:legacy_id': 'legacy|999' }),
        user('signed-up-in-cognito', { sub: 'a5', email: 'new@example.com' }),
      ],
    };
    const ndjson = execFileSync('jq', ['-c', JQ_FILTER], { input: JSON.stringify(listUsers), encoding: 'utf8' });
    assert.deepEqual(ndjson.trim().split('\n').map((l) => JSON.parse(l) as unknown), [
      { user_id: 'auth0|legacy|8' }, { user_id: 'auth0|legacy|6', email: 'dup@example.com' }, { user_id: 'auth0|legacy|5' }, { user_id: 'auth0|legacy|999' },
    ]);
    async function* chunks() {
      yield ndjson;
    }
    const result = await reconcile(gw.running.store, ndjsonRecords(chunks()), { prefix: gw.config.profile.user_id_prefix, dryRun: false });
    assert.deepEqual(result.counts, { records: 4, marked: 2, would_mark: 0, already_marked: 1, absent: 1, skipped: 0, malformed: 0 });
    assert.ok((await gw.running.store.findById('8'))?.migratedAt);
    assert.ok((await gw.running.store.findById('6'))?.migratedAt);
  });
});
