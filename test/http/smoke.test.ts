import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';

let gw: TestGateway;
before(async () => {
  gw = await startTestGateway();
});
after(async () => gw.close());

test('verify a demo user', async () => {
  const r = await call(gw.url, 'POST', '/v1/credentials/verify', { token: await gw.token(), body: { login: 'alice', password: 'correct horse battery staple' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.user.user_id, 'legacy|1');
});
