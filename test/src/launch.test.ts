/**
 * src/launch.ts: a CommonJS bundle run with V8's code cache. Each run is its own node process (a cache is read once,
 * at start), running a small bundle written here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUNDLE_V8_FLAGS, bundleV8Flags, cacheFileFor } from '../../src/launch.js';

const LAUNCH = fileURLToPath(new URL('../../src/launch.js', import.meta.url));

/** A bundle-like CommonJS file: a shebang, a require relative to itself and of a builtin, and a value it prints. */
function bundleText(value: string): string {
  return [
    '#!/usr/bin/env node',
    "const dep = require('./dep.cjs');",
    'async function main() {',
    "  const os = await Promise.resolve().then(() => require('node:os'));",
    `  console.log(JSON.stringify({ value: ${JSON.stringify(value)}, dep, file: __filename, dir: __dirname, eol: os.EOL === '\\n' }));`,
    '}',
    'main();',
    '',
  ].join('\n');
}

/** Run `file` through runBundle in a fresh process that lives long enough for the cache to be written. */
function launch(file: string): { out: { value: string; dep: string; file: string; dir: string; eol: boolean }; launched: { cacheFile: string; cacheUsed: boolean } } {
  const script = `import { runBundle } from ${JSON.stringify(LAUNCH)};
    const launched = runBundle(process.argv[1], 20);
    setTimeout(() => console.log(JSON.stringify(launched)), 200);`;
  const lines = execFileSync(process.execPath, ['--input-type=module', '-e', script, file], { encoding: 'utf8' }).trim().split('\n');
  return { out: JSON.parse(lines[0]!), launched: JSON.parse(lines[1]!) };
}

const caches = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.v8-cache'));

describe('runBundle: a CommonJS bundle with its V8 code cache', () => {
  let dir: string;
  let file: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'lg-launch-'));
    file = path.join(dir, 'app.cjs');
    writeFileSync(path.join(dir, 'dep.cjs'), "module.exports = 'beside the bundle';\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the first run compiles and writes the cache beside the bundle; the next run takes it; the code runs as under node', () => {
    writeFileSync(file, bundleText('one'));
    const first = launch(file);
    assert.deepEqual(first.out, { value: 'one', dep: 'beside the bundle', file, dir, eol: true });
    assert.equal(first.launched.cacheUsed, false);
    assert.equal(path.dirname(first.launched.cacheFile), dir, 'beside the bundle, never in a shared directory');
    assert.ok(existsSync(first.launched.cacheFile), 'written once the process had run for a while');
    assert.deepEqual(caches(dir), [path.basename(first.launched.cacheFile)], 'no temporary file left');
    const second = launch(file);
    assert.equal(second.launched.cacheUsed, true);
    assert.deepEqual(second.out, first.out);
  });

  test('a rebuilt bundle of the SAME length never meets the old cache (V8 alone would take it)', () => {
    writeFileSync(file, bundleText('one'));
    launch(file);
    const old = launch(file);
    assert.equal(old.launched.cacheUsed, true);
    writeFileSync(file, bundleText('two'));
    assert.equal(readFileSync(file, 'utf8').length, bundleText('one').length);
    const rebuilt = launch(file);
    assert.equal(rebuilt.out.value, 'two', 'the new code ran');
    assert.equal(rebuilt.launched.cacheUsed, false);
    assert.notEqual(rebuilt.launched.cacheFile, old.launched.cacheFile);
  });

  test('a damaged cache is rejected by V8: the bundle compiles, runs, and the cache is written anew', () => {
    writeFileSync(file, bundleText('three'));
    const cacheFile = cacheFileFor(file);
    writeFileSync(cacheFile, Buffer.alloc(4096, 7));
    const r = launch(file);
    assert.equal(r.out.value, 'three');
    assert.equal(r.launched.cacheFile, cacheFile);
    assert.equal(r.launched.cacheUsed, false);
    assert.equal(launch(file).launched.cacheUsed, true, 'the rewritten cache is taken');
  });

  test('a cache damaged inside (where V8 does not look) is refused by its hash, removed and written anew: no crash', () => {
    // A bundle with some code in it, so that V8's data has a body to damage.
    const fns = Array.from({ length: 300 }, (_, i) => `function f${i}(a) { return a.map((x) => x * ${i} + ${i}).filter((x) => x % 7 !== ${i % 7}).length; }`);
    writeFileSync(file, `${bundleText('five')}${fns.join('\n')}\nlet total = 0;\n${fns.map((_, i) => `total += f${i}([1, 2, 3]);`).join('\n')}\n`);
    const first = launch(file);
    assert.equal(first.launched.cacheUsed, false);
    const sound = readFileSync(first.launched.cacheFile);
    assert.ok(sound.length > 8192, `a cache with a body (${sound.length} bytes)`);
    for (const at of [0.25, 0.5, 0.75]) {
      const damaged = Buffer.from(sound);
      const offset = Math.floor(damaged.length * at);
      for (let i = offset; i < offset + 64; i++) damaged[i] = damaged[i]! ^ 0xa5;
      writeFileSync(first.launched.cacheFile, damaged);
      const r = launch(file);
      assert.equal(r.out.value, 'five', `ran with the cache damaged at ${at}`);
      assert.equal(r.launched.cacheUsed, false);
      assert.deepEqual(readFileSync(r.launched.cacheFile).length > 8192, true, 'written anew');
      assert.equal(launch(file).launched.cacheUsed, true, 'the new one is taken');
    }
  });

  test('where the cache cannot be written, every run compiles, and nothing fails', () => {
    writeFileSync(file, bundleText('four'));
    // A directory where the cache file would go (as root, a read-only mode would not stop the write).
    const cacheFile = cacheFileFor(file);
    mkdirSync(cacheFile);
    for (let i = 0; i < 2; i++) {
      const r = launch(file);
      assert.equal(r.out.value, 'four');
      assert.equal(r.launched.cacheUsed, false);
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  });

  test('the bundle runs with BUNDLE_V8_FLAGS: after a full collection the old generation may grow by their factor, not V8\'s own', () => {
    const percent = Number(/^--heap-growing-percent=(\d+)$/.exec(BUNDLE_V8_FLAGS.find((f) => f.startsWith('--heap-growing-percent=')) ?? '')?.[1]);
    assert.ok(percent > 0, `BUNDLE_V8_FLAGS sets --heap-growing-percent: ${BUNDLE_V8_FLAGS.join(' ')}`);
    const gcFile = path.join(dir, 'collects.cjs');
    writeFileSync(gcFile, 'const kept = []; for (let i = 0; i < 100000; i++) kept.push({ i }); gc(); gc(); console.log(kept.length);\n');
    // V8 prints each new old-generation limit with the factor it used: "[HeapController] Limit: old size: ..., new limit: ... (4.0)".
    const factors = (args: string[]) =>
      execFileSync(process.execPath, ['--expose-gc', '--trace-gc-verbose', ...args], { encoding: 'utf8' })
        .split('\n')
        .flatMap((line) => (line.includes('[HeapController] Limit:') ? [/\((\d+\.\d+)\)\s*$/.exec(line)?.[1]] : []));
    const viaRunBundle = ['--input-type=module', '-e', `import { runBundle } from ${JSON.stringify(LAUNCH)}; runBundle(process.argv[1], 60000);`, gcFile];
    const launched = factors(viaRunBundle);
    const plain = factors([gcFile]);
    const expected = (1 + percent / 100).toFixed(1);
    assert.ok(launched.length >= 2, 'a limit after each collection');
    assert.deepEqual(new Set(launched), new Set([expected]), 'through runBundle');
    assert.ok(plain.length >= 2 && !plain.includes(expected), `run by node alone, V8 picks its own factor (${plain.join(', ')}): the test can tell the two apart`);
    const operators = percent === 100 ? 200 : 100;
    assert.deepEqual(new Set(factors([`--heap_growing_percent=${operators}`, ...viaRunBundle])), new Set([(1 + operators / 100).toFixed(1)]), "an operator's own flag stands");
  });

  test('bundleV8Flags: every flag of BUNDLE_V8_FLAGS but those that node\'s command line names, however spelt', () => {
    assert.deepEqual(bundleV8Flags([]), BUNDLE_V8_FLAGS);
    assert.deepEqual(bundleV8Flags(['--max-old-space-size=512', '--expose-gc', '--heap-growing']), BUNDLE_V8_FLAGS, 'other flags, and a name that only begins alike');
    for (const flag of BUNDLE_V8_FLAGS) {
      const name = flag.split('=')[0]!;
      for (const own of [[`${name}=7`], [name.replaceAll('-', '_').replace(/^__/, '--') + '=7'], [name, '7']]) {
        assert.ok(!bundleV8Flags(own).includes(flag), `${own.join(' ')} stands`);
      }
    }
  });
});
