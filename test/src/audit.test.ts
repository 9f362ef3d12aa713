/**
 * The audit log (src/audit.ts) through the Gateway: one event per verify, lookup, get, mark and unmark, on the
 * "audit" logger name, with the caller, the operation, the outcome, the latency, and the login only as a keyed hash.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { StoreError, type LegacyUser, type UserStore } from '../../adapters/types.js';
import { CLI_CALLER, createAuditLog } from '../../src/audit.js';
import { DEFAULT_RESILIENCE, Gateway } from '../../src/gateway.js';
import { MemoryLoginLimiter } from '../../src/limiter.js';
import { createLogger } from '../../src/logger.js';
import { compilePolicy } from '../../src/passwords/index.js';

const KEY = 'audit-key-for-the-test-0123456789';
const PASSWORD = 'Audit-Pass-Word-77';
const ANN: LegacyUser = { id: '7', email: 'Ann@Example.com', username: 'ann', password: hashSync(PASSWORD, 4), appMetadata: {}, userMetadata: {}, migratedAt: null };

function setup(opts: { key?: string; failing?: boolean; level?: string } = {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(opts.level ?? 'info', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const marks = new Map<string, string>();
  const store: UserStore = {
    async findCandidates(login) {
      if (opts.failing) throw new StoreError('findByLogin failed (ECONNREFUSED)');
      return [ANN.email!.toLowerCase(), ANN.username].includes(login.trim().toLowerCase()) ? [{ ...ANN, migratedAt: marks.get(ANN.id) ?? null }] : [];
    },
    async findById(id) {
      return id === ANN.id ? { ...ANN, migratedAt: marks.get(ANN.id) ?? null } : null;
    },
    async markMigrated(id) {
      if (id !== ANN.id) return null;
      if (!marks.has(id)) marks.set(id, new Date().toISOString());
      return marks.get(id)!;
    },
    async unmarkMigrated(id) {
      return marks.delete(id);
    },
    async migrationStatus() {
      return { total: 1, migrated: marks.size, exported: null, remaining: 1 - marks.size, perDay: [], activeRemaining: null };
    },
    async *scan() {
      yield ANN;
    },
    async ping() {},
    async close() {},
  };
  const gateway = new Gateway({
    store,
    passwords: compilePolicy({ scheme: 'auto', params: {} }),
    userIdPrefix: 'legacy|',
    logger,
    limiter: new MemoryLoginLimiter(10, 60),
    audit: createAuditLog(logger, opts.key),
    resilience: { ...DEFAULT_RESILIENCE, failures: 1000 },
  });
  const audits = () => lines.filter((l) => l.name === 'audit');
  return { gateway, lines, audits };
}

const hmac = (login: string) => createHmac('sha256', KEY).update(login.trim().toLowerCase()).digest('base64url');

test('one event per use case, with the caller, the outcome, the latency and the login as an HMAC; never the login', async () => {
  const { gateway, audits, lines } = setup({ key: KEY });
  await gateway.as({ via: 'api', client: 'm2m-client' }).verify(' ANN@example.com ', PASSWORD);
  await gateway.as({ via: 'api', client: 'm2m-client' }).verify('ann', 'wrong-password').catch(() => null);
  await gateway.as({ via: 'api', client: 'm2m-client' }).verify('nobody@example.com', 'x').catch(() => null);
  await gateway.as({ via: 'door', client: 'door:okta', door: 'okta' }).lookup('ann');
  await gateway.as({ via: 'api', client: 'm2m-client' }).getById('legacy|7');
  await gateway.as({ via: 'api', client: 'm2m-client' }).markMigrated('legacy|7');
  await gateway.as({ via: 'door', client: 'door:okta', door: 'okta' }).markMigratedByLogin('nobody@example.com');
  await gateway.as({ via: 'api', client: 'm2m-client' }).unmarkMigrated('legacy|7');
  await gateway.as({ via: 'door', client: 'door:keycloak', door: 'keycloak' }).verifyById('legacy|7', PASSWORD);
  // A token whose client id reads like the CLI is still told apart by via.
  await gateway.as({ via: 'api', client: 'cli' }).lookup('ann');
  const events = audits();
  assert.deepEqual(
    events.map((e) => [e.op, e.outcome, e.via, e.client_id, e.door ?? null, e.user_id ?? null]),
    [
      ['verify', 'success', 'api', 'm2m-client', null, 'legacy|7'],
      ['verify', 'wrong_password', 'api', 'm2m-client', null, null],
      ['verify', 'unknown_user', 'api', 'm2m-client', null, null],
      ['lookup', 'ok', 'door', 'door:okta', 'okta', 'legacy|7'],
      ['get', 'ok', 'api', 'm2m-client', null, 'legacy|7'],
      ['mark', 'ok', 'api', 'm2m-client', null, 'legacy|7'],
      ['mark', 'not_found', 'door', 'door:okta', 'okta', null],
      ['unmark', 'ok', 'api', 'm2m-client', null, 'legacy|7'],
      ['verify', 'success', 'door', 'door:keycloak', 'keycloak', 'legacy|7'],
      ['lookup', 'ok', 'api', 'cli', null, 'legacy|7'],
    ],
  );
  assert.equal(events[0]!.login_hmac, hmac('ann@example.com'), 'the HMAC of the normalised login, with log.audit_key');
  assert.equal(events[1]!.login_hmac, hmac('ann'));
  assert.equal(events[4]!.login_hmac, undefined, 'a get by id has no login');
  for (const e of events) {
    assert.equal(e.msg, 'audit');
    assert.equal(typeof e.ms, 'number');
    assert.ok((e.ms as number) >= 0);
  }
  const text = lines.map((l) => JSON.stringify(l)).join('\n');
  for (const secret of ['ann@example.com', 'Ann@Example.com', 'nobody@example.com', PASSWORD, 'wrong-password', ANN.password!, KEY]) {
    assert.ok(!text.toLowerCase().includes(secret.toLowerCase()), `"${secret}" is not logged`);
  }
});

test('failures carry their error code; the store being down is store_unavailable', async () => {
  const { gateway, audits } = setup({ key: KEY, failing: true });
  await gateway.as({ via: 'api', client: 'c' }).verify('ann', PASSWORD).catch(() => null);
  await gateway.as({ via: 'api', client: 'c' }).lookup('ann').catch(() => null);
  assert.deepEqual(audits().map((e) => [e.op, e.outcome]), [['verify', 'store_unavailable'], ['lookup', 'store_unavailable']]);
});

test('without log.audit_key: a warning, and a random key per process (the HMACs differ between two gateways)', async () => {
  const a = setup();
  const b = setup();
  await a.gateway.lookup('ann', CLI_CALLER);
  await b.gateway.lookup('ann', CLI_CALLER);
  assert.ok(a.lines.some((l) => l.level === 40 && /audit_key is not set/.test(String(l.msg))));
  const [ea] = a.audits();
  const [eb] = b.audits();
  assert.match(String(ea!.login_hmac), /^[\w-]{43}$/);
  assert.notEqual(ea!.login_hmac, eb!.login_hmac);
  assert.equal(ea!.client_id, 'cli', 'outside a request: the operator CLI');
  assert.equal(ea!.via, 'cli');
});

test('log.level quietens the gateway\'s own lines, not the audit log: warn and error still write every event; silent writes nothing', async () => {
  for (const level of ['warn', 'error', 'fatal', 'debug']) {
    const { gateway, audits, lines } = setup({ key: KEY, level });
    await gateway.as({ via: 'api', client: 'm2m-client' }).lookup('ann');
    await gateway.as({ via: 'api', client: 'm2m-client' }).verify('ann', 'wrong-password').catch(() => null);
    assert.deepEqual(
      audits().map((e) => [e.op, e.outcome, e.level]),
      [
        ['lookup', 'ok', 30],
        ['verify', 'wrong_password', 30],
      ],
      level,
    );
    // The level still governs the rest: no other info line gets through a warn logger.
    if (level !== 'debug') assert.deepEqual(lines.filter((l) => l.name !== 'audit' && (l.level as number) < 40), [], level);
  }
  const { gateway, lines } = setup({ key: KEY, level: 'silent' });
  await gateway.as({ via: 'api', client: 'm2m-client' }).lookup('ann');
  assert.deepEqual(lines, []);
});
