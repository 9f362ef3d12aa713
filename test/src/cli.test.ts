/** The `legacy-gateway` executable behaves like a CLI: help for every command, usage errors, a closed pipe. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const run = promisify(execFile);
const env = { PATH: process.env.PATH ?? '' };

async function cli(args: string[]) {
  try {
    const r = await run(process.execPath, [MAIN, ...args], { env, timeout: 20_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

const COMMANDS = ['serve', 'demo', 'check', 'hash', 'status', 'audit', 'export', 'import', 'reconcile', 'dev-issuer'];
/** A flag each command's help must name (its own, not only --config). */
const OPTION: Record<string, string> = {
  serve: '--config', demo: '--port', check: '--config', hash: 'identify', status: '--html', audit: '--require-username',
  export: '--max-bytes', import: '--poll-interval-ms', reconcile: '--dry-run', 'dev-issuer': '--scopes',
};

describe('help', () => {
  for (const flag of ['--help', '-h', 'help']) {
    test(`legacy-gateway ${flag} lists every command, exit 0`, async () => {
      const r = await cli([flag]);
      assert.equal(r.code, 0, r.stderr);
      for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`legacy-gateway ${c}\\b`), `${c} missing`);
      assert.match(r.stdout, /Example:/);
    });
  }

  test('no command at all prints the usage and exits 2', async () => {
    const r = await cli([]);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /Usage:/);
  });

  for (const c of COMMANDS) {
    test(`legacy-gateway ${c} --help: its usage, options and an example, exit 0, nothing else run`, async () => {
      const r = await cli([c, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, new RegExp(`^legacy-gateway ${c}\\b`));
      assert.match(r.stdout, /Usage:/);
      assert.ok(r.stdout.includes(OPTION[c]!), `${c} --help does not name ${OPTION[c]}`);
      assert.match(r.stdout, new RegExp(`Example:\\n  legacy-gateway ${c}\\b`));
      // Same text whichever way it is asked for; --help wins over other (even invalid) flags.
      assert.equal((await cli(['help', c])).stdout, r.stdout);
      assert.equal((await cli([c, '--bogus', '-h'])).stdout, r.stdout);
    });
  }

  test('help for an unknown command is an unknown command (exit 2)', async () => {
    const r = await cli(['help', 'nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command: nope/);
  });
});

describe('usage errors', () => {
  for (const args of [['serve', '--bogus'], ['demo', '--port', 'x'], ['status', '--bogus'], ['export', '--target'], ['frobnicate']]) {
    test(`legacy-gateway ${args.join(' ')}: exit 2, a message naming the problem, no stack trace`, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.trim().length > 0);
      assert.doesNotMatch(r.stderr, /\n\s+at |Error:/, r.stderr);
    });
  }
});

describe('a reader that stops early', () => {
  test('stdout closed before the output is written (| head): no EPIPE stack trace', async () => {
    // dev-issuer writes its banner and keeps running: the failed write surfaces as an 'error' event on stdout.
    for (const args of [['--help'], ['status', '--help'], ['dev-issuer']]) {
      const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy(); // the reader is gone before the first write
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(stderr, '', `stderr: ${stderr}`);
      assert.equal(code, 0);
    }
  });
});
