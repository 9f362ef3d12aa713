/**
 * server.trust_proxy and server.allow_ips together, and /metrics on its own listener. The test client connects
 * from 127.0.0.1, so "the proxy is loopback" is simulated by trusting 127.0.0.1/32.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';

const ALLOWED = '10.1.2.3';
const open: TestGateway[] = [];
after(async () => {
  await Promise.all(open.map((g) => g.close()));
});

async function start(config: NonNullable<Parameters<typeof startTestGateway>[0]>['config']): Promise<TestGateway> {
  const gw = await startTestGateway({ config });
  open.push(gw);
  return gw;
}

async function status(gw: TestGateway, xff?: string): Promise<{ status: number; error?: string }> {
  const r = await call(gw.url, 'GET', '/v1/migration/status', { token: await gw.token(), headers: xff === undefined ? {} : { 'x-forwarded-for': xff } });
  return { status: r.status, error: r.json?.error };
}

const FORBIDDEN = { status: 403, error: 'forbidden_ip' };
const OK = { status: 200, error: undefined };

/** The ip field of the request log lines, in order. */
function loggedIps(gw: TestGateway): string[] {
  return gw.logs.map((l) => JSON.parse(l) as { msg: string; ip?: string }).filter((o) => o.msg === 'request').map((o) => o.ip!);
}

describe('trust_proxy: false (the default) ignores X-Forwarded-For entirely', () => {
  test('allow_ips [10.1.2.3]: a loopback client claiming 10.1.2.3 in X-Forwarded-For is refused', async () => {
    const gw = await start({ server: { allow_ips: [ALLOWED] } });
    assert.equal(gw.config.server.trust_proxy, false);
    for (const xff of [undefined, ALLOWED, `${ALLOWED}, ${ALLOWED}`, `6.6.6.6, ${ALLOWED}`, `${ALLOWED}, 127.0.0.1`]) {
      assert.deepEqual(await status(gw, xff), FORBIDDEN, `X-Forwarded-For: ${xff}`);
    }
  });

  test('control: allow_ips [127.0.0.1] lets the loopback client in whatever it claims', async () => {
    const gw = await start({ server: { allow_ips: ['127.0.0.1'] } });
    for (const xff of [undefined, '6.6.6.6', `6.6.6.6, ${ALLOWED}`]) assert.deepEqual(await status(gw, xff), OK, `X-Forwarded-For: ${xff}`);
    assert.ok(loggedIps(gw).every((ip) => ip === '127.0.0.1' || ip === '::ffff:127.0.0.1'), loggedIps(gw).join());
  });
});

describe('trust_proxy: the proxies\' addresses', () => {
  test('proxy 127.0.0.1/32: the entry it appended is the client; prepending an allowed address never helps', async () => {
    const gw = await start({ server: { allow_ips: [ALLOWED], trust_proxy: ['127.0.0.1/32'] } });
    // The proxy appended the real peer 6.6.6.6; whatever stands to the left is the client's own text.
    for (const xff of [`${ALLOWED}, 6.6.6.6`, `${ALLOWED}, ${ALLOWED}, 6.6.6.6`, `${ALLOWED},6.6.6.6`, '6.6.6.6']) {
      assert.deepEqual(await status(gw, xff), FORBIDDEN, `X-Forwarded-For: ${xff}`);
    }
    // Positive control: when the proxy says the peer was 10.1.2.3, that is believed (it is a trusted proxy).
    assert.deepEqual(await status(gw, ALLOWED), OK);
    assert.deepEqual(await status(gw, `6.6.6.6, ${ALLOWED}`), OK);
    // No X-Forwarded-For: the proxy itself is the client.
    assert.deepEqual(await status(gw), FORBIDDEN);
  });

  test('a chain of trusted proxies is walked; the first untrusted hop is the client', async () => {
    const gw = await start({ server: { allow_ips: [ALLOWED], trust_proxy: ['127.0.0.1/32', '192.168.0.0/16'] } });
    assert.deepEqual(await status(gw, `${ALLOWED}, 192.168.1.1`), OK);
    assert.deepEqual(await status(gw, `${ALLOWED}, 6.6.6.6, 192.168.1.1`), FORBIDDEN);
  });

  test('proxy 10.0.0.0/8 (not loopback): a client connecting directly cannot claim an address at all', async () => {
    const gw = await start({ server: { allow_ips: [ALLOWED], trust_proxy: ['10.0.0.0/8'] } });
    for (const xff of [ALLOWED, `${ALLOWED}, ${ALLOWED}`, `6.6.6.6, ${ALLOWED}`]) {
      assert.deepEqual(await status(gw, xff), FORBIDDEN, `X-Forwarded-For: ${xff}`);
    }
  });

  test('X-Forwarded-For garbage is refused, and what a client wrote there is not logged as its address', async () => {
    const gw = await start({ server: { allow_ips: ['0.0.0.0/0'], trust_proxy: ['127.0.0.1/32'] } });
    const marker = 'not-an-ip-7d1e';
    assert.deepEqual(await status(gw, marker), FORBIDDEN);
    assert.ok(!gw.logs.some((l) => l.includes(marker)), 'X-Forwarded-For text reached the log');
    assert.deepEqual(loggedIps(gw), ['invalid']);
  });

  test('an empty list trusts no proxy', async () => {
    const gw = await start({ server: { allow_ips: [ALLOWED], trust_proxy: [] } });
    assert.deepEqual(await status(gw, ALLOWED), FORBIDDEN);
  });
});

describe('trust_proxy: a hop count', () => {
  test('1 hop: the right-most entry is the client; prepending an allowed address never helps', async () => {
    const gw = await start({ server: { allow_ips: [ALLOWED], trust_proxy: 1 } });
    for (const xff of [`${ALLOWED}, 6.6.6.6`, `${ALLOWED}, ${ALLOWED}, 6.6.6.6`, `${ALLOWED}, 127.0.0.1`]) {
      assert.deepEqual(await status(gw, xff), FORBIDDEN, `X-Forwarded-For: ${xff}`);
    }
  });

  test('documented caveat: with nothing in front, a direct client writes the right-most entry itself', async () => {
    // A hop count trusts the last N hops whatever they are: only correct when exactly N proxies always stand in
    // front (config.example.yaml says so; prefer the proxies' addresses).
    const gw = await start({ server: { allow_ips: [ALLOWED], trust_proxy: 1 } });
    assert.deepEqual(await status(gw, ALLOWED), OK);
  });

  test('0 hops is the same as false', async () => {
    const gw = await start({ server: { allow_ips: [ALLOWED], trust_proxy: 0 } });
    assert.deepEqual(await status(gw, ALLOWED), FORBIDDEN);
  });
});

describe('metrics on their own listener', () => {
  test('metrics: { host: 127.0.0.1, port: 0 } serves /metrics only there; the main port answers 404 not_found', async () => {
    const gw = await startTestGateway({ config: { metrics: { host: '127.0.0.1', port: 0 } } });
    let closed = false;
    try {
      const murl = gw.running.metricsUrl!;
      assert.match(murl, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(murl, gw.url);
      assert.equal((await call(gw.url, 'GET', '/healthz')).status, 200);
      const m = await call(murl, 'GET', '/metrics');
      assert.equal(m.status, 200);
      assert.match(m.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(m.text, /legacy_gateway_http_requests_total\{method="GET",route="\/healthz",status="200",outcome="ok"\} 1/);
      const onMain = await call(gw.url, 'GET', '/metrics');
      assert.equal(onMain.status, 404);
      assert.equal(onMain.json.error, 'not_found');
      assert.doesNotMatch(onMain.text, /legacy_gateway/);
      // Only /metrics on the metrics listener.
      for (const p of ['/healthz', '/v1/migration/status', '/metrics/x', '/']) {
        const r = await call(murl, 'GET', p);
        assert.equal(r.status, 404, p);
        assert.equal(r.json.error, 'not_found');
      }
      assert.equal((await call(murl, 'POST', '/metrics', { body: {} })).status, 404);
      assert.equal((await call(murl, 'GET', '/metrics?x=1')).status, 200);
      // Both listeners close on shutdown.
      await gw.close();
      closed = true;
      assert.equal(gw.running.server.listening, false);
      assert.equal(gw.running.metricsServer!.listening, false);
      for (const u of [gw.url, murl]) {
        const err = await new Promise<string>((resolve) => {
          const s = connect(Number(new URL(u).port), '127.0.0.1');
          s.on('connect', () => {
            s.destroy();
            resolve('connected');
          });
          s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        });
        assert.equal(err, 'ECONNREFUSED', u);
      }
    } finally {
      if (!closed) await gw.close();
    }
  });

  test('without a metrics block, /metrics stays on the main port', async () => {
    const gw = await start({});
    assert.equal(gw.running.metricsServer, undefined);
    const r = await call(gw.url, 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.text, /legacy_gateway_http_requests_total/);
  });
});
