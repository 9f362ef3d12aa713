/**
 * A verify whose caller leaves (its connection closes) while the verify waits for a hash slot: it checks no
 * password, its audit event says request_abandoned, and the failed-login budget is not charged; through /v1 and
 * through two front doors. A caller that stays connected is answered once a slot is free.
 * The slots are held by verifications the test starts itself, in this process, with bcrypt held at a gate.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, mock, test } from 'node:test';
import { HASH_SLOTS, passwordChecks } from '../../src/passwords/index.js';
import { holdHashSlots, until } from '../helpers/hash-slots.js';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';

const KEY = 'kratos-hook-key-abandon-0123456789';
const ALICE = { login: 'alice@example.com', password: 'correct horse battery staple' };
let gw: TestGateway;
let token: string;

before(async () => {
  gw = await startTestGateway({
    config: {
      front_doors: {
        kratos: { auth: { header: { name: 'X-Api-Key', value: KEY } }, mark_on_success: false },
        fusionauth: { auth: { header: { name: 'X-Connector-Key', value: KEY } }, uuid_namespace: '6f1d2c3b-4a59-4e8f-9b7a-0c1d2e3f4a5b', registrations: [], mark_on_success: false },
      },
      log: { audit_key: 'audit-key-0123456789-abcdefghij' },
      limits: { login_failures: { max: 2, window_s: 600 } },
    },
  });
  token = await gw.issuer.mint({ azp: 'client-abandon', sub: 'client-abandon@clients' });
});
after(async () => gw?.close());
afterEach(() => mock.restoreAll());

/** Send one raw HTTP/1.1 POST, and keep the socket (to close it from the client's side). */
function rawPost(path: string, headers: Record<string, string>, body: unknown) {
  const payload = JSON.stringify(body);
  const { port } = new URL(gw.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.on('error', () => {});
  const head = Object.entries({ host: `127.0.0.1:${port}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n${payload}`);
  return { socket };
}

const audits = () => gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.name === 'audit');

async function nextAudit(from: number): Promise<Record<string, unknown>> {
  for (let i = 0; i < 250 && audits().length <= from; i++) await new Promise((r) => setTimeout(r, 20));
  const e = audits()[from];
  assert.ok(e, 'an audit event was written');
  return e;
}

/** The failed-login budget (max 2) is whole: two wrong passwords are checked, the third is refused. */
async function budgetIsWhole(login: string) {
  const wrong = async () => (await call(gw.url, 'POST', '/v1/credentials/verify', { token, body: { login, password: 'wrong' } })).status;
  assert.deepEqual([await wrong(), await wrong(), await wrong()], [401, 401, 429]);
}

// bcrypt users (the spy counts bcrypt verifications), one per case: each spends its own budget.
const CASES = [
  { name: 'api', via: 'api', login: 'erin', send: (login: string) => rawPost('/v1/credentials/verify', { authorization: `Bearer ${token}` }, { login, password: 'wrong' }) },
  { name: 'kratos door', via: 'door', login: 'dup-one', send: (login: string) => rawPost('/v1/idp/kratos/password-migration', { 'x-api-key': KEY }, { identifier: login, password: 'wrong' }) },
  // FusionAuth's door logs every 503 as an outage: a caller that left is none.
  { name: 'fusionauth door', via: 'door', login: 'dup-two', send: (login: string) => rawPost('/v1/idp/fusionauth/connector', { 'x-connector-key': KEY }, { loginId: login, password: 'wrong' }) },
];

for (const c of CASES) {
  test(`${c.name}: the caller leaves while its verify waits for a hash slot: no hash, request_abandoned, no charge, no outage logged`, { timeout: 15_000 }, async (t) => {
    const held = await holdHashSlots(t);
    const from = audits().length;
    const logsFrom = gw.logs.length;
    const req = c.send(c.login);
    await until(() => passwordChecks().waiting === 1, 'the verify waits for a slot');
    assert.equal(audits().length, from, 'still waiting');
    req.socket.destroy();
    const e = await nextAudit(from);
    assert.deepEqual([e.op, e.outcome, e.via], ['verify', 'request_abandoned', c.via]);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(gw.logs.slice(logsFrom).filter((l) => /could not answer|outage/.test(l)), []);
    await held.release();
    assert.equal(held.others(), 0, 'the abandoned verify never reached the hash');
    await budgetIsWhole(c.login);
  });
}

test('a caller that stays connected while its verify waits for a slot gets its answer once one is free', { timeout: 15_000 }, async (t) => {
  const held = await holdHashSlots(t);
  const answer = call(gw.url, 'POST', '/v1/credentials/verify', { token, body: ALICE });
  await until(() => passwordChecks().waiting === 1, 'the verify waits for a slot');
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  assert.match(metrics, new RegExp(`^legacy_gateway_password_checks\\{state="running"\\} ${HASH_SLOTS}$`, 'm'));
  assert.match(metrics, /^legacy_gateway_password_checks\{state="waiting"\} 1$/m);
  await held.release();
  const r = await answer;
  assert.equal(r.status, 200);
  assert.equal(held.others(), 1, "alice's own verification ran");
});

test('/metrics: the dropped checks under verify outcome "abandoned", and the checks running and waiting', async () => {
  const r = await fetch(`${gw.url}/metrics`);
  const text = await r.text();
  // The three cases above each dropped one check.
  assert.match(text, /^legacy_gateway_verify_total\{outcome="abandoned"\} 3$/m);
  assert.match(text, /^legacy_gateway_password_checks\{state="running"\} 0$/m);
  assert.match(text, /^legacy_gateway_password_checks\{state="waiting"\} 0$/m);
});
