/**
 * The lookup benchmark's arithmetic (bench/measure.ts): what one configuration's stretches add up to, and the order
 * in which configurations take turns.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { alternate, measured, percentile, type Stretch } from '../../bench/measure.js';

const stretch = (over: Partial<Stretch>): Stretch => ({ ok: 0, bad: 0, duration: 1, lat: [], cpuUs: 0, syscalls: 0, rssMb: 100, heapMb: 50, ...over });

describe('bench measure', () => {
  test('percentile: nearest rank; NaN for no values', () => {
    const s = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(percentile(s, 50), 5);
    assert.equal(percentile(s, 95), 10);
    assert.equal(percentile(s, 10), 1);
    assert.equal(percentile(s, 0), 1);
    assert.ok(Number.isNaN(percentile(new Float64Array(), 50)));
  });

  test('measured: rate over the total time, per-request CPU and system calls over all requests, memory as the last stretch left it', () => {
    const m = measured([
      stretch({ ok: 100, bad: 0, duration: 1, lat: Array(100).fill(1), cpuUs: 10_000, syscalls: 400, rssMb: 120, heapMb: 60 }),
      stretch({ ok: 290, bad: 10, duration: 3, lat: Array(300).fill(9), cpuUs: 30_000, syscalls: 1200, rssMb: 90, heapMb: 30 }),
    ]);
    assert.equal(m.rps, 390 / 4, 'successes over the total duration, not the mean of the stretches\' rates');
    assert.equal(m.ok, 390);
    assert.equal(m.bad, 10);
    assert.equal(m.cpuUsPerReq, 40_000 / 400);
    assert.equal(m.syscallsPerReq, 1600 / 400);
    assert.equal(m.rssMb, 90);
    assert.equal(m.heapMb, 30);
    // Percentiles over all 400 latencies: 100 of 1 ms, 300 of 9 ms.
    assert.equal(m.p50, 9);
    assert.equal(m.p99, 9);
    assert.equal(measured([stretch({ lat: [1, 2, 3, 4] }), stretch({ lat: [100] })]).p95, 100);
  });

  test('measured: a figure one stretch lacks is unknown for the whole (null), never a partial sum', () => {
    const m = measured([stretch({ ok: 10, syscalls: 40 }), stretch({ ok: 10, syscalls: null, cpuUs: null, rssMb: null })]);
    assert.equal(m.syscallsPerReq, null);
    assert.equal(m.cpuUsPerReq, null);
    assert.equal(m.rssMb, null);
    assert.equal(measured([stretch({ ok: 0, bad: 0 })]).cpuUsPerReq, null, 'no requests: no per-request figure');
    assert.throws(() => measured([]), /no stretches/);
  });

  test('alternate: rounds in the same order, each turn seconds/rounds long, each configuration over its own turns', async () => {
    const order: string[] = [];
    const turn = (k: string, ok: number) => async (s: number) => {
      order.push(`${k}${s}`);
      return stretch({ ok, duration: s });
    };
    const r = await alternate([['a', turn('a', 10)], ['b', turn('b', 20)], ['c', turn('c', 30)]], 8, 4);
    assert.deepEqual(order, ['a2', 'b2', 'c2', 'a2', 'b2', 'c2', 'a2', 'b2', 'c2', 'a2', 'b2', 'c2']);
    assert.deepEqual(Object.keys(r).sort(), ['a', 'b', 'c']);
    assert.equal(r.a.ok, 40);
    assert.equal(r.b.rps, 80 / 8);
    assert.equal(r.c.ok, 120);
  });
});
