/**
 * The use cases' security properties, with an in-memory store and a spy on the password scheme: what is verified,
 * with which password, how often. No timing is measured here.
 */
import assert from 'node:assert/strict';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { afterEach, describe, mock, test, type TestContext } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { AMBIGUOUS, StoreError, type Ambiguous, type LegacyUser, type UserStore } from '../../adapters/types.js';
import { ApiError } from '../../src/errors.js';
import { CLI_CALLER } from '../../src/audit.js';
import { DEFAULT_RESILIENCE, Gateway } from '../../src/gateway.js';
import { limiterUnavailable, MemoryLoginLimiter, type LoginLimiter } from '../../src/limiter.js';
import { createLogger } from '../../src/logger.js';
import { compilePolicy, getScheme, passwordChecks } from '../../src/passwords/index.js';
import { holdHashSlots, until } from '../helpers/hash-slots.js';

const ALICE_PW = 'correct horse';
const ALICE_HASH = hashSync(ALICE_PW, 4);
const OTHER_HASH = hashSync('decoy-source', 4);

function user(id: string, email: string, username: string, password = ALICE_HASH, extra: Partial<LegacyUser> = {}): LegacyUser {
  return { id, email, username, password, appMetadata: {}, userMetadata: {}, migratedAt: null, ...extra };
}

/**
 * A store whose "collation" is as wide as it gets: every row is a candidate for every login, as a case- and
 * accent-insensitive collation would return look-alikes. The gateway's rule alone must pick the row.
 */
class WideStore implements UserStore {
  failing = false;
  constructor(public rows: LegacyUser[]) {}
  private check() {
    if (this.failing) throw new StoreError('findByLogin failed (ECONNREFUSED)');
  }
  async findCandidates(): Promise<LegacyUser[] | Ambiguous> {
    this.check();
    return this.rows.map((r) => ({ ...r }));
  }
  async findById(id: string) {
    this.check();
    return this.rows.find((r) => r.id === id) ?? null;
  }
  async markMigrated() {
    return null;
  }
  async unmarkMigrated() {
    return false;
  }
  async migrationStatus() {
    return { total: this.rows.length, migrated: 0, exported: null, remaining: this.rows.length, perDay: [], activeRemaining: null };
  }
  async *scan() {
    yield user('decoy', 'x@example.com', 'x', OTHER_HASH);
  }
  async ping() {}
  async close() {}
}

const bcrypt = getScheme('bcrypt')!;

function gateway(store: UserStore, max = 3) {
  return new Gateway({
    store,
    passwords: compilePolicy({ scheme: 'auto', params: {} }),
    userIdPrefix: '',
    logger: createLogger('silent'),
    limiter: new MemoryLoginLimiter(max, 60),
    // These tests fail the store on purpose, call after call: the breaker is not what they are about.
    resilience: { ...DEFAULT_RESILIENCE, failures: 1000 },
  });
}

/** The outcome of one verify as a short string: 'ok:<id>' or the error code. */
async function attempt(g: Gateway, login: string, password: string, client?: AbortSignal): Promise<string> {
  try {
    return `ok:${(await g.verify(login, password, CLI_CALLER, client)).user_id}`;
  } catch (e) {
    if (e instanceof ApiError) return e.code;
    throw e;
  }
}

/** Spy on bcrypt: every verification, with the stored value it was checked against and the password. */
function spyOnBcrypt() {
  return mock.method(bcrypt, 'verify');
}
const storedOf = (spy: ReturnType<typeof spyOnBcrypt>) => spy.mock.calls.map((c) => c.arguments[1]);

afterEach(() => mock.restoreAll());

describe('Gateway: the timing decoy', () => {
  for (const [name, rows, login] of [
    ['an unknown login', [user('1', 'alice@example.com', 'alice')], 'nobody@example.com'],
    ['a migrated user', [user('1', 'alice@example.com', 'alice', ALICE_HASH, { migratedAt: '2026-01-01T00:00:00.000Z' })], 'alice'],
    ['a user with no usable hash', [user('1', 'alice@example.com', 'alice', 'not-a-hash')], 'alice'],
    ['an ambiguous login', [user('1', 'dup@example.com', 'd1'), user('2', 'DUP@example.com', 'd2')], 'dup@example.com'],
  ] as const) {
    test(`${name} costs exactly one verification of the decoy, with the submitted password`, async () => {
      const g = gateway(new WideStore([...rows]));
      await g.prepareDecoy();
      const spy = spyOnBcrypt();
      const submitted = `submitted-${name}-漢字`.repeat(3);
      const outcome = await attempt(g, login, submitted);
      assert.notEqual(outcome.slice(0, 3), 'ok:');
      assert.equal(spy.mock.callCount(), 1, 'one verification');
      assert.equal(spy.mock.calls[0]!.arguments[0], submitted, 'spent on the submitted password');
      assert.equal(spy.mock.calls[0]!.arguments[1], OTHER_HASH, "the decoy's stored value, never a real user's");
    });
  }

  test('a known user with a wrong password costs one verification of that user\'s hash and no decoy', async () => {
    const g = gateway(new WideStore([user('1', 'alice@example.com', 'alice')]));
    await g.prepareDecoy();
    const spy = spyOnBcrypt();
    assert.equal(await attempt(g, 'alice', 'wrong'), 'invalid_credentials');
    assert.deepEqual(storedOf(spy), [ALICE_HASH]);
  });
});

describe('Gateway: one decoy sample at a time', () => {
  test('concurrent prepareDecoy() calls and first requests share one sample of the store', async () => {
    const store = new WideStore([user('1', 'alice@example.com', 'alice')]);
    const scan = store.scan.bind(store);
    let scans = 0;
    store.scan = async function* () {
      scans++;
      await new Promise((r) => setTimeout(r, 20));
      yield* scan();
    };
    const g = gateway(store, 100);
    const spy = spyOnBcrypt();
    const [a, b] = await Promise.all([g.prepareDecoy(), g.prepareDecoy(), attempt(g, 'nobody-1', 'pw'), attempt(g, 'nobody-2', 'pw')]);
    assert.equal(scans, 1);
    assert.equal(a, b, 'the same decoy');
    assert.deepEqual(storedOf(spy), [OTHER_HASH, OTHER_HASH], "both requests spent the store's own decoy");
    await g.prepareDecoy();
    assert.equal(scans, 2, 'a later call samples again');
  });
});

describe('Gateway: a decoy sampled while the store was down is replaced once the store answers', () => {
  test('fallback first, then (a minute later, in the background) the store\'s own scheme', async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 });
    const store = new WideStore([user('1', 'alice@example.com', 'alice')]);
    const scan = store.scan.bind(store);
    store.scan = async function* () {
      throw new StoreError('scan failed (ECONNREFUSED)');
    };
    const g = gateway(store, 100);
    await g.prepareDecoy();
    const spy = spyOnBcrypt();
    await attempt(g, 'nobody', 'pw');
    assert.notEqual(storedOf(spy)[0], OTHER_HASH, 'the bcrypt fallback while the store is down');
    store.scan = scan;
    await attempt(g, 'nobody', 'pw');
    assert.notEqual(storedOf(spy)[1], OTHER_HASH, 'not re-sampled on every request');
    mock.timers.tick(61_000);
    await attempt(g, 'nobody', 'pw'); // starts the re-sample in the background
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    await attempt(g, 'nobody', 'pw');
    assert.equal(storedOf(spy).at(-1), OTHER_HASH, "the store's own scheme and value once it answers");
  });
});

describe('Gateway: a store down at start-up gets its own decoy as soon as it answers', () => {
  const ITERATIONS = 1_200_000; // Django's default is 600,000 (2024); twice that, to stand well clear of bcrypt-10
  const djangoHash = (pw: string) => {
    const salt = randomBytes(12).toString('hex');
    return `pbkdf2_sha256$${ITERATIONS}$${salt}$${pbkdf2Sync(pw, salt, ITERATIONS, 32, 'sha256').toString('base64')}`;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  async function timed(g: Gateway, login: string, n: number): Promise<number> {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      assert.equal(await attempt(g, login, `wrong-${i}`), 'invalid_credentials');
      ms.push(performance.now() - t);
    }
    return median(ms);
  }
  async function until(cond: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(cond(), 'in time');
  }

  test('PBKDF2 store: bcrypt while down; after recovery an unknown login costs what a wrong password costs', async (t) => {
    const store = new WideStore([user('1', 'alice@example.com', 'alice', djangoHash(ALICE_PW)), user('2', 'bob@example.com', 'bob', djangoHash('bob-pw'))]);
    let scans = 0;
    store.scan = async function* () {
      scans++;
      if (store.failing) throw new StoreError('scan failed (ECONNREFUSED)');
      yield* store.rows;
    };
    store.failing = true;
    const g = gateway(store, 1000);
    await g.prepareDecoy();
    assert.equal(g.decoyScheme, 'bcrypt', 'the fallback while the store is down');
    assert.equal(await attempt(g, 'nobody', 'pw'), 'store_unavailable');
    // The store answers again: the first call that succeeds starts a re-sample in the background (not a minute later).
    store.failing = false;
    const before = await timed(g, 'nobody', 1); // this request itself is not held up by the sample
    await until(() => g.decoyScheme === 'django_pbkdf2_sha256');
    assert.equal(scans, 2, 'one sample at start-up, one on recovery');
    // Interleaved, so that load from elsewhere on the machine weighs on both alike.
    const u: number[] = [];
    const w: number[] = [];
    for (let i = 0; i < 7; i++) {
      u.push(await timed(g, 'nobody', 1));
      w.push(await timed(g, 'alice@example.com', 1));
    }
    const [unknown, wrong] = [median(u), median(w)];
    const ratio = unknown / wrong;
    t.diagnostic(`fallback ${before.toFixed(0)} ms; after recovery: unknown login ${unknown.toFixed(0)} ms, wrong password ${wrong.toFixed(0)} ms (ratio ${ratio.toFixed(2)})`);
    // The fallback really was cheaper (so the comparison below can tell the two apart): bcrypt-10 vs PBKDF2 1.2M.
    assert.ok(before < wrong * 0.75, `the fallback cost ${before.toFixed(0)} ms vs ${wrong.toFixed(0)} ms for a wrong password`);
    assert.ok(ratio > 0.65 && ratio < 1.5, `unknown login ${unknown.toFixed(0)} ms vs wrong password ${wrong.toFixed(0)} ms (ratio ${ratio.toFixed(2)})`);
  });

  test('a store whose scan cannot run (named queries only): the first row a login reads becomes the decoy', async () => {
    const store = new WideStore([user('1', 'alice@example.com', 'alice', djangoHash(ALICE_PW))]);
    let scans = 0;
    store.scan = async function* () {
      scans++;
      throw new StoreError('scan failed (42P01)');
    };
    const g = gateway(store, 1000);
    await g.prepareDecoy();
    assert.equal(g.decoyScheme, 'bcrypt');
    assert.equal(await attempt(g, 'alice', 'not-her-password'), 'invalid_credentials');
    assert.equal(g.decoyScheme, 'django_pbkdf2_sha256', "alice's row gave the decoy its scheme");
    const spy = mock.method(getScheme('django_pbkdf2_sha256')!, 'verify');
    assert.equal(await attempt(g, 'nobody', 'pw'), 'invalid_credentials');
    assert.equal(spy.mock.callCount(), 1, 'the unknown login cost one PBKDF2 verification');
    // A failing re-sample never puts bcrypt back, and a scan that fails while the store answers is retried once per
    // recovery, not on every request.
    await g.prepareDecoy();
    assert.equal(g.decoyScheme, 'django_pbkdf2_sha256');
    for (let i = 0; i < 3; i++) await attempt(g, 'nobody', 'pw');
    assert.ok(scans <= 3, `${scans} scans`);
  });

  test('a lookup (the get_user script) or a get by id that reads a real row gives the fallback decoy its scheme too', async () => {
    for (const read of [(g: Gateway) => g.lookup('alice@example.com', CLI_CALLER), (g: Gateway) => g.getById('1', CLI_CALLER)]) {
      const store = new WideStore([user('1', 'alice@example.com', 'alice', djangoHash(ALICE_PW))]);
      store.scan = async function* () {
        throw new StoreError('scan failed (42P01)');
      };
      const g = gateway(store, 1000);
      await g.prepareDecoy();
      assert.equal(g.decoyScheme, 'bcrypt');
      await read(g);
      assert.equal(g.decoyScheme, 'django_pbkdf2_sha256');
    }
  });
});

describe('Gateway: the matching rule is the gateway\'s, whatever the store returns', () => {
  const rows = [user('1', 'alice@example.com', 'alice'), user('2', 'rené@example.com', 'rene2', hashSync('rene-pw', 4)), user('3', 'rene@example.com', 'rene', hashSync('rene-pw', 4))];

  for (const lookalike of ['ａｌｉｃｅ', 'alicé', 'a\u0301lice', 'al\u200dice', 'ali\u00adce', 'ALİCE', 'аlice', 'alice@exаmple.com', '𝐚𝐥𝐢𝐜𝐞']) {
    test(`${JSON.stringify(lookalike)} does not select alice: 401, alice's hash never checked`, async () => {
      const g = gateway(new WideStore(rows), 100);
      await g.prepareDecoy();
      const spy = spyOnBcrypt();
      assert.equal(await attempt(g, lookalike, ALICE_PW), 'invalid_credentials');
      assert.ok(!storedOf(spy).includes(ALICE_HASH));
      await assert.rejects(g.lookup(lookalike, CLI_CALLER), (e: ApiError) => e.code === 'user_not_found');
    });
  }

  test('trim and toLowerCase() are the whole rule: " ALICE@Example.COM " is alice', async () => {
    const g = gateway(new WideStore(rows));
    assert.equal(await attempt(g, ' ALICE@Example.COM ', ALICE_PW), 'ok:1');
    assert.equal((await g.lookup('\u00a0Alice\u3000', CLI_CALLER)).user_id, '1', 'Unicode spaces are trimmed too');
  });

  test('rows that differ by an accent are two users, not an ambiguous login', async () => {
    const g = gateway(new WideStore(rows));
    assert.equal(await attempt(g, 'rene@example.com', 'rene-pw'), 'ok:3');
    assert.equal(await attempt(g, 'RENÉ@example.com', 'rene-pw'), 'ok:2');
  });

  test('a store that answers with as many candidates as the limit allows is ambiguous (fail closed)', async () => {
    const many = Array.from({ length: 20 }, (_, i) => user(String(i + 10), `u${i}@example.com`, `u${i}`));
    const g = gateway(new WideStore([...many]));
    await assert.rejects(g.lookup('nobody-in-the-first-twenty', CLI_CALLER), (e: ApiError) => e.code === 'ambiguous_login');
  });

  test('a password-checking store whose answer is another user counts as a refusal', async () => {
    const store = new WideStore([]);
    const alice = user('1', 'alice@example.com', 'alice');
    (store as UserStore).verifyCredentials = async () => alice;
    const g = gateway(store);
    assert.equal(await attempt(g, 'ａｌｉｃｅ', 'whatever'), 'invalid_credentials');
    assert.equal(await attempt(g, 'Alice', 'whatever'), 'ok:1');
  });

  test('AMBIGUOUS from a store that cannot list candidates is 409', async () => {
    const store = new WideStore([]);
    store.findCandidates = async () => AMBIGUOUS;
    await assert.rejects(gateway(store).lookup('x', CLI_CALLER), (e: ApiError) => e.code === 'ambiguous_login');
  });
});

describe('Gateway: the failed-login limit', () => {
  test('a burst of 20 concurrent wrong passwords gets exactly max of them checked', async () => {
    const g = gateway(new WideStore([user('1', 'alice@example.com', 'alice')]), 3);
    await g.prepareDecoy();
    const spy = spyOnBcrypt();
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => attempt(g, 'alice', `wrong-${i}`)));
    assert.equal(outcomes.filter((o) => o === 'invalid_credentials').length, 3, outcomes.join(','));
    assert.equal(outcomes.filter((o) => o === 'too_many_attempts').length, 17);
    assert.equal(spy.mock.callCount(), 3, 'only the reserved attempts reach the hash');
  });

  test('the account shares one budget across its email, its username and their case variants', async () => {
    const g = gateway(new WideStore([user('1', 'alice@example.com', 'alice')]), 3);
    assert.equal(await attempt(g, 'alice', 'wrong-1'), 'invalid_credentials');
    assert.equal(await attempt(g, 'ALICE@example.com', 'wrong-2'), 'invalid_credentials');
    assert.equal(await attempt(g, 'Alice', 'wrong-3'), 'invalid_credentials');
    assert.equal(await attempt(g, 'alice@EXAMPLE.com', ALICE_PW), 'too_many_attempts', 'a fourth spelling is the same account');
  });

  test('a success resets the count: fail, fail, ok, fail, fail, ok with max 3', async () => {
    const g = gateway(new WideStore([user('1', 'alice@example.com', 'alice')]), 3);
    const seq = [];
    for (const pw of ['w1', 'w2', ALICE_PW, 'w3', 'w4', ALICE_PW]) seq.push(await attempt(g, 'alice', pw));
    assert.deepEqual(seq, ['invalid_credentials', 'invalid_credentials', 'ok:1', 'invalid_credentials', 'invalid_credentials', 'ok:1']);
  });

  test('an attempt the store could not answer is refunded, not counted', async () => {
    const store = new WideStore([user('1', 'alice@example.com', 'alice')]);
    const g = gateway(store, 2);
    store.failing = true;
    for (let i = 0; i < 5; i++) assert.equal(await attempt(g, 'alice', 'wrong'), 'store_unavailable');
    store.failing = false;
    assert.equal(await attempt(g, 'alice', ALICE_PW), 'ok:1');
  });

  test('unknown logins are limited per spelling, and never touch a real account\'s budget', async () => {
    const g = gateway(new WideStore([user('1', 'alice@example.com', 'alice')]), 2);
    for (const l of ['ａｌｉｃｅ', 'alicé', 'al\u200dice']) {
      assert.equal(await attempt(g, l, 'x'), 'invalid_credentials');
      assert.equal(await attempt(g, l, 'x'), 'invalid_credentials');
      assert.equal(await attempt(g, l, 'x'), 'too_many_attempts');
    }
    assert.equal(await attempt(g, 'alice', ALICE_PW), 'ok:1');
  });

  test('fail_closed: the login key was taken, the account key throws limiter_unavailable: the login key is refunded', async () => {
    const inner = new MemoryLoginLimiter(10, 60);
    const taken: string[] = [];
    const refunded: string[] = [];
    // A limiter double: the first key (the login) is reserved, the account key fails as Redis going away would.
    const limiter: LoginLimiter = {
      async take(key) {
        if (key.startsWith('account:')) throw limiterUnavailable();
        taken.push(key);
        return inner.take(key);
      },
      async refund(key) {
        refunded.push(key);
        return inner.refund(key);
      },
      reset: (key) => inner.reset(key),
    };
    const g = new Gateway({
      store: new WideStore([user('1', 'alice@example.com', 'alice')]),
      passwords: compilePolicy({ scheme: 'auto', params: {} }),
      userIdPrefix: '',
      logger: createLogger('silent'),
      limiter,
      resilience: { ...DEFAULT_RESILIENCE, failures: 1000 },
    });
    assert.equal(await attempt(g, 'alice', 'wrong'), 'limiter_unavailable');
    assert.deepEqual(taken, ['login:alice']);
    assert.deepEqual(refunded, ['login:alice'], 'the reservation on the login key is given back');
    assert.equal(await attempt(g, 'alice@example.com', ALICE_PW), 'limiter_unavailable');
    assert.deepEqual(refunded, ['login:alice', 'login:alice@example.com']);
  });
});

describe('Gateway: the store circuit breaker counts only transient store failures', () => {
  const breakerGateway = (store: UserStore) =>
    new Gateway({
      store,
      passwords: compilePolicy({ scheme: 'auto', params: {} }),
      userIdPrefix: '',
      logger: createLogger('silent'),
      limiter: new MemoryLoginLimiter(1000, 60),
      resilience: { ...DEFAULT_RESILIENCE, failures: 3 },
    });

  test('a configuration gap (non-transient StoreError) answers 503 store_unavailable, but never opens the breaker', async () => {
    const store = new WideStore([user('1', 'alice@example.com', 'alice')]);
    store.migrationStatus = async () => {
      throw new StoreError('store.http.count is not configured: the number of legacy users is unknown', { transient: false });
    };
    const g = breakerGateway(store);
    for (let i = 0; i < 10; i++) await assert.rejects(g.status(), (e: unknown) => e instanceof ApiError && e.code === 'store_unavailable');
    assert.equal(g.breakerState, 'closed');
    assert.equal((await g.lookup('alice', CLI_CALLER)).user_id, '1');
    assert.equal(await g.ready(), true);
  });

  test('transient StoreErrors (the default) still open it', async () => {
    const store = new WideStore([user('1', 'alice@example.com', 'alice')]);
    store.failing = true;
    const g = breakerGateway(store);
    for (let i = 0; i < 3; i++) await assert.rejects(g.lookup('alice', CLI_CALLER), (e: unknown) => e instanceof ApiError && e.code === 'store_unavailable');
    assert.equal(g.breakerState, 'open');
    assert.equal(new StoreError('x').transient, true);
  });
});

describe('Gateway: a verify abandoned before its check starts checks no password and is not an attempt', () => {
  /** With max 2: two wrong passwords are checked, the third is refused. */
  async function budgetIsWhole(g: Gateway, login: string) {
    assert.deepEqual([await attempt(g, login, 'w1'), await attempt(g, login, 'w2'), await attempt(g, login, ALICE_PW)], ['invalid_credentials', 'invalid_credentials', 'too_many_attempts']);
  }

  test('its caller leaves while it waits: request_abandoned at once, no hash, and the attempt is refunded (known and unknown logins)', { timeout: 15_000 }, async (t) => {
    const g = gateway(new WideStore([user('1', 'alice@example.com', 'alice')]), 2);
    await g.prepareDecoy();
    const held = await holdHashSlots(t);
    const known = new AbortController();
    const unknown = new AbortController();
    const waiting = [g.verify('alice', 'wrong', CLI_CALLER, known.signal), g.verify('ghost@example.com', 'x', CLI_CALLER, unknown.signal)];
    await until(() => passwordChecks().waiting === 2, 'both wait for a slot');
    known.abort();
    unknown.abort();
    for (const p of waiting) await assert.rejects(p, (e: ApiError) => e.code === 'request_abandoned');
    assert.equal(passwordChecks().waiting, 0, 'they left the queue at once');
    await held.release();
    assert.equal(held.others(), 0, 'neither the wrong password nor the decoy was hashed');
    await budgetIsWhole(g, 'alice');
    await budgetIsWhole(g, 'ghost@example.com');
  });

  test('its deadline passes while it waits: deadline_exceeded in time, no hash afterwards, and the attempt is refunded', { timeout: 15_000 }, async (t) => {
    const g = new Gateway({
      store: new WideStore([user('1', 'alice@example.com', 'alice')]),
      passwords: compilePolicy({ scheme: 'auto', params: {} }),
      userIdPrefix: '',
      logger: createLogger('silent'),
      limiter: new MemoryLoginLimiter(2, 60),
      resilience: { ...DEFAULT_RESILIENCE, deadlineMs: 250 },
    });
    await g.prepareDecoy();
    const held = await holdHashSlots(t);
    const t0 = performance.now();
    assert.deepEqual(await Promise.all([attempt(g, 'alice', ALICE_PW), attempt(g, 'ghost@example.com', 'x')]), ['deadline_exceeded', 'deadline_exceeded']);
    assert.ok(performance.now() - t0 < 5000);
    assert.equal(passwordChecks().waiting, 0, 'the deadline took them out of the queue');
    await held.release();
    assert.equal(held.others(), 0, 'the two requests already answered were not hashed once the slots were free');
    await budgetIsWhole(g, 'alice');
  });

  test('a caller that leaves after its check has started: the check runs to its end and the attempt counts', { timeout: 15_000 }, async (t) => {
    const g = gateway(new WideStore([user('1', 'alice@example.com', 'alice')]), 2);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    t.after(open);
    const real = bcrypt.verify.bind(bcrypt);
    const spy = mock.method(bcrypt, 'verify', async (...args: Parameters<typeof bcrypt.verify>) => {
      await gate;
      return real(...args);
    });
    const gone = new AbortController();
    const p = attempt(g, 'alice', 'wrong-1', gone.signal);
    await until(() => spy.mock.callCount() === 1, 'its check started');
    gone.abort();
    open();
    assert.equal(await p, 'invalid_credentials');
    // One attempt of two is spent: one more is checked, then the limit.
    assert.deepEqual([await attempt(g, 'alice', 'wrong-2'), await attempt(g, 'alice', ALICE_PW)], ['invalid_credentials', 'too_many_attempts']);
  });

  test('a caller signal that aborts after the answer changes nothing', async () => {
    const g = gateway(new WideStore([user('1', 'alice@example.com', 'alice')]), 2);
    const gone = new AbortController();
    assert.equal((await g.verify('alice', ALICE_PW, CLI_CALLER, gone.signal)).user_id, '1');
    gone.abort();
    assert.equal(await attempt(g, 'alice', ALICE_PW), 'ok:1');
    assert.deepEqual(passwordChecks(), { running: 0, waiting: 0 });
  });
});


describe('the per-request deadline', () => {
  /** A store whose lookups settle only when the test says, with a row or a failure. */
  class HeldStore extends WideStore {
    settle: ((fail: boolean) => void)[] = [];
    override findCandidates(): Promise<LegacyUser[] | Ambiguous> {
      return new Promise((resolve, reject) => {
        this.settle.push((fail) => (fail ? reject(new StoreError('findByLogin failed (ECONNRESET)')) : resolve(this.rows.map((r) => ({ ...r })))));
      });
    }
  }
  const held = (deadlineMs: number) => {
    const store = new HeldStore([user('1', 'alice@example.com', 'alice')]);
    const g = new Gateway({
      store,
      passwords: compilePolicy({ scheme: 'auto', params: {} }),
      userIdPrefix: '',
      logger: createLogger('silent'),
      limiter: new MemoryLoginLimiter(3, 60),
      resilience: { ...DEFAULT_RESILIENCE, failures: 1000, deadlineMs },
    });
    return { store, g };
  };
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof ApiError ? e.code : String(e)));

  test('work that settles after the deadline does not change the answer, and a late failure is no unhandled rejection', async (t) => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    t.after(() => process.off('unhandledRejection', onUnhandled));
    const { store, g } = held(50);
    const late = [code(g.lookup('alice', CLI_CALLER)), code(g.lookup('alice', CLI_CALLER))];
    assert.deepEqual(await Promise.all(late), ['deadline_exceeded', 'deadline_exceeded']);
    store.settle[0]!(true); // fails after its caller was answered
    store.settle[1]!(false); // answers after its caller was answered
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(unhandled, []);
  });

  test('work that settles in time gives its own answer or failure, and its timer is cleared', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const { store, g } = held(60_000);
    const ok = code(g.lookup('alice', CLI_CALLER));
    const failed = code(g.lookup('alice', CLI_CALLER));
    store.settle[0]!(false);
    store.settle[1]!(true);
    assert.deepEqual(await Promise.all([ok, failed]), ['ok', 'store_unavailable']);
    // Both timers are gone: nothing keeps the event loop alive for the 60 s deadline.
    assert.equal(timers(), before);
  });
});
