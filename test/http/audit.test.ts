/**
 * Who the audit events name, through the HTTP API: a /v1 request's events name the token's client (two clients'
 * requests held in flight together), for every /v1 use case; a front door's name the door, including the mark it
 * writes after a match; "via" tells an API client, a door and the operator CLI apart, whatever the client id reads.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { UserStore } from '../../adapters/types.js';
import { call, startTestGateway, wrapStore, type TestGateway } from '../helpers/harness.js';

const KEY = 'kratos-hook-key-audit-0123456789';
let gw: TestGateway;
/** Every store lookup waits this long, so that concurrent requests really are in flight together. */
let lookupDelayMs = 0;

before(async () => {
  gw = await startTestGateway({
    config: { front_doors: { kratos: { auth: { header: { name: 'X-Api-Key', value: KEY } }, mark_on_success: true } }, log: { audit_key: 'audit-key-0123456789-abcdefghij' } },
    wrapStore: (s) =>
      wrapStore(s, {
        findCandidates: (real: UserStore) => async (login: string) => {
          if (lookupDelayMs) await new Promise((r) => setTimeout(r, lookupDelayMs));
          return real.findCandidates(login);
        },
      }),
  });
});
after(async () => gw?.close());

const audits = () => gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.name === 'audit');

/** The audit events written while `fn` runs (and up to 2 s after, until `count` have arrived). */
async function eventsOf(count: number, fn: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const from = audits().length;
  await fn();
  for (let i = 0; i < 100 && audits().length < from + count; i++) await new Promise((r) => setTimeout(r, 20));
  const events = audits().slice(from);
  assert.equal(events.length, count);
  assert.deepEqual(events.filter((e) => e.via !== 'api' && e.via !== 'door'), [], 'no request is audited as the operator CLI');
  return events;
}

test("/v1 events name the token's client, with two clients' requests in flight together", async () => {
  const alpha = await gw.issuer.mint({ azp: 'client-alpha', sub: 'client-alpha@clients' });
  const beta = await gw.issuer.mint({ azp: 'client-beta', sub: 'client-beta@clients' });
  lookupDelayMs = 30;
  try {
    const events = await eventsOf(20, async () => {
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
    });
    const seen = events.map((e) => `${String(e.via)} ${String(e.client_id)} ${String(e.outcome)}`).sort();
    assert.deepEqual(seen, [...Array(10).fill('api client-alpha ok'), ...Array(10).fill('api client-beta user_not_found')]);
    for (const e of events) assert.equal(e.door, undefined);
  } finally {
    lookupDelayMs = 0;
  }
});

test('every /v1 use case names the client; a client id that reads "cli" or "door:kratos" is still via "api"', async () => {
  for (const client of ['client-gamma', 'cli', 'door:kratos']) {
    const token = await gw.issuer.mint({ azp: client, sub: `${client}@clients` });
    const events = await eventsOf(5, async () => {
      assert.equal((await call(gw.url, 'POST', '/v1/credentials/verify', { token, body: { login: 'bob', password: 'hunter2-but-longer' } })).status, 200);
      assert.equal((await call(gw.url, 'GET', '/v1/users/legacy%7C2', { token })).status, 200);
      assert.equal((await call(gw.url, 'PUT', '/v1/users/legacy%7C2/migration', { token })).status, 200);
      assert.equal((await call(gw.url, 'DELETE', '/v1/users/legacy%7C2/migration', { token })).status, 204);
      assert.equal((await call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login: 'bob' } })).status, 200);
    });
    assert.deepEqual(
      events.map((e) => [e.op, e.outcome, e.via, e.client_id, e.door]),
      ['verify', 'get', 'mark', 'unmark', 'lookup'].map((op) => [op, op === 'verify' ? 'success' : 'ok', 'api', client, undefined]),
    );
  }
});

test('a front door names itself, for its verify and for the mark it writes after the match', async () => {
  const events = await eventsOf(2, async () => {
    const r = await fetch(`${gw.url}/v1/idp/kratos/password-migration`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({ identifier: 'bob@example.com', password: 'hunter2-but-longer' }),
    });
    assert.equal(r.status, 200);
  });
  assert.deepEqual(
    events.map((e) => [e.op, e.outcome, e.via, e.client_id, e.door]),
    [
      ['verify', 'success', 'door', 'door:kratos', 'kratos'],
      ['mark', 'ok', 'door', 'door:kratos', 'kratos'],
    ],
  );
});
