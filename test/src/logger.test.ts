import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, mock, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { isoTime } from '../../src/logger.js';

const LOGGER = fileURLToPath(new URL('../../src/logger.js', import.meta.url));

/** Runs `body` in a child node with createLogger imported; resolves with its stdout and how it ended. */
function child(body: string): Promise<{ out: string; signal: NodeJS.Signals | null }> {
  const script = `import { createLogger } from ${JSON.stringify(LOGGER)};\n${body}`;
  const p = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  return new Promise((resolve) => p.on('close', (_code, signal) => resolve({ out, signal })));
}

describe('createLogger: the default destination (stdout)', () => {
  test('is synchronous: every line logged before a SIGKILL reaches the reader (none waits in memory)', async () => {
    // 2,000 lines of about 100 bytes: more than a pipe holds, so the writes also meet a full pipe (back-pressure).
    const r = await child(`const log = createLogger('info');
for (let i = 0; i < 2000; i++) log.info({ event: 'login', n: i }, 'audit');
process.kill(process.pid, 'SIGKILL');`);
    assert.equal(r.signal, 'SIGKILL');
    const lines = r.out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { n: number; msg: string });
    assert.equal(lines.length, 2000);
    assert.deepEqual(lines.map((l) => l.n), Array.from({ length: 2000 }, (_, i) => i));
  });

  test('writes JSON lines with the service name and an ISO time', async () => {
    const r = await child(`createLogger('info').info({ route: '/v1/users/lookup' }, 'request');`);
    const line = JSON.parse(r.out.trim()) as Record<string, unknown>;
    assert.equal(line.service, 'legacy-gateway');
    assert.equal(line.route, '/v1/users/lookup');
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});

describe('isoTime: the time field, formatted once per millisecond', () => {
  test('is the current millisecond in ISO 8601, as pino.stdTimeFunctions.isoTime writes it, and follows the clock', () => {
    const clock = mock.method(Date, 'now');
    try {
      for (const ms of [Date.UTC(2026, 11, 3, 1, 2, 3, 4), Date.UTC(2026, 11, 3, 1, 2, 3, 4), Date.UTC(2026, 11, 3, 1, 2, 3, 5), Date.UTC(2027, 0, 1)]) {
        clock.mock.mockImplementation(() => ms);
        assert.equal(isoTime(), `,"time":"${new Date(ms).toISOString()}"`);
        assert.equal(isoTime(), pino.stdTimeFunctions.isoTime(), "pino's own function, under the same clock");
      }
      // And back: a clock stepped backwards (NTP) is followed, not held at the later stamp.
      clock.mock.mockImplementation(() => Date.UTC(2026, 11, 3, 1, 2, 3, 4));
      assert.equal(isoTime(), ',"time":"2026-12-03T01:02:03.004Z"');
    } finally {
      clock.mock.restore();
    }
  });
});
