/**
 * `legacy-gateway check` with limits.redis_url, against the real Redis: one limiter round trip when it answers; when
 * it does not (closed port, TLS against a plain port, a wrong ACL password, an ACL user without the limiter's
 * commands), a FAILED line with the code and a hint, exit 1, the store still checked, and never the URL's password.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { runCheck } from '../../src/check.js';
import { parseConfig } from '../../src/config.js';
import { createDemoDatabase } from '../../src/demo.js';
import { availability, closedPort, env, uniqueName } from '../helpers/databases.js';
import { testStore } from '../helpers/store-config.js';

const skip = await availability('redis');
const SECRET = `Pw-${uniqueName('s3cret')}`;

describe('check: the limiter\'s Redis', { skip }, () => {
  let dir: string;
  let db: string;
  let admin: Redis;
  const aclUser = uniqueName('lg_check');
  const prefix = uniqueName('lgcheck');

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lg-check-redis-'));
    db = path.join(dir, 'legacy.sqlite');
    createDemoDatabase(db);
    admin = new Redis(env.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await admin.connect();
  });
  after(async () => {
    await admin.call('ACL', 'DELUSER', aclUser).catch(() => {});
    await admin.call('ACL', 'DELUSER', `${aclUser}_ping`).catch(() => {});
    admin.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  async function check(redisUrl: string, policy = 'fail_closed') {
    const config = parseConfig(
      {
        auth: { issuer: 'https://issuer.example/', audience: 'aud' },
        store: testStore('sqlite', db),
        limits: { redis_url: redisUrl, redis: { policy, timeout_ms: 500, key_prefix: prefix } },
      },
      {},
    );
    let text = '';
    const out = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } });
    const code = await runCheck(config, out);
    assert.ok(!text.includes(SECRET), 'the URL\'s password is never printed');
    assert.match(text, /^connection: ok$/m, 'the store is checked whatever Redis says');
    return { code, text };
  }

  test('a reachable Redis: ok, with the policy, and nothing left under the prefix', async () => {
    const { code, text } = await check(env.redisUrl);
    assert.equal(code, 0, text);
    assert.match(text, /^limiter: ok \(Redis at redis:\/\/[^ ]+: PING and one limiter round trip in \d+ ms; policy fail_closed\)$/m);
    assert.deepEqual(await admin.keys(`${prefix}*`), []);
  });

  test('a closed port: FAILED, ECONNREFUSED, what the policy would do, exit 1', async () => {
    const port = await closedPort();
    const closed = await check(`redis://:${SECRET}@127.0.0.1:${port}/0`);
    assert.equal(closed.code, 1);
    assert.match(closed.text, new RegExp(`^limiter: FAILED \\(Redis at redis://127\\.0\\.0\\.1:${port}: ECONNREFUSED: nothing listens at that host and port\\)$`, 'm'));
    assert.match(closed.text, /503 limiter_unavailable/);
    const open = await check(`redis://127.0.0.1:${port}`, 'fail_open');
    assert.equal(open.code, 1);
    assert.match(open.text, /each replica would count failed logins on its own/);
  });

  test('a database number the server does not have: FAILED, not a round trip quietly run in database 0', async () => {
    const u = new URL(env.redisUrl);
    const { code, text } = await check(`redis://${u.hostname}:${u.port || 6379}/9999`);
    assert.equal(code, 1, text);
    assert.match(text, /^limiter: FAILED \(Redis at redis:\/\/[^ ]+: ERR_DB_INDEX: the database number in the URL's path does not exist on this server/m);
  });

  test('rediss:// against a plain Redis: FAILED with the TLS hint', async () => {
    const u = new URL(env.redisUrl);
    const { code, text } = await check(`rediss://${u.hostname}:${u.port || 6379}`);
    assert.equal(code, 1);
    assert.match(text, /^limiter: FAILED \(Redis at rediss:\/\/.*(rediss:\/\/ against a plain port|TLS)/m);
  });

  test('a wrong ACL password: WRONGPASS; an ACL user without the limiter\'s commands: NOPERM', async () => {
    await admin.call('ACL', 'SETUSER', aclUser, 'on', `>${SECRET}`, '~*', '+@all');
    await admin.call('ACL', 'SETUSER', `${aclUser}_ping`, 'on', `>${SECRET}`, '~*', '+ping');
    const u = new URL(env.redisUrl);
    const host = `${u.hostname}:${u.port || 6379}`;
    const wrong = await check(`redis://${aclUser}:${SECRET}x@${host}`);
    assert.equal(wrong.code, 1);
    assert.match(wrong.text, /^limiter: FAILED \(Redis at redis:\/\/[^ ]+: WRONGPASS: the password \(or ACL user\) in the URL is wrong or missing\)$/m);
    const right = await check(`redis://${aclUser}:${SECRET}@${host}`);
    assert.equal(right.code, 0, right.text);
    const pingOnly = await check(`redis://${aclUser}_ping:${SECRET}@${host}`);
    assert.equal(pingOnly.code, 1);
    assert.match(pingOnly.text, /^limiter: FAILED \(Redis at redis:\/\/[^ ]+: NOPERM: this ACL user may not run the limiter's commands/m);
  });
});
