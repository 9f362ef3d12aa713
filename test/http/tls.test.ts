/**
 * server.tls: the gateway on HTTPS, with a CA, server and client certificates made by the test (openssl, temp dir).
 * The same app, timeouts and graceful shutdown as over HTTP; client certificates asked for but never required;
 * clear start-up errors for unusable files, never their contents.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { before, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config.js';
import { demoConfig } from '../../src/demo.js';
import { createLogger } from '../../src/logger.js';
import { startServer } from '../../src/server.js';
import { httpsCall, useTestPki } from '../helpers/certs.js';
import { slowStatusStore, startTestGateway, type TestGateway } from '../helpers/harness.js';

const suite = useTestPki();
const { open } = suite;

const tlsConfig = (extra: Record<string, unknown> = {}) => ({ cert_file: suite.pki.serverCertFile, key_file: suite.pki.serverKeyFile, ...extra });

async function start(opts: Parameters<typeof startTestGateway>[0] & { tls?: Record<string, unknown> } = {}): Promise<TestGateway> {
  const { tls, ...rest } = opts;
  const config = (rest.config ?? {}) as Record<string, unknown>;
  const gw = await startTestGateway({
    ...rest,
    config: { ...config, server: { ...((config.server as object) ?? {}), tls: tls ?? tlsConfig() } } as never,
  });
  open.push(gw);
  return gw;
}

/** Resolves when the other side has closed the socket; rejects after ms. */
function closedWithin(socket: Socket, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function timedClose(gw: TestGateway, limitMs: number): Promise<number> {
  const t0 = Date.now();
  const r = await Promise.race([gw.running.close().then(() => 'closed' as const), delay(limitMs, 'hung' as const)]);
  assert.equal(r, 'closed', `Running.close() did not resolve within ${limitMs} ms`);
  return Date.now() - t0;
}

describe('HTTPS listener', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await start({ config: { server: { headers_timeout_ms: 1500, request_timeout_ms: 2500, keep_alive_timeout_ms: 300 } } });
  });

  test('Running.url is https; /healthz answers over TLS to a client trusting the CA; the API works as over HTTP', async () => {
    assert.match(gw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await httpsCall(gw.url, 'GET', '/healthz', { ca: suite.pki.ca });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ok' });
    const token = await gw.token();
    const v = await httpsCall(gw.url, 'POST', '/v1/credentials/verify', {
      ca: suite.pki.ca,
      body: JSON.stringify({ login: 'alice@example.com', password: 'wrong-password' }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    assert.equal(v.status, 401);
    assert.equal((v.json as { error: string }).error, 'invalid_credentials');
  });

  test('a client that does not trust the CA refuses the server certificate', async () => {
    await assert.rejects(httpsCall(gw.url, 'GET', '/healthz', { ca: suite.pki.stranger.cert }), /self-signed|unable to verify|certificate/i);
  });

  test('plain HTTP on the HTTPS port is refused (no answer, the connection is closed)', async () => {
    await assert.rejects(fetch(gw.url.replace(/^https:/, 'http:') + '/healthz', { signal: AbortSignal.timeout(5000) }));
    const raw = netConnect(Number(new URL(gw.url).port), '127.0.0.1');
    raw.on('error', () => undefined);
    let received = '';
    raw.setEncoding('latin1');
    raw.on('data', (d: string) => (received += d));
    raw.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await closedWithin(raw, 3000);
    assert.doesNotMatch(received, /HTTP\/1\.1 200/);
  });

  test('the configured timeouts are those of the HTTPS server; the TLS handshake is bounded by headers_timeout_ms', async () => {
    const s = gw.running.server as typeof gw.running.server & { handshakeTimeout?: number };
    assert.equal(s.headersTimeout, 1500);
    assert.equal(s.requestTimeout, 2500);
    assert.equal(s.keepAliveTimeout, 300);
    // A client that connects and never starts the handshake is dropped.
    const silent = netConnect(Number(new URL(gw.url).port), '127.0.0.1');
    silent.on('error', () => undefined);
    const t0 = Date.now();
    await closedWithin(silent, 4000);
    assert.ok(Date.now() - t0 >= 1000, 'not before the timeout');
  });

  test('without request_client_cert, no certificate is asked for: a client presenting one is served all the same', async () => {
    const r = await httpsCall(gw.url, 'GET', '/healthz', { ca: suite.pki.ca, identity: suite.pki.client });
    assert.equal(r.status, 200);
  });
});

describe('HTTPS with request_client_cert', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await start({ tls: tlsConfig({ client_ca_file: suite.pki.caFile, request_client_cert: true }) });
  });

  test('a client certificate is asked for, never required: with the right one, a stranger one or none, /healthz answers', async () => {
    for (const identity of [suite.pki.client, suite.pki.stranger, undefined]) {
      const r = await httpsCall(gw.url, 'GET', '/healthz', { ca: suite.pki.ca, identity });
      assert.equal(r.status, 200, identity ? 'with a certificate' : 'without one');
    }
  });
});

describe('graceful, bounded shutdown over HTTPS', () => {
  test('a TCP connection that never started the handshake, and an idle TLS connection, do not hold close() up', async () => {
    const gw = await start({});
    const port = Number(new URL(gw.url).port);
    const silent = netConnect(port, '127.0.0.1');
    silent.on('error', () => undefined);
    await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
    const idle = tlsConnect({ host: '127.0.0.1', port, ca: suite.pki.ca });
    idle.on('error', () => undefined);
    await new Promise<void>((resolve) => idle.once('secureConnect', () => resolve()));
    await delay(50);
    try {
      const ms = await timedClose(gw, 3000);
      assert.ok(ms < 1000, `close() took ${ms} ms`);
      await closedWithin(silent, 1000);
      await closedWithin(idle, 1000);
    } finally {
      silent.destroy();
      idle.destroy();
    }
  });

  test('a request in flight over TLS when close() starts still gets its 200 (its TCP socket is not cut)', async () => {
    const slow = slowStatusStore(500);
    const inStore = slow.entered;
    const gw = await start({ wrapStore: slow.wrap });
    const token = await gw.token();
    const pending = httpsCall(gw.url, 'GET', '/v1/migration/status', { ca: suite.pki.ca, headers: { authorization: `Bearer ${token}` } });
    await inStore;
    const t0 = Date.now();
    const closing = gw.running.close();
    await delay(20);
    await assert.rejects(httpsCall(gw.url, 'GET', '/healthz', { ca: suite.pki.ca, timeoutMs: 2000 }), 'a new connection was accepted during shutdown');
    const r = await pending;
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof (r.json as { total: unknown }).total, 'number');
    assert.equal(r.headers.get('connection'), 'close');
    await Promise.race([closing, delay(3000).then(() => assert.fail('close() did not resolve'))]);
    const ms = Date.now() - t0;
    assert.ok(ms >= 300 && ms < 1500, `close() took ${ms} ms (the request needed ~500 ms)`);
  });
});

describe('unusable TLS settings stop the start with a clear error', () => {
  /** Start a gateway on this config (merged over the demo's) and return the start-up error's text. */
  const problems = async (tls: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): Promise<string> => {
    const base = demoConfig(path.join(suite.pki.dir, 'never-opened.sqlite'), 'http://127.0.0.1:9/', 'https://legacy-gateway.test', 0) as unknown as Record<string, unknown>;
    try {
      const config = parseConfig({ ...base, ...extra, server: { ...(base.server as object), ...(tls ? { tls } : {}) } }, {});
      const running = await startServer(config, createLogger('silent'));
      await running.close();
    } catch (e) {
      assert.ok(e instanceof ConfigError, `a ConfigError, got ${(e as Error).name}: ${(e as Error).message}`);
      return e.message;
    }
    assert.fail('the gateway started');
  };

  test('a file that cannot be read names the setting, the path and the reason', async () => {
    const missing = path.join(suite.pki.dir, 'nope.pem');
    assert.match(await problems(tlsConfig({ cert_file: missing })), new RegExp(`server\\.tls\\.cert_file: cannot read ${missing.replace(/[.]/g, '\\.')} \\(ENOENT\\)`));
    assert.match(await problems(tlsConfig({ key_file: missing })), /server\.tls\.key_file: cannot read .* \(ENOENT\)/);
    assert.match(await problems(tlsConfig({ client_ca_file: missing, request_client_cert: true })), /server\.tls\.client_ca_file: cannot read .* \(ENOENT\)/);
    assert.match(await problems(tlsConfig({ key_file: suite.pki.dir })), /server\.tls\.key_file: cannot read .* \(EISDIR\)/);
  });

  test('a key that is not a key, or not the certificate\'s, is refused without printing it', async () => {
    const garbage = path.join(suite.pki.dir, 'garbage.key');
    const secret = 'NOT-A-KEY-but-secret-material-0123456789';
    writeFileSync(garbage, `-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----\n`);
    const m1 = await problems(tlsConfig({ key_file: garbage }));
    assert.match(m1, /server\.tls: the certificate \(cert_file\), key \(key_file\) cannot be used: /);
    assert.ok(!m1.includes(secret), m1);
    const m2 = await problems(tlsConfig({ key_file: path.join(suite.pki.dir, 'client.key') }));
    assert.match(m2, /cannot be used: .*mismatch/i);
    assert.ok(!m2.includes('PRIVATE KEY'), m2);
  });

  test('request_client_cert needs client_ca_file, and client_ca_file needs request_client_cert', async () => {
    assert.match(await problems(tlsConfig({ request_client_cert: true })), /server\.tls\.client_ca_file: required when request_client_cert is true/);
    assert.match(await problems(tlsConfig({ client_ca_file: suite.pki.caFile })), /server\.tls\.request_client_cert: must be true when client_ca_file is set/);
    assert.match(await problems({ cert_file: suite.pki.serverCertFile }), /server\.tls\.key_file: required/);
    assert.match(await problems(tlsConfig({ ciphers: 'ALL' })), /server\.tls: unknown key\(s\): ciphers/);
  });

  test('a front door with client_cert auth needs an HTTPS listener that asks for client certificates', async () => {
    const doors = { front_doors: { azure_b2c: { auth: { client_cert: {} } } } };
    assert.match(await problems(tlsConfig(), doors), /front_doors\.azure_b2c\.auth\.client_cert: needs server\.tls with request_client_cert: true/);
    assert.match(await problems(undefined, doors), /front_doors\.azure_b2c\.auth\.client_cert: needs server\.tls with request_client_cert: true/);
  });
});
