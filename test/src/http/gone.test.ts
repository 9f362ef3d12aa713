/**
 * clientGone: aborts when the connection closes before the response was written, including when it closed before
 * clientGone was called; never for a response that was written (keep-alive or not).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import express, { type Response } from 'express';
import { clientGone } from '../../../src/http/gone.js';

let server: import('node:http').Server;
let port: number;
/** What each request's signal said: at the time of the answer, and a moment after the response ended. */
const seen: { atCall?: boolean; later?: boolean }[] = [];
/** Per request: resolve to make the handler go on. */
let proceed: (() => void)[] = [];

before(async () => {
  const app = express();
  app.post('/wait', async (req, res: Response) => {
    const entry: { atCall?: boolean; later?: boolean } = {};
    seen.push(entry);
    // mode "late": the client leaves before clientGone is called; "early": after.
    let signal: AbortSignal | undefined;
    if (req.query.mode !== 'late') signal = clientGone(res);
    await new Promise<void>((r) => proceed.push(r));
    signal ??= clientGone(res);
    entry.atCall = signal.aborted;
    res.json({ ok: true });
    setTimeout(() => (entry.later = signal.aborted), 50);
  });
  await new Promise<void>((r) => {
    server = app.listen(0, '127.0.0.1', () => r());
  });
  port = (server.address() as net.AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function send(path: string, keepAlive: boolean) {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d) => (received += d.toString()));
  socket.on('error', () => {});
  socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`);
  return { socket, received: () => received };
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
}

async function oneRequest(path: string, leave: boolean, keepAlive = true) {
  const before = seen.length;
  proceed = [];
  const c = send(path, keepAlive);
  await until(() => proceed.length === 1);
  if (leave) {
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
  }
  proceed[0]!();
  await until(() => seen[before]?.later !== undefined);
  c.socket.destroy();
  return { ...seen[before]!, received: c.received() };
}

test('a caller that stays: never aborted, keep-alive or not', async () => {
  for (const keepAlive of [true, false]) {
    const r = await oneRequest('/wait', false, keepAlive);
    assert.deepEqual([r.atCall, r.later], [false, false]);
    assert.match(r.received, /^HTTP\/1\.1 200 /);
  }
});

test('a caller that leaves while the request is handled: aborted', async () => {
  const r = await oneRequest('/wait', true);
  assert.equal(r.atCall, true);
});

test('a caller that left before clientGone was called: aborted at once', async () => {
  const r = await oneRequest('/wait?mode=late', true);
  assert.equal(r.atCall, true);
});
