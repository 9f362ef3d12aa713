/**
 * The HTTP server itself: timeouts that hold at the configured values (not at Node's 30 s checking interval), and a
 * graceful, bounded shutdown. Raw loopback sockets, every wait bounded.
 */
import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { checkingIntervalFor, InFlightList, type InFlightNode } from '../../src/server.js';
import { call, rawRequest, startTestGateway, slowStatusStore, wrapStore, type TestGateway } from '../helpers/harness.js';

const open: TestGateway[] = [];
after(async () => {
  await Promise.all(open.map((g) => g.close().catch(() => undefined)));
});

async function start(opts: Parameters<typeof startTestGateway>[0]): Promise<TestGateway> {
  const gw = await startTestGateway({ logLevel: 'debug', ...opts });
  open.push(gw);
  return gw;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Resolves when the server has closed the socket; rejects after ms. */
function closedWithin(socket: Socket, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

async function connected(url: string): Promise<Socket> {
  const s = connect(portOf(url), '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  return s;
}

/** Time a close(), giving up (and failing) after limitMs instead of hanging the suite. */
async function timedClose(gw: TestGateway, limitMs: number): Promise<number> {
  const t0 = Date.now();
  const r = await Promise.race([gw.running.close().then(() => 'closed' as const), delay(limitMs, 'hung' as const)]);
  assert.equal(r, 'closed', `Running.close() did not resolve within ${limitMs} ms`);
  return Date.now() - t0;
}

describe('timeouts are what the configuration says', () => {
  let gw: TestGateway;
  const HEADERS = 1000;
  const REQUEST = 2000;
  const slack = 300;

  test('start a gateway with headers_timeout_ms 1000, request_timeout_ms 2000, keep_alive_timeout_ms 300', async () => {
    gw = await start({ config: { server: { headers_timeout_ms: HEADERS, request_timeout_ms: REQUEST, keep_alive_timeout_ms: 300 } } });
    assert.equal(gw.running.server.headersTimeout, HEADERS);
    assert.equal(gw.running.server.requestTimeout, REQUEST);
    assert.equal(gw.running.server.keepAliveTimeout, 300);
    assert.ok(checkingIntervalFor(HEADERS, REQUEST) <= 250);
  });

  test('a request head trickled at 1 byte / 200 ms is cut after the headers timeout (not ~30 s later)', async () => {
    const head = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`;
    const r = await rawRequest(gw.url, [...head], { intervalMs: 200, timeoutMs: 6000 });
    assert.ok(r.closed, `connection still open after ${r.ms} ms`);
    assert.ok(r.status === 0 || r.status === 408, `status ${r.status}: ${r.head}`);
    const bound = HEADERS + checkingIntervalFor(HEADERS, REQUEST) + slack;
    assert.ok(r.ms > 800 && r.ms < Math.min(2500, bound + 1000), `closed after ${r.ms} ms (headers timeout ${HEADERS} ms)`);
  });

  test('a body trickled at 1 byte / 200 ms is cut after the request timeout', async () => {
    const token = await gw.token();
    const head = `POST /v1/credentials/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n`;
    const r = await rawRequest(gw.url, [head, ...'{"login":"alice@example.com","password":"'.padEnd(200, 'x')], { intervalMs: 200, timeoutMs: 8000 });
    assert.ok(r.closed, `connection still open after ${r.ms} ms`);
    assert.ok(r.status === 0 || r.status === 408, `status ${r.status}: ${r.head}`);
    assert.ok(r.ms > REQUEST - 200 && r.ms < REQUEST + checkingIntervalFor(HEADERS, REQUEST) + 1000, `closed after ${r.ms} ms (request timeout ${REQUEST} ms)`);
    assert.ok(!r.raw.includes(token), 'the token is not echoed');
  });

  test('a complete request inside the limits still works, on a connection kept alive', async () => {
    const r = await rawRequest(gw.url, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, { timeoutMs: 3000 });
    assert.equal(r.status, 200);
    // ...and the idle keep-alive connection is closed at keep_alive_timeout_ms (300 ms), not Node's 5 s. Node 20
    // arms the socket timer with a 1 s buffer on top of keepAliveTimeout.
    assert.ok(r.closed, 'idle keep-alive connection was not closed');
    assert.ok(r.ms < 300 + 1000 + 500, `idle connection closed after ${r.ms} ms`);
  });

  test('the defaults are 10 s / 30 s / 5 s, checked every second', async () => {
    const d = await start({});
    assert.equal(d.running.server.headersTimeout, 10_000);
    assert.equal(d.running.server.requestTimeout, 30_000);
    assert.equal(d.running.server.keepAliveTimeout, 5_000);
    assert.equal(checkingIntervalFor(10_000, 30_000), 1000);
  });
});

describe('graceful, bounded shutdown', () => {
  test('an idle keep-alive connection does not hold close() up', async () => {
    const gw = await start({});
    const agent = new Agent({ keepAlive: true });
    try {
      await new Promise<void>((resolve, reject) => {
        get(`${gw.url}/healthz`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        }).on('error', reject);
      });
      assert.equal(Object.values(agent.freeSockets).flat().length, 1, 'the client holds an idle keep-alive socket');
      const ms = await timedClose(gw, 3000);
      assert.ok(ms < 1000, `close() took ${ms} ms`);
    } finally {
      agent.destroy();
    }
  });

  test('a connection that never sent a byte, and one that sent half a request head, do not hold close() up', async () => {
    const gw = await start({});
    const silent = await connected(gw.url);
    const half = await connected(gw.url);
    half.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await delay(100);
    try {
      const ms = await timedClose(gw, 3000);
      assert.ok(ms < 1000, `close() took ${ms} ms`);
      await closedWithin(silent, 1000);
      await closedWithin(half, 1000);
    } finally {
      silent.destroy();
      half.destroy();
    }
  });

  test('a request in flight when close() starts still gets its 200, and close() waits for it', async () => {
    const slow = slowStatusStore(500);
    const inStore = slow.entered;
    const gw = await start({ wrapStore: slow.wrap });
    const token = await gw.token();
    const pending = call(gw.url, 'GET', '/v1/migration/status', { token });
    await inStore;
    const t0 = Date.now();
    const closing = gw.running.close();
    // New connections are refused once close() has started.
    await delay(20);
    await assert.rejects(fetch(`${gw.url}/healthz`), 'a new request was accepted during shutdown');
    const r = await pending;
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.json.total, 'number');
    assert.equal(r.headers.get('connection'), 'close', 'the in-flight response closes its connection');
    await Promise.race([closing, delay(3000).then(() => assert.fail('close() did not resolve'))]);
    const ms = Date.now() - t0;
    assert.ok(ms >= 300 && ms < 1500, `close() took ${ms} ms (the request needed ~500 ms)`);
  });

  test('several requests in flight when close() starts, with answered ones before and between them: each closes its connection', async () => {
    const slow = slowStatusStore(600);
    const gw = await start({ wrapStore: slow.wrap });
    const token = await gw.token();
    // The list of responses in flight loses its newest (a quick request after each slow one) and its oldest (a, the
    // first slow one, answered before close()) while b and c are in flight; close() then has to find b and c.
    const a = call(gw.url, 'GET', '/v1/migration/status', { token });
    await slow.entered;
    assert.equal((await call(gw.url, 'GET', '/healthz')).status, 200);
    await delay(250);
    const b = call(gw.url, 'GET', '/v1/migration/status', { token });
    await delay(50);
    assert.equal((await call(gw.url, 'GET', '/healthz')).status, 200);
    const c = call(gw.url, 'GET', '/v1/migration/status', { token });
    const first = await a;
    assert.equal(first.status, 200, first.text);
    assert.notEqual(first.headers.get('connection'), 'close', 'a was answered before close()');
    const closing = gw.running.close();
    for (const [name, r] of [['b', await b], ['c', await c]] as const) {
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      assert.equal(r.headers.get('connection'), 'close', `${name}: the in-flight response closes its connection`);
    }
    await Promise.race([closing, delay(3000).then(() => assert.fail('close() did not resolve'))]);
  });

  test('a store whose close() never resolves: close() still resolves at shutdown_grace_ms, with a warning', async () => {
    const gw = await start({
      config: { server: { shutdown_grace_ms: 400 } },
      wrapStore: (s) => wrapStore(s, { close: () => () => new Promise<void>(() => undefined) }),
    });
    const ms = await timedClose(gw, 3000);
    assert.ok(ms >= 350 && ms < 1000, `close() took ${ms} ms (grace 400 ms)`);
    const warned = gw.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((o) => o.level === 40 && /store close abandoned/.test(o.msg));
    assert.equal(warned.length, 1, gw.logs.join(''));
  });

  test('a request that never finishes is cut at shutdown_grace_ms', async () => {
    let entered!: () => void;
    const inStore = new Promise<void>((resolve) => (entered = resolve));
    const gw = await start({
      config: { server: { shutdown_grace_ms: 400 } },
      wrapStore: (s) =>
        wrapStore(s, {
          migrationStatus: () => () => {
            entered();
            return new Promise(() => undefined);
          },
        }),
    });
    const token = await gw.token();
    const pending = rawRequest(gw.url, `GET /v1/migration/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`, { timeoutMs: 5000 });
    await inStore;
    const ms = await timedClose(gw, 3000);
    assert.ok(ms >= 350 && ms < 1000, `close() took ${ms} ms (grace 400 ms)`);
    const r = await pending;
    assert.ok(r.closed, 'the hanging request was not cut');
    const warned = gw.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((o) => o.level === 40 && /grace period over/.test(o.msg));
    assert.ok(warned.length >= 1, gw.logs.join(''));
  });

  test('close() is idempotent', async () => {
    const gw = await start({});
    await Promise.all([gw.running.close(), gw.running.close()]);
    await gw.running.close();
  });
});

describe('the timing decoy does not hold up listening', () => {
  test('listening (and answering what needs no decoy) while the sample runs; the first requests that need it share that one sample', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let scans = 0;
    const gw = await start({
      wrapStore: (s) =>
        wrapStore(s, {
          scan: (real) =>
            async function* () {
              scans++;
              await gate;
              yield* real.scan();
            },
        }),
    });
    try {
      assert.equal(gw.running.gateway.decoyReady, false, 'started before the sample finished');
      assert.equal((await call(gw.url, 'GET', '/readyz')).status, 200);
      const token = await gw.token();
      const lookup = await call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login: 'bob@example.com' } });
      assert.equal(lookup.status, 200, lookup.text);
      // Unknown logins spend the decoy: they wait for the sample in progress.
      const pending = ['nobody-1@example.com', 'nobody-2@example.com', 'nobody-3@example.com'].map((login) =>
        call(gw.url, 'POST', '/v1/credentials/verify', { token, body: { login, password: 'whatever-password' } }),
      );
      let settled = false;
      void Promise.all(pending).then(() => (settled = true));
      await delay(200);
      assert.equal(settled, false, 'answered before the decoy was ready');
      release();
      for (const r of await Promise.all(pending)) {
        assert.equal(r.status, 401, r.text);
        assert.equal(r.json.error, 'invalid_credentials');
      }
      assert.equal(scans, 1, 'one sample, shared');
      assert.equal(gw.running.gateway.decoyReady, true);
    } finally {
      release();
    }
  });
});

describe('InFlightList (the responses in flight, for a drain)', () => {
  test('newest first; a middle, the newest and the oldest come out; a second remove does nothing', () => {
    const l = new InFlightList<string>();
    const a = l.add('a');
    const b = l.add('b');
    const c = l.add('c');
    assert.deepEqual([...l.values()], ['c', 'b', 'a']);
    l.remove(b);
    assert.deepEqual([...l.values()], ['c', 'a']);
    l.remove(c);
    assert.deepEqual([...l.values()], ['a']);
    const d = l.add('d');
    l.remove(a);
    l.remove(a);
    l.remove(b);
    assert.deepEqual([...l.values()], ['d']);
    l.remove(d);
    assert.deepEqual([...l.values()], []);
  });

  test('any sequence of adds and removes leaves exactly the items not yet removed, newest first', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(-1), fc.nat(5)), { maxLength: 24 }), (ops) => {
        const l = new InFlightList<number>();
        const nodes: InFlightNode<number>[] = [];
        const model: number[] = [];
        for (const op of ops) {
          if (op === -1 || nodes.length === 0) {
            nodes.push(l.add(nodes.length));
            model.unshift(nodes.length - 1);
          } else {
            const node = nodes[op % nodes.length]!;
            l.remove(node);
            const i = model.indexOf(node.value);
            if (i >= 0) model.splice(i, 1);
          }
          assert.deepEqual([...l.values()], model);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
