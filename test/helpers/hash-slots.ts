/**
 * Holding the gateway's hash slots from a test: every slot runs a bcrypt verification of the test's own, held at a
 * gate, so that the next password check waits for a slot. bcrypt's verify is spied on (mock.method: restore it in
 * afterEach); the gate opens after the test however it ends, so a failure never holds the next test's slots.
 */
import assert from 'node:assert/strict';
import { mock, type TestContext } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { compilePolicy, getScheme, HASH_SLOTS, verifyWith } from '../../src/passwords/index.js';

/** Wait (at most 5 s) until `cond` holds. */
export async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

const FILLER_HASH = hashSync('filler', 4);

export async function holdHashSlots(t: TestContext) {
  const bcrypt = getScheme('bcrypt')!;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const real = bcrypt.verify.bind(bcrypt);
  const spy = mock.method(bcrypt, 'verify', async (...args: Parameters<typeof bcrypt.verify>) => {
    await gate;
    return real(...args);
  });
  t.after(open);
  const ctx = { row: {}, params: compilePolicy({ scheme: 'auto', params: {} }).params };
  const fillers = Array.from({ length: HASH_SLOTS }, () => verifyWith(bcrypt, 'filler', FILLER_HASH, ctx));
  await until(() => spy.mock.callCount() === HASH_SLOTS, 'the fillers hold every slot');
  return {
    /** bcrypt verifications started beyond the fillers. */
    others: () => spy.mock.callCount() - HASH_SLOTS,
    /** Open the gate and wait for the fillers: their slots are handed on, synchronously, to whatever waits. */
    release: async () => {
      open();
      assert.deepEqual(await Promise.all(fillers), Array(HASH_SLOTS).fill(true));
      await new Promise((r) => setImmediate(r));
    },
  };
}
