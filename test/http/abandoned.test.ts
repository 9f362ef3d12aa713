/**
 * A verify whose caller leaves (its connection closes) while the verify waits for a hash slot: it checks no
 * password, its audit event says request_abandoned, and the failed-login budget is not charged; through /v1 and
 * through a front door. A caller that stays connected is answered once a slot is free.
 * The slots are held by verifications the test starts itself, in this process, with bcrypt held at a gate.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, mock, test } from 'node:test';
import { passwordChecks } from '../../src/passwords/index.js';
import { holdHashSlots, until } from '../helpers/hash-slots.js';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';

const KEY = 'kratos-hook-key-abandon-0123456789';
const ALICE = { login: 'alice@example.com', password: 'correct horse battery staple' };
let gw: TestGateway;
let token: string;

before(async () => {
  gw = await startTestGateway({
    config: {
      front_doors: { kratos: { auth: { header: { name: 'X-Api-Key', value: KEY } }, mark_on_success: false } },
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

for (const via of ['api', 'door'] as const) {
  test(`${via}: the caller leaves while its verify waits for a hash slot: no hash, request_abandoned, no charge`, { timeout: 15_000 }, async (t) => {
    // bcrypt users (the spy counts bcrypt verifications), one per test: each test spends its own budget.
    const login = via === 'api' ? 'erin' : 'dup-one';
    const held = await holdHashSlots(t);
    const from = audits().length;
    const req =
      via === 'api'
        ? rawPost('/v1/credentials/verify', { authorization: `Bearer ${token}` }, { login, password: 'wrong' })
        : rawPost('/v1/idp/kratos/password-migration', { 'x-api-key': KEY }, { identifier: login, password: 'wrong' });
    // The request is in: its login was looked up and it waits for a slot (no audit event yet).
    await until(() => passwordChecks().waiting === 1, 'the verify waits for a slot');
    assert.equal(audits().length, from, 'still waiting');
    req.socket.destroy();
    const e = await nextAudit(from);
    assert.deepEqual([e.op, e.outcome, e.via], ['verify', 'request_abandoned', via]);
    await held.release();
    assert.equal(held.others(), 0, 'the abandoned verify never reached the hash');
    await budgetIsWhole(login);
  });
}

test('a caller that stays connected while its verify waits for a slot gets its answer once one is free', { timeout: 15_000 }, async (t) => {
  const held = await holdHashSlots(t);
  const answer = call(gw.url, 'POST', '/v1/credentials/verify', { token, body: ALICE });
  await until(() => passwordChecks().waiting === 1, 'the verify waits for a slot');
  await held.release();
  const r = await answer;
  assert.equal(r.status, 200);
  assert.equal(held.others(), 1, "alice's own verification ran");
});

test('/metrics: the dropped checks under verify outcome "abandoned", and the checks running and waiting', async () => {
  const r = await fetch(`${gw.url}/metrics`);
  const text = await r.text();
  // The two tests above each dropped one check (api and door).
  assert.match(text, /^legacy_gateway_verify_total\{outcome="abandoned"\} 2$/m);
  assert.match(text, /^legacy_gateway_password_checks\{state="running"\} 0$/m);
  assert.match(text, /^legacy_gateway_password_checks\{state="waiting"\} 0$/m);
});
