/**
 * src/idlegc.ts: one full collection once the process has been idle for a while after its heap grew.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { collectWhenIdle, exposedGc } from '../../src/idlegc.js';

const MB = 1048576;
const IDLEGC = fileURLToPath(new URL('../../src/idlegc.js', import.meta.url));

/**
 * A collector on a fake process: `cpu`, `heap` and `young` are what it reads. Each tick is 20 ms; idle after 200 ms;
 * a retry 100 ms after a collection that left the young generation grown (above 4 MB: it starts at 1 MB).
 * `shrinkAt`: the collection (1st, 2nd, ...) that gives the young generation back.
 */
function fake(options: { shrinkAt?: number } = {}) {
  const state = { cpu: 0, heap: 40 * MB, young: 1 * MB, collected: 0 };
  const collector = collectWhenIdle({
    intervalMs: 20,
    idleMs: 200,
    retryMs: 100,
    maxPerIdle: 3,
    idleCpuShare: 0.02,
    minGrowthBytes: 8 * MB,
    cpuMicros: () => state.cpu,
    heap: () => ({ committed: state.heap, young: state.young }),
    collect: () => {
      state.collected++;
      if (state.collected >= (options.shrinkAt ?? 1)) state.young = 1 * MB;
      state.heap = 42 * MB + state.young;
    },
  });
  return { state, collector };
}

/** Waits until `ok()` holds (ticks can be late on a busy machine), at most 3 s. */
async function until(ok: () => boolean) {
  const end = Date.now() + 3000;
  while (!ok() && Date.now() < end) await sleep(10);
}

/** Keeps the fake process busy (half a core) for `ms`. */
async function busyFor(state: { cpu: number }, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    state.cpu += 5000; // 5 ms of CPU every 10 ms
    await sleep(10);
  }
}

describe('collectWhenIdle', () => {
  test('collects once after a load, only when the process has been idle for idleMs, and not again until the heap grows again', async () => {
    const { state, collector } = fake();
    try {
      state.heap = 80 * MB; // a load grew the heap
      state.young = 32 * MB;
      await busyFor(state, 200);
      assert.equal(state.collected, 0, 'never while busy');
      await sleep(30);
      assert.equal(state.collected, 0, 'not before idleMs of idleness');
      await until(() => state.collected > 0);
      assert.equal(state.collected, 1, 'once idle for idleMs');
      assert.equal(collector.collections, 1);
      await sleep(150);
      assert.equal(state.collected, 1, 'the heap has not grown since: no second collection');
      state.heap = 60 * MB; // a second load
      await busyFor(state, 100);
      await until(() => state.collected > 1);
      assert.equal(state.collected, 2);
    } finally {
      collector.stop();
    }
  });

  test('while the young generation stays grown, collects again retryMs later, at most maxPerIdle times in one idle stretch', async () => {
    const { state, collector } = fake({ shrinkAt: 2 });
    try {
      state.heap = 80 * MB;
      state.young = 32 * MB;
      await until(() => state.collected > 0);
      assert.equal(state.young, 32 * MB, 'the first, once idle, left it grown');
      await sleep(50);
      assert.equal(state.collected, 1, 'the next one waits retryMs');
      await until(() => state.collected > 1);
      assert.equal(state.young, 1 * MB, 'a second one gave the young generation back');
      await sleep(250);
      assert.equal(state.collected, 2, 'nothing left to give back: no third');
    } finally {
      collector.stop();
    }
    const never = fake({ shrinkAt: Infinity });
    try {
      never.state.heap = 80 * MB;
      never.state.young = 32 * MB;
      await until(() => never.state.collected >= 3);
      await sleep(300);
      assert.equal(never.state.collected, 3, 'a young generation V8 keeps: maxPerIdle collections, then none');
      await busyFor(never.state, 60);
      await until(() => never.state.collected > 3);
      assert.equal(never.state.collected, 4, 'maxPerIdle counts one idle stretch: after a busy spell it may collect again');
    } finally {
      never.collector.stop();
    }
  });

  test('a busy interval in the middle of an idle stretch starts the count again', async () => {
    const { state, collector } = fake();
    try {
      state.heap = 80 * MB;
      for (let i = 0; i < 8; i++) {
        await sleep(40); // two idle ticks: less than idleMs
        state.cpu += 20000; // then a busy one (20 ms of CPU in a 20 ms tick)
      }
      assert.equal(state.collected, 0);
    } finally {
      collector.stop();
    }
  });

  test('an idle process whose heap has not grown by minGrowthBytes is left alone', async () => {
    const { state, collector } = fake();
    try {
      state.heap = 47 * MB; // 7 MB of growth
      await sleep(300);
      assert.equal(state.collected, 0);
      state.heap = 49 * MB;
      await until(() => state.collected > 0);
      assert.equal(state.collected, 1);
    } finally {
      collector.stop();
    }
  });

  test('stop() ends it', async () => {
    const { state, collector } = fake();
    collector.stop();
    state.heap = 200 * MB;
    await sleep(200);
    assert.equal(state.collected, 0);
  });
});

describe('exposedGc', () => {
  test('returns the V8 collector without leaving a gc global in this context or in contexts made afterwards', () => {
    const gc = exposedGc();
    assert.equal(typeof gc, 'function');
    gc!();
    assert.equal((globalThis as { gc?: unknown }).gc, undefined);
    assert.equal(vm.runInNewContext('typeof gc'), 'undefined');
  });

  test('a real process gives its young generation back once idle after a storm of allocations', async () => {
    // A child node: 3 s of allocation grows the young generation to its maximum; then it idles with the collector.
    const script = `import v8 from 'node:v8';
import { collectWhenIdle } from ${JSON.stringify(IDLEGC)};
const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const collector = collectWhenIdle({ intervalMs: 500 });
let keep = [];
const end = Date.now() + 3000;
while (Date.now() < end) {
  for (let i = 0; i < 20000; i++) { const o = { a: i, b: 'x' + i, c: [i] }; if (i % 50 === 0) keep.push(o); if (keep.length > 20000) keep = []; }
  await new Promise((r) => setTimeout(r, 0));
}
keep = [];
const before = young();
const waitUntil = Date.now() + 30000;
while (young() === before && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 250));
console.log(JSON.stringify({ before, after: young(), collections: collector.collections }));
collector.stop();`;
    const p = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise((resolve) => p.on('close', resolve));
    assert.equal(code, 0);
    const r = JSON.parse(out) as { before: number; after: number; collections: number };
    assert.ok(r.collections >= 1 && r.collections <= 3, `collections: ${r.collections}`);
    assert.ok(r.before >= 8 * MB, `the storm grew the young generation (${r.before / MB} MB)`);
    assert.ok(r.after <= r.before / 4, `given back: ${r.before / MB} -> ${r.after / MB} MB`);
  });
});
