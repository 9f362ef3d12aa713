/**
 * GET /v1/migration/status is the report `legacy-gateway status --json` prints, built by the same code: after marks
 * written through the API, both give the same numbers, per day, running total and checklist (all but as_of), and the
 * keys of the first version of the endpoint are still there.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { run } from '../../src/operations/status.js';
import { call, startTestGateway, TEST_USERS, type TestGateway } from '../helpers/harness.js';

describe('GET /v1/migration/status', () => {
  let gw: TestGateway;
  let token: string;
  before(async () => {
    gw = await startTestGateway();
    token = await gw.token('read:migration migrate:users');
  });
  after(async () => gw?.close());

  const status = async () => {
    const r = await call(gw.url, 'GET', '/v1/migration/status', { token });
    assert.equal(r.status, 200, r.text);
    return r.json;
  };

  test('before any mark: everyone remains; the first version\'s keys are there', async () => {
    const s = await status();
    for (const k of ['total', 'migrated', 'remaining', 'percent_migrated', 'as_of']) assert.ok(k in s, k);
    assert.equal(s.total, TEST_USERS.length);
    assert.equal(s.migrated, 0);
    assert.deepEqual(s.per_day, []);
    assert.equal(s.decommission.ready, false);
    assert.equal(s.drain, false);
    assert.ok(Math.abs(Date.parse(s.as_of) - Date.now()) < 60_000);
  });

  test('marks written through the API show today, in the running total and the percentages', async () => {
    for (const id of ['legacy%7C1', 'legacy%7C2', 'legacy%7C3']) {
      assert.equal((await call(gw.url, 'PUT', `/v1/users/${id}/migration`, { token })).status, 200);
    }
    const s = await status();
    const today = new Date().toISOString().slice(0, 10);
    assert.equal(s.migrated, 3);
    assert.deepEqual(s.per_day, [{ day: today, count: 3 }]);
    assert.deepEqual(s.cumulative, [{ day: today, migrated: 3 }]);
    assert.equal(s.percent_migrated, Math.round((3 / TEST_USERS.length) * 10_000) / 100);
    assert.equal(s.percent.migrated, s.percent_migrated);
    assert.equal(s.remaining, TEST_USERS.length - 3 - (s.exported ?? 0));
  });

  test('the same report as `legacy-gateway status --json` on the same store', async () => {
    const file = path.join(path.dirname(gw.dbFile), 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        auth: { issuer: 'https://issuer.test/', audience: 'https://legacy-gateway.test' },
        store: { ...gw.config.store },
      }),
    );
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (b: Buffer) => chunks.push(b));
    assert.equal(await run(['--json', '--config', file], { stdout, stderr: new PassThrough(), env: {} }), 0);
    const cli = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const api = await status();
    assert.deepEqual(Object.keys(api), Object.keys(cli));
    assert.deepEqual({ ...api, as_of: null }, { ...cli, as_of: null });
  });
});
