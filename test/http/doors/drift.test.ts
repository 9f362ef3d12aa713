/**
 * The front doors and openapi.yaml: the routes each door registers are exactly the spec's operations under its
 * mount, every door operation is authenticated by its own scheme (never the /v1 bearer token), documents 401 and
 * 503 where the door can answer them, and with no door configured every /v1/idp path is 404 without a token check.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Router } from 'express';
import { parseConfig } from '../../../src/config.js';
import type { Gateway } from '../../../src/gateway.js';
import { frontDoors, IDP_MOUNT } from '../../../src/http/doors/index.js';
import { createLogger } from '../../../src/logger.js';
import { startTestGateway } from '../../helpers/harness.js';
import { operations, raw, spec } from '../../helpers/openapi.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lg-drift-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function allDoorsConfig() {
  const keyFile = path.join(dir, 'entra.pem');
  writeFileSync(keyFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const secret = 'a-door-secret-0123456789';
  const jwt = { issuer: 'https://login.example.com/tenant/v2.0', audience: 'api://legacy-gateway' };
  return parseConfig(
    {
      auth: { issuer: 'https://issuer.example.com/', audience: 'https://legacy-gateway.example.com' },
      store: { adapter: 'sqlite', url: path.join(dir, 'x.sqlite'), users: { table: 'users', columns: { id: 'id', email: 'email', password: 'password_hash' } } },
      front_doors: {
        okta: { auth: { header: { name: 'Authorization', value: secret } }, events: { auth: { header: { name: 'Authorization', value: secret } } } },
        kratos: { auth: { header: { name: 'X-Api-Key', value: secret } } },
        keycloak: { auth: { bearer: secret } },
        fusionauth: { auth: { basic: { username: 'fa', password: secret } }, uuid_namespace: '6ba7b811-9dad-11d1-80b4-00c04fd430c8' },
        azure_b2c: { auth: { bearer: secret } },
        entra: { auth: { jwt }, decryption_key_file: keyFile },
      },
    },
    {},
  );
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
}

function routesOf(router: Router, mount: string): string[] {
  const out: string[] = [];
  for (const layer of (router as unknown as { stack: Layer[] }).stack) {
    if (!layer.route) continue;
    const p = layer.route.path.replace(/:(\w+)/g, '{$1}');
    for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') out.push(`${m.toUpperCase()} ${mount}${p}`);
  }
  return out.sort();
}

test('every configured door registers exactly the spec operations under its mount (path parameters by position)', () => {
  const config = allDoorsConfig();
  const doors = frontDoors({ gateway: { as: () => ({}) } as unknown as Gateway, logger: createLogger('silent'), config });
  assert.deepEqual(doors.map((d) => d.key).sort(), ['azure_b2c', 'entra', 'fusionauth', 'keycloak', 'kratos', 'okta']);
  const normalise = (s: string) => s.replace(/\{[^}]+\}/g, '{}');
  const code = doors.flatMap((d) => routesOf(d.router, d.mount)).map(normalise).sort();
  const documented = operations().filter((o) => o.template.startsWith(`${IDP_MOUNT}/`)).map((o) => normalise(`${o.method} ${o.template}`)).sort();
  assert.deepEqual(code, documented);
});

test('every door operation: tag front-doors, its own security scheme(s) (never the /v1 bearer token), 401 documented', () => {
  const schemes = spec.components.securitySchemes as Record<string, unknown>;
  for (const o of operations().filter((x) => x.template.startsWith(`${IDP_MOUNT}/`))) {
    const what = `${o.method} ${o.template}`;
    assert.deepEqual(o.op.tags, ['front-doors'], what);
    assert.ok(Array.isArray(o.op.security) && o.op.security.length > 0, `${what}: security`);
    for (const req of o.op.security as Record<string, unknown>[]) {
      for (const name of Object.keys(req)) {
        assert.ok(!['bearerAuth', 'oauth2'].includes(name), `${what}: the /v1 token scheme ${name}`);
        assert.ok(name in schemes, `${what}: security scheme ${name} is defined`);
      }
    }
    assert.ok(o.op.responses['401'], `${what}: documents 401`);
    assert.equal(o.op['x-required-scope'], undefined, `${what}: no scope`);
  }
});

test('with no door configured, every /v1/idp path is 404 not_found before any token check', async () => {
  const gw = await startTestGateway({ logLevel: 'fatal' });
  try {
    for (const o of operations().filter((x) => x.template.startsWith(`${IDP_MOUNT}/`))) {
      const p = o.template.replace(/\{[^}]+\}/g, 'x');
      const r = await raw(gw.url, o.method, p, { body: '{}', headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 404, `${o.method} ${p}: ${r.text}`);
      assert.equal((r.json as { error?: string })?.error, 'not_found');
      assert.equal(r.headers.get('www-authenticate'), null, 'no token challenge');
    }
  } finally {
    await gw.close();
  }
});
