/**
 * Who the audit events name, through the HTTP API: a /v1 request's events name the token's client (two clients
 * interleaved, concurrently), a front door's name the door, including the mark it writes after a match; the operator
 * CLI's name "cli" never appears for a request.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';

const KEY = 'kratos-hook-key-audit-0123456789';
let gw: TestGateway;

before(async () => {
  gw = await startTestGateway({
    config: { front_doors: { kratos: { auth: { header: { name: 'X-Api-Key', value: KEY } }, mark_on_success: true } }, log: { audit_key: 'audit-key-0123456789-abcdefghij' } },
  });
});
after(async () => gw?.close());

const audits = () => gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.name === 'audit');

async function waitFor(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
}

test("/v1 events name the token's client, even with two clients' requests in flight at once", async () => {
  const before = audits().length;
  const alpha = await gw.issuer.mint({ azp: 'client-alpha', sub: 'client-alpha@clients' });
  const beta = await gw.issuer.mint({ azp: 'client-beta', sub: 'client-beta@clients' });
  const asks = [];
  for (let i = 0; i < 10; i++) {
    asks.push(call(gw.url, 'POST', '/v1/users/lookup', { token: alpha, body: { login: 'bob' } }));
    asks.push(call(gw.url, 'POST', '/v1/users/lookup', { token: beta, body: { login: 'nobody@example.com' } }));
  }
  const answers = await Promise.all(asks);
  assert.deepEqual(
    answers.map((r) => r.status),
    asks.map((_, i) => (i % 2 === 0 ? 200 : 404)),
  );
  const events = audits().slice(before);
  assert.equal(events.length, 20);
  const seen = events.map((e) => `${String(e.client_id)} ${String(e.outcome)}`).sort();
  assert.deepEqual(seen, [...Array(10).fill('client-alpha ok'), ...Array(10).fill('client-beta user_not_found')]);
  for (const e of events) assert.equal(e.door, undefined);
});

test('a front door names itself, for its verify and for the mark it writes after the match', async () => {
  const before = audits().length;
  const r = await fetch(`${gw.url}/v1/idp/kratos/password-migration`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY },
    body: JSON.stringify({ identifier: 'bob@example.com', password: 'hunter2-but-longer' }),
  });
  assert.equal(r.status, 200);
  await waitFor(() => audits().length >= before + 2);
  const events = audits().slice(before);
  assert.deepEqual(
    events.map((e) => [e.op, e.outcome, e.client_id, e.door]),
    [
      ['verify', 'success', 'door:kratos', 'kratos'],
      ['mark', 'ok', 'door:kratos', 'kratos'],
    ],
  );
});

test('no request is audited as the operator CLI', () => {
  assert.ok(audits().length >= 22);
  assert.deepEqual(
    audits().filter((e) => e.client_id === 'cli'),
    [],
  );
});
