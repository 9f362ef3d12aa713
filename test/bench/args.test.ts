/**
 * The bench scripts' command lines (bench/args.ts), run as a user runs them: --help prints the usage and exits 0;
 * a wrong option or value is one line that names it, the usage, exit 2, and no stack trace. Nothing is seeded.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = (name: string) => fileURLToPath(new URL(`../../bench/${name}.js`, import.meta.url));
const run = (name: string, ...args: string[]) => spawnSync(process.execPath, [script(name), ...args], { encoding: 'utf8', timeout: 30_000 });

describe('bench command lines', () => {
  for (const name of ['lookup', 'verify', 'http-stack', 'export']) {
    test(`${name}: --help prints the usage and exits 0; an unknown option exits 2 naming it, without a stack trace`, () => {
      const help = run(name, '--help');
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`node dist/bench/${name}\\.js \\[--`));
      const bad = run(name, '--no-such-option');
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /^Unknown option '--no-such-option'/);
      assert.match(bad.stderr, new RegExp(`node dist/bench/${name}\\.js`));
      assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  test('a number that is not positive, a count that is not whole, a missing value, an unknown store or log level: exit 2, named', () => {
    const cases: [string, string[], RegExp][] = [
      ['lookup', ['--seconds', 'abc'], /^--seconds: must be a positive number, got "abc"/],
      ['lookup', ['--concurrency', '0'], /^--concurrency: must be a whole number above 0/],
      ['lookup', ['--users', '1.5'], /^--users: must be a whole number above 0, got "1.5"/],
      ['verify', ['--seconds=-1'], /^--seconds: must be a positive number/],
      ['lookup', ['--stores', 'postgres,oracle'], /^--stores: unknown store "oracle"/],
      ['lookup', ['--stores', ','], /^--stores: name at least one store/],
      ['lookup', ['--log-level', 'loud'], /^--log-level: one of/],
      ['verify', ['--samples=-5'], /^--samples: must be a whole number above 0/],
      ['export', ['--users'], /^Option '--users <value>' argument missing/],
    ];
    for (const [name, args, want] of cases) {
      const r = run(name, ...args);
      assert.equal(r.status, 2, `${name} ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});
