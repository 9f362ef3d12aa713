/**
 * server.tls: SIGHUP reloads the certificate without a restart and without dropping a connection. A real
 * `legacy-gateway serve` child process, a CA and certificates made in the test (test/helpers/certs.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createDemoDatabase } from '../../src/demo.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/devtokens.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { TEST_USERS } from '../helpers/harness.js';
import { startChild, type Child } from '../helpers/walkthrough.js';
import { testStore } from '../helpers/store-config.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

/** GET /healthz through `agent`; the server certificate's fingerprint and whether the socket was reused. */
function get(url: string, agent: Agent, ca: Buffer): Promise<{ status: number; fingerprint: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL('/healthz', url), { agent, ca }, (res) => {
      // Read now: at 'end' a keep-alive socket is already back in the agent's pool.
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('server.tls: SIGHUP reloads the certificate', () => {
  let pki: TestPki;
  let dir: string;
  let issuer: LocalIssuer;
  let child: Child;
  let url = '';
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  before(async () => {
    pki = makePki();
    dir = mkdtempSync(path.join(tmpdir(), 'lg-tlsreload-'));
    const db = path.join(dir, 'legacy.sqlite');
    createDemoDatabase(db, TEST_USERS);
    issuer = await startLocalIssuer('https://legacy-gateway.test', 'test-client');
    const config = {
      server: { host: '127.0.0.1', port: 0, keep_alive_timeout_ms: 60_000, tls: { cert_file: pki.serverCertFile, key_file: pki.serverKeyFile } },
      auth: { issuer: issuer.issuer, audience: issuer.audience, jwks_uri: issuer.jwksUri, allow_insecure_http: true },
      store: testStore('sqlite', db),
    };
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, JSON.stringify(config));
    child = startChild([MAIN, 'serve', '--config', file], { PATH: process.env.PATH ?? '' });
    url = (await child.waitFor(/"listen":"(https:\/\/[^"]+)"[^\n]*legacy-gateway listening/))[1]!;
  });

  after(async () => {
    agent.destroy();
    await child?.kill();
    await issuer?.close();
    rmSync(dir, { recursive: true, force: true });
    pki?.cleanup();
  });

  test('new connections get the renewed certificate; the open connection stays up; a broken renewal keeps the current one', async () => {
    const first = await get(url, agent, pki.ca);
    assert.equal(first.status, 200);
    const original = first.fingerprint;

    const renewed = pki.renewServer('server-renewed');
    assert.notEqual(renewed, original);
    child.proc.kill('SIGHUP');
    await child.waitFor(/TLS certificate reloaded/);

    // The keep-alive connection made before the reload is still open and still answers (with the old certificate).
    const again = await get(url, agent, pki.ca);
    assert.equal(again.status, 200);
    assert.equal(again.reused, true, 'the same connection was used: nothing was dropped');
    assert.equal(again.fingerprint, original);

    // A new connection sees the renewed certificate.
    const fresh = new Agent({ keepAlive: false });
    try {
      const r = await get(url, fresh, pki.ca);
      assert.equal(r.status, 200);
      assert.equal(r.fingerprint, renewed);
    } finally {
      fresh.destroy();
    }

    // A broken key on disk: the reload fails, says so, and the renewed certificate stays in use.
    writeFileSync(pki.serverKeyFile, 'not a key\n');
    child.proc.kill('SIGHUP');
    await child.waitFor(/TLS reload failed/);
    const fresh2 = new Agent({ keepAlive: false });
    try {
      const r = await get(url, fresh2, pki.ca);
      assert.equal(r.status, 200);
      assert.equal(r.fingerprint, renewed);
    } finally {
      fresh2.destroy();
    }
    assert.equal(child.proc.exitCode, null, 'the gateway is still running');
    assert.doesNotMatch(child.stdout(), /not a key/, 'the file content is never logged');
  });
});
