/**
 * HashSlots: the bound, abandoned waiters leaving at once and never running, and the order (oldest first, newest
 * first once the oldest is overdue). Checks are promises the test settles by hand: nothing here depends on timing
 * except the one overdue threshold, which the tests set to 0 ms or an hour.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HashSlots, VerificationAbandoned } from '../../../src/passwords/slots.js';

/** A check the test finishes by hand; `started` records the order checks began in. */
function gated(started: string[]) {
  const open = new Map<string, () => void>();
  const check = (name: string) => () =>
    new Promise<string>((resolve) => {
      started.push(name);
      open.set(name, () => resolve(name));
    });
  const finish = async (name: string) => {
    const f = open.get(name);
    assert.ok(f, `${name} has not started`);
    open.delete(name);
    f();
    // Let the finished check's continuation hand its slot over.
    await new Promise((r) => setImmediate(r));
  };
  return { check, finish, running: () => [...open.keys()] };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('HashSlots', () => {
  test('at most `size` checks run at once; the rest wait, and run oldest first while none is overdue', async () => {
    const started: string[] = [];
    const g = gated(started);
    const slots = new HashSlots(2, 3_600_000);
    const all = ['a', 'b', 'c', 'd', 'e'].map((n) => slots.run(g.check(n)));
    await settle();
    assert.deepEqual(started, ['a', 'b']);
    assert.equal(slots.queued, 3);
    await g.finish('a');
    assert.deepEqual(started, ['a', 'b', 'c']);
    await g.finish('b');
    await g.finish('c');
    await g.finish('d');
    await g.finish('e');
    assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(await Promise.all(all), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(slots.queued, 0);
  });

  test('once the oldest waiter is overdue, the newest goes first', async () => {
    const started: string[] = [];
    const g = gated(started);
    const slots = new HashSlots(1, 0);
    const all = ['a', 'b', 'c', 'd'].map((n) => slots.run(g.check(n)));
    await settle();
    await new Promise((r) => setTimeout(r, 2));
    await g.finish('a');
    assert.deepEqual(started, ['a', 'd']);
    await g.finish('d');
    await g.finish('c');
    await g.finish('b');
    assert.deepEqual(started, ['a', 'd', 'c', 'b']);
    await Promise.all(all);
  });

  test('a waiter abandoned while it waits leaves the queue at once, rejects, and its check never runs', async () => {
    const started: string[] = [];
    const g = gated(started);
    const slots = new HashSlots(1, 3_600_000);
    const first = slots.run(g.check('a'));
    const gone = new AbortController();
    const abandoned = slots.run(g.check('b'), gone.signal);
    const third = slots.run(g.check('c'));
    await settle();
    assert.equal(slots.queued, 2);
    gone.abort();
    await assert.rejects(abandoned, VerificationAbandoned);
    assert.equal(slots.queued, 1, 'the abandoned waiter left the queue before any slot was free');
    await g.finish('a');
    await g.finish('c');
    assert.deepEqual(started, ['a', 'c']);
    assert.equal(await first, 'a');
    assert.equal(await third, 'c');
  });

  test('an already-abandoned request never runs, even with a slot free; one abandoned after its start runs to its end', async () => {
    const started: string[] = [];
    const g = gated(started);
    const slots = new HashSlots(1, 3_600_000);
    await assert.rejects(slots.run(g.check('x'), AbortSignal.abort()), VerificationAbandoned);
    assert.deepEqual(started, []);
    const gone = new AbortController();
    const running = slots.run(g.check('a'), gone.signal);
    await settle();
    gone.abort();
    await g.finish('a');
    assert.equal(await running, 'a');
    // The slot came back: the next check starts at once.
    const next = slots.run(g.check('b'));
    await settle();
    assert.deepEqual(started, ['a', 'b']);
    await g.finish('b');
    await next;
  });

  test('a check that throws frees its slot', async () => {
    const slots = new HashSlots(1, 3_600_000);
    await assert.rejects(slots.run(async () => {
      throw new Error('boom');
    }), /boom/);
    assert.equal(await slots.run(async () => 'after'), 'after');
  });

  test('any interleaving of runs, finishes and aborts: never more than `size` running, every check that was not abandoned before its start runs once, none that was', async () => {
    type Op = { kind: 'run'; abandon: boolean } | { kind: 'finish'; pick: number } | { kind: 'abort'; pick: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('run' as const), abandon: fc.boolean() }),
      fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.array(op, { maxLength: 60 }), async (size, lifo, ops) => {
        const slots = new HashSlots(size, lifo ? 0 : 3_600_000);
        let running = 0;
        let peak = 0;
        const finishers = new Map<number, () => void>();
        const controllers: AbortController[] = [];
        const startedIds = new Set<number>();
        const abortedBeforeStart = new Set<number>();
        const outcomes: Promise<unknown>[] = [];
        for (const o of ops) {
          if (o.kind === 'run') {
            const id = controllers.length;
            const c = new AbortController();
            controllers.push(c);
            outcomes.push(
              slots
                .run(
                  () =>
                    new Promise<void>((resolve) => {
                      assert.ok(!startedIds.has(id), 'a check ran twice');
                      startedIds.add(id);
                      running++;
                      peak = Math.max(peak, running);
                      finishers.set(id, () => {
                        running--;
                        resolve();
                      });
                    }),
                  o.abandon ? c.signal : undefined,
                )
                .catch((e) => assert.ok(e instanceof VerificationAbandoned)),
            );
          } else if (o.kind === 'finish' && finishers.size > 0) {
            const id = [...finishers.keys()][o.pick % finishers.size]!;
            finishers.get(id)!();
            finishers.delete(id);
          } else if (o.kind === 'abort' && controllers.length > 0) {
            const id = o.pick % controllers.length;
            if (!startedIds.has(id) && !controllers[id]!.signal.aborted) abortedBeforeStart.add(id);
            controllers[id]!.abort();
          }
          await settle();
        }
        // Drain: finish whatever runs until nothing waits.
        while (finishers.size > 0) {
          for (const [id, f] of [...finishers]) {
            finishers.delete(id);
            f();
          }
          await settle();
        }
        assert.equal(slots.queued, 0, 'nothing waits once every running check has finished');
        assert.equal(slots.active, 0, 'every slot came back');
        await Promise.all(outcomes);
        assert.ok(peak <= size, `peak ${peak} > size ${size}`);
        for (let id = 0; id < controllers.length; id++) {
          // An abort only counts for a run that was given the signal.
          const abandonable = (ops.filter((o) => o.kind === 'run')[id] as { abandon: boolean }).abandon;
          const never = abandonable && abortedBeforeStart.has(id);
          assert.equal(startedIds.has(id), !never, `check ${id}: started ${startedIds.has(id)}, abandoned before its start ${never}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
