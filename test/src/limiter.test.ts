import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { limiterKey, MemoryLoginLimiter, redisKeyDigest } from '../../src/limiter.js';

describe('MemoryLoginLimiter (reserve before verifying)', () => {
  test('max attempts are reserved, the next one waits for the rest of the window', async () => {
    const l = new MemoryLoginLimiter(3, 60);
    for (let i = 0; i < 3; i++) assert.equal(await l.take('alice'), 0, `attempt ${i + 1} of 3 is allowed`);
    const wait = await l.take('alice');
    assert.ok(wait > 0 && wait <= 60, `4th attempt must wait, got ${wait}`);
    assert.ok(wait >= 59, `the wait is what is left of the window, got ${wait}`);
  });

  test('max = 1: the first attempt is allowed, the second is not', async () => {
    const l = new MemoryLoginLimiter(1, 30);
    assert.equal(await l.take('k'), 0);
    assert.ok((await l.take('k')) > 0);
  });

  test('a burst of concurrent attempts gets exactly max through', async () => {
    const l = new MemoryLoginLimiter(3, 60);
    const results = await Promise.all(Array.from({ length: 20 }, () => l.take('burst')));
    assert.equal(results.filter((w) => w === 0).length, 3, `allowed: ${results.join(',')}`);
  });

  test('reset() gives the key its whole budget back (after a success)', async () => {
    const l = new MemoryLoginLimiter(2, 60);
    await l.take('bob');
    await l.take('bob');
    assert.ok((await l.take('bob')) > 0);
    await l.reset('bob');
    assert.equal(await l.take('bob'), 0);
    assert.equal(await l.take('bob'), 0);
    assert.ok((await l.take('bob')) > 0, 'and counts again from zero');
  });

  test('refund() gives back exactly one reservation (an attempt the store could not check)', async () => {
    const l = new MemoryLoginLimiter(2, 60);
    await l.take('carol');
    await l.take('carol');
    await l.refund('carol');
    assert.equal(await l.take('carol'), 0);
    assert.ok((await l.take('carol')) > 0);
  });

  test('a refund that finds nothing held (after a success, or once the window has ended) gives nothing: the count never goes below zero', async () => {
    const l = new MemoryLoginLimiter(2, 1);
    assert.equal(await l.take('erin'), 0);
    await l.reset('erin');
    await l.refund('erin');
    await l.refund('erin');
    assert.deepEqual([await l.take('erin'), await l.take('erin')], [0, 0]);
    assert.ok((await l.take('erin')) > 0, 'still max 2 after refunds that found nothing to give back');
    await sleep(1100);
    await l.refund('erin');
    assert.deepEqual([await l.take('erin'), await l.take('erin')], [0, 0]);
    assert.ok((await l.take('erin')) > 0, 'a refund after the window ended added nothing to the next one');
  });

  test('keys are independent, and login and account keys never collide', async () => {
    const l = new MemoryLoginLimiter(1, 60);
    assert.equal(await l.take(limiterKey.login('1')), 0);
    assert.ok((await l.take(limiterKey.login('1'))) > 0);
    assert.equal(await l.take(limiterKey.account('1')), 0, 'account 1 is not the login "1"');
    assert.equal(await l.take('other'), 0);
  });

  test('the lockout ends with the window', async () => {
    const l = new MemoryLoginLimiter(1, 1);
    assert.equal(await l.take('dave'), 0);
    assert.ok((await l.take('dave')) > 0);
    await sleep(1100);
    assert.equal(await l.take('dave'), 0);
  });
});

describe('redisKeyDigest: how a limiter key is stored in Redis', () => {
  test('with a secret, HMAC-SHA-256 (never the unkeyed digest one hash of a guessed login would confirm); without, SHA-256', () => {
    const key = limiterKey.login('alice@example.com');
    const keyed = redisKeyDigest(key, 'a-shared-secret-of-some-length');
    assert.equal(keyed, createHmac('sha256', 'a-shared-secret-of-some-length').update(key).digest('base64url'));
    assert.notEqual(keyed, createHash('sha256').update(key).digest('base64url'));
    assert.notEqual(keyed, redisKeyDigest(key, 'another-secret-of-some-length'), 'the secret matters');
    assert.equal(redisKeyDigest(key, 'a-shared-secret-of-some-length'), keyed, 'the same on every replica');
    assert.equal(redisKeyDigest(key, undefined), createHash('sha256').update(key).digest('base64url'));
    assert.match(keyed, /^[A-Za-z0-9_-]{43}$/);
  });
});
