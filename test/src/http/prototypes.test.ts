/**
 * src/http/prototypes.ts: the gateway's server creates requests and responses whose prototypes are already the
 * Express app's, so Express's per-request Object.setPrototypeOf changes nothing (bench/http-stack.ts measures what
 * that change cost). Checked on a bare Express app, and on the gateway's own HTTP and HTTPS listeners: the prototype
 * a request arrives with is the one it leaves with, and everything Express adds still works.
 */
import assert from 'node:assert/strict';
import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { expressMessageClasses } from '../../../src/http/prototypes.js';
import { httpsCall, useTestPki } from '../../helpers/certs.js';
import { call, startTestGateway, type TestGateway } from '../../helpers/harness.js';

interface Seen {
  reqBefore: object | null;
  resBefore: object | null;
  reqAfter: object | null;
  resAfter: object | null;
}

/** Records, for every request `server` answers, the prototypes of req and res on arrival and once answered. */
function watchPrototypes(server: Server): Seen[] {
  const seen: Seen[] = [];
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const s: Seen = { reqBefore: Object.getPrototypeOf(req), resBefore: Object.getPrototypeOf(res), reqAfter: null, resAfter: null };
    seen.push(s);
    res.once('finish', () => {
      s.reqAfter = Object.getPrototypeOf(req);
      s.resAfter = Object.getPrototypeOf(res);
    });
  });
  return seen;
}

function assertUnchanged(seen: Seen[], n: number): void {
  assert.equal(seen.length, n);
  for (const s of seen) {
    assert.notEqual(s.reqBefore, IncomingMessage.prototype, 'a request arrives with the app\'s prototype, not the bare one');
    assert.notEqual(s.resBefore, ServerResponse.prototype, 'a response is created with the app\'s prototype, not the bare one');
    assert.equal(s.reqAfter, s.reqBefore, 'Express found nothing to change on the request');
    assert.equal(s.resAfter, s.resBefore, 'Express found nothing to change on the response');
  }
}

describe('expressMessageClasses', () => {
  let server: Server;
  let url: string;
  const app = express();
  app.set('trust proxy', false);
  app.use(express.json());
  app.post('/echo', (req, res) => {
    res.status(201).set('X-Seen', req.get('x-test') ?? 'none').json({
      body: req.body as unknown,
      ip: req.ip,
      isRequest: req instanceof IncomingMessage,
      isResponse: res instanceof ServerResponse,
      appRequest: Object.getPrototypeOf(req) === app.request,
      appResponse: Object.getPrototypeOf(res) === app.response,
    });
  });
  let seen: Seen[];

  before(async () => {
    server = createServer(expressMessageClasses(app), app);
    seen = watchPrototypes(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('requests and responses are node:http messages with the app\'s prototypes, and Express works on them', async () => {
    const r = await call(url, 'POST', '/echo', { body: { a: [1, 'ü'] }, headers: { 'x-test': 'yes' } });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('x-seen'), 'yes');
    assert.match(r.headers.get('content-type') ?? '', /^application\/json; charset=utf-8$/);
    assert.deepEqual(r.json, { body: { a: [1, 'ü'] }, ip: '127.0.0.1', isRequest: true, isResponse: true, appRequest: true, appResponse: true });
    // A 404 from Express's final handler, on the same classes.
    const missing = await call(url, 'GET', '/nowhere');
    assert.equal(missing.status, 404);
    assertUnchanged(seen, 2);
    assert.equal(seen[0]!.reqBefore, app.request);
    assert.equal(seen[0]!.resBefore, app.response);
  });
});

describe('the gateway\'s listeners use them', () => {
  const suite = useTestPki();
  const { open } = suite;

  test('HTTP: a lookup, a refused token and a 404 leave every prototype as it arrived', async () => {
    const gw = await startTestGateway();
    open.push(gw);
    const seen = watchPrototypes(gw.running.server);
    const ok = await call(gw.url, 'POST', '/v1/users/lookup', { token: await gw.token(), body: { login: 'alice@example.com' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.user.email, 'alice@example.com');
    assert.equal((await call(gw.url, 'POST', '/v1/users/lookup', { body: { login: 'alice@example.com' } })).status, 401);
    assert.equal((await call(gw.url, 'GET', '/nowhere')).status, 404);
    assertUnchanged(seen, 3);
  });

  test('HTTPS: the same', async () => {
    const gw = await startTestGateway({ config: { server: { tls: { cert_file: suite.pki.serverCertFile, key_file: suite.pki.serverKeyFile } } } as never });
    open.push(gw);
    const seen = watchPrototypes(gw.running.server);
    const body = JSON.stringify({ login: 'alice@example.com' });
    const r = await httpsCall(gw.url, 'POST', '/v1/users/lookup', { ca: suite.pki.ca, body, headers: { 'content-type': 'application/json', authorization: `Bearer ${await gw.token()}` } });
    assert.equal(r.status, 200);
    assertUnchanged(seen, 1);
  });
});
