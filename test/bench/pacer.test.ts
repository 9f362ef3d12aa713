/**
 * The lookup benchmark's paced generator (bench/pacer.ts), against a local node:http server: it sends at the rate
 * asked for whatever the answers, uses the bodies it is given, counts non-2xx answers as bad, and times each request.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pace } from '../../bench/pacer.js';

describe('bench pacer', () => {
  let server: Server;
  let url = '';
  const seen: { body: string; auth: string | undefined }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ body, auth: req.headers.authorization });
        const slow = body.includes('slow');
        setTimeout(() => {
          res.writeHead(body.includes('bad') ? 404 : 200, { 'content-type': 'application/json' });
          res.end('{}');
        }, slow ? 40 : 0);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });

  test('sends the rate asked for, with the bodies and headers given; non-2xx answers are bad', async () => {
    seen.length = 0;
    const r = await pace({ url, headers: { authorization: 'Bearer t' }, bodies: ['{"a":1}', '{"bad":1}'], rate: 200, seconds: 1 });
    assert.ok(r.ok + r.bad >= 160 && r.ok + r.bad <= 240, `about 200 requests in 1 s: ${r.ok + r.bad}`);
    assert.ok(Math.abs(r.ok - r.bad) <= 2, `the two bodies in turn: ${r.ok} ok, ${r.bad} bad`);
    assert.equal(r.lat.length, r.ok + r.bad, 'every answer timed');
    assert.ok(r.lat.every((x) => x > 0 && x < 1000));
    assert.ok(seen.every((s) => s.auth === 'Bearer t' && (s.body === '{"a":1}' || s.body === '{"bad":1}')));
    assert.ok(r.duration >= 0.9 && r.duration < 3, `duration ${r.duration}`);
    assert.ok(Number.isFinite(r.loopP99) && Number.isFinite(r.loopMax) && r.loopMax >= r.loopP99);
  });

  test('open model: slow answers do not slow the sending', async () => {
    // Every answer takes 40 ms; a closed loop of loadtest's 10 clients would send at most 250/s (500 in 2 s), one at a
    // time 25/s.
    const r = await pace({ url, headers: {}, bodies: ['{"slow":1}'], rate: 300, seconds: 2 });
    assert.ok(r.ok >= 540, `about 600 sent and answered in 2 s, whatever the answers' latency: ${r.ok}`);
    const sorted = [...r.lat].sort((a, b) => a - b);
    assert.ok(sorted[Math.floor(sorted.length / 2)]! >= 39, `latency from the send, the server's 40 ms included: median ${sorted[Math.floor(sorted.length / 2)]}`);
  });
});
