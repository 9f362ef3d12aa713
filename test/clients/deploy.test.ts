/**
 * clients/auth0-deploy/: the kit in the Deploy CLI's directory format.
 *
 * 1. It is exactly what scripts/auth0-deploy-layout.ts builds from clients/auth0/ (one copy of each script: a change in
 *    clients/auth0/ without regenerating fails here).
 * 2. auth0-deploy-cli (the npm package, a devDependency) loads it with its own directory parser — keyword replacement
 *    with the example mappings included — and its own validation (the ajv schema of every resource type and each
 *    handler's checks) passes, offline: the Management API client handed to it throws on any use, and none happens.
 * 3. What it loaded is the kit: the scripts and Actions byte for byte, "Use my own database" and "Import Users to Auth0"
 *    on, the configuration and secrets the files document, every secret a placeholder, the post-login bindings, the API
 *    with the gateway's scopes, the M2M application and its grant.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ACTION_NAMES, API_NAME, API_SCOPES, deployLayout, GRANTED_SCOPES, listFiles, M2M_CLIENT } from '../../scripts/auth0-deploy-layout.js';
import { KIT, ROOT } from './kit.js';

process.env.AUTH0_LOG ??= 'warn';
const require = createRequire(import.meta.url);
type Assets = Record<string, any>;
const DirectoryContext = require('auth0-deploy-cli/lib/context/directory/index.js').default as new (config: Record<string, unknown>, client: unknown) => {
  assets: Assets;
  loadAssetsFromLocal(): Promise<void>;
};
const Auth0 = require('auth0-deploy-cli/lib/tools/auth0/index.js').default as new (client: unknown, assets: Assets, config: (k: string) => unknown) => {
  validate(): Promise<void>;
  runStage(stage: 'validate'): Promise<void>;
};

const DEPLOY = path.join(ROOT, 'clients', 'auth0-deploy');
const example = JSON.parse(readFileSync(path.join(DEPLOY, 'config.example.json'), 'utf8')) as Record<string, any>;
const mappings = example.AUTH0_KEYWORD_REPLACE_MAPPINGS as Record<string, string>;

/** A Management API client that records and refuses every use: the proof that loading and validating stay offline. */
function offlineClient(calls: string[]): unknown {
  const refuse = (name: string) => {
    calls.push(name);
    throw new Error(`offline: ${name}`);
  };
  return new Proxy({}, {
    get: (_t, group) =>
      group === 'then'
        ? undefined
        : new Proxy(() => refuse(String(group)), { get: (_f, op) => (op === 'then' ? undefined : () => refuse(`${String(group)}.${String(op)}`)) }),
  });
}

async function load(dir: string, config: Record<string, unknown> = {}) {
  const calls: string[] = [];
  const full: Record<string, unknown> = { ...example, ...config, AUTH0_INPUT_FILE: dir };
  const ctx = new DirectoryContext(full, offlineClient(calls));
  await ctx.loadAssetsFromLocal();
  const tools = () => new Auth0(offlineClient(calls), ctx.assets, (k) => full[k]);
  return {
    assets: ctx.assets,
    calls,
    /** The Deploy CLI's own validate(): its ajv schema (compiled anew on every call: ~10-20 s here), then each handler's checks. */
    validate: () => tools().validate(),
    /** The same two checks, with the schema compiled once (for the negative cases). */
    async validateFast() {
      const nonNull = Object.fromEntries(Object.entries(ctx.assets).filter(([, v]) => v !== null && v !== undefined));
      if (!schemaCheck()(nonNull)) throw new Error(`Schema validation failed loading ${JSON.stringify(schemaCheck().errors)}`);
      await tools().runStage('validate');
    },
  };
}

/** The Deploy CLI's schema, compiled once with the CLI's own ajv and options (as its validate() does every time). */
let compiled: ((data: unknown) => boolean) & { errors?: unknown } | undefined;
function schemaCheck() {
  if (!compiled) {
    const Ajv = require('auth0-deploy-cli/node_modules/ajv/lib/ajv') as new (opts: Record<string, unknown>) => { compile(s: unknown): (data: unknown) => boolean };
    compiled = new Ajv({ useDefaults: true, nullable: true }).compile(require('auth0-deploy-cli/lib/tools/auth0/schema.js').default);
  }
  return compiled;
}

describe('clients/auth0-deploy (the Deploy CLI directory format)', () => {
  test('is exactly what scripts/auth0-deploy-layout.ts builds from clients/auth0/ (regenerate it after a change)', () => {
    const built = deployLayout(ROOT);
    assert.deepEqual(listFiles(DEPLOY), [...built.keys()].sort());
    for (const [rel, content] of built) assert.equal(readFileSync(path.join(DEPLOY, rel), 'utf8'), content, `${rel} is stale: node dist/scripts/auth0-deploy-layout.js`);
  });

  test('every placeholder in the tree has a mapping in config.example.json, and every mapping is used', () => {
    const used = new Set<string>();
    for (const rel of listFiles(DEPLOY)) for (const m of readFileSync(path.join(DEPLOY, rel), 'utf8').matchAll(/##([A-Z0-9_]+)##/g)) used.add(m[1]!);
    assert.deepEqual([...used].sort(), Object.keys(mappings).sort());
  });

  test('auth0-deploy-cli parses it and its own validation passes, offline', async () => {
    const { assets, calls, validate } = await load(path.join(DEPLOY, 'tenant'));
    await validate();
    assert.deepEqual(calls, [], 'no Management API call');
    const types = Object.keys(assets).filter((k) => assets[k] !== null && !['exclude', 'include'].includes(k)).sort();
    assert.deepEqual(types, [...example.AUTH0_INCLUDED_ONLY].sort(), 'exactly the resource types the example configuration deploys');
  });

  test('what it loads is the kit: connection, scripts, configuration, Actions, bindings, API, application, grant', async () => {
    const { assets } = await load(path.join(DEPLOY, 'tenant'));
    const [db, ...moreDbs] = assets.databases;
    assert.equal(moreDbs.length, 0);
    assert.equal(db.name, mappings.LEGACY_CONNECTION);
    assert.equal(db.strategy, 'auth0');
    assert.equal(db.options.enabledDatabaseCustomization, true, '"Use my own database"');
    assert.equal(db.options.import_mode, true, '"Import Users to Auth0"');
    assert.deepEqual(Object.keys(db.options.customScripts).sort(), ['get_user', 'login']);
    assert.equal(db.options.customScripts.login, KIT.login);
    assert.equal(db.options.customScripts.get_user, KIT.getUser);
    const scriptKeys = ['AUTH0_DOMAIN', 'GATEWAY_URL', 'GATEWAY_AUDIENCE', 'GATEWAY_CLIENT_ID', 'GATEWAY_CLIENT_SECRET'];
    assert.deepEqual(db.options.configuration, Object.fromEntries(scriptKeys.map((k) => [k, mappings[k]])));

    const actions = new Map<string, Assets>(assets.actions.map((a: Assets) => [a.name, a]));
    assert.deepEqual([...actions.keys()].sort(), [ACTION_NAMES.deny, ACTION_NAMES.mark].sort());
    assert.equal(actions.get(ACTION_NAMES.mark)!.code, KIT.markMigrated);
    assert.equal(actions.get(ACTION_NAMES.deny)!.code, KIT.denyAudience);
    for (const a of actions.values()) {
      assert.deepEqual(a.supported_triggers, [{ id: 'post-login', version: 'v3' }]);
      for (const s of a.secrets) assert.equal(s.value, mappings[s.name], `${a.name}: ${s.name}`);
    }
    const markSecrets = actions.get(ACTION_NAMES.mark)!.secrets.map((s: Assets) => s.name);
    for (const s of [...markSecrets, ...scriptKeys]) {
      assert.ok(KIT.markMigrated.includes(`secrets.${s}`) || KIT.markMigrated.includes(`'${s}'`) || KIT.login.includes(`'${s}'`), `${s} is read by the kit`);
    }
    assert.deepEqual(assets.triggers['post-login'].map((b: Assets) => b.action_name), [ACTION_NAMES.deny, ACTION_NAMES.mark], 'deny first, then mark');

    const [api] = assets.resourceServers;
    assert.equal(api.name, API_NAME);
    assert.equal(api.identifier, mappings.GATEWAY_AUDIENCE);
    assert.deepEqual(api.scopes.map((s: Assets) => s.value).sort(), ['migrate:users', 'read:migration', 'read:users', 'verify:credentials']);
    assert.deepEqual(api.scopes, API_SCOPES);
    const [client] = assets.clients;
    assert.equal(client.name, M2M_CLIENT);
    assert.equal(client.app_type, 'non_interactive');
    assert.deepEqual(client.grant_types, ['client_credentials']);
    const [grant] = assets.clientGrants;
    assert.equal(grant.client_id, M2M_CLIENT, 'the grant names the application (the Deploy CLI resolves it to its id)');
    assert.equal(grant.audience, api.identifier);
    assert.deepEqual(grant.scope, GRANTED_SCOPES);
    for (const s of grant.scope) assert.ok(api.scopes.some((x: Assets) => x.value === s), s);
  });

  test('no secret value in the tree: Action secrets and connection configuration are placeholders only', () => {
    const tenant = path.join(DEPLOY, 'tenant');
    const values: [string, unknown][] = [];
    for (const rel of listFiles(tenant).filter((f) => f.endsWith('.json'))) {
      const doc = JSON.parse(readFileSync(path.join(tenant, rel), 'utf8')) as Assets;
      for (const s of doc.secrets ?? []) values.push([`${rel} ${s.name}`, s.value]);
      for (const [k, v] of Object.entries(doc.options?.configuration ?? {})) values.push([`${rel} ${k}`, v]);
    }
    assert.equal(values.length, 1 + 7 + 5);
    for (const [where, v] of values) assert.match(String(v), /^##[A-Z0-9_]+##$/, where);
  });

  test('the validation is live: a broken copy of the tree is refused', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lg-deploy-'));
    try {
      const built = deployLayout(ROOT);
      const { mkdirSync, writeFileSync } = await import('node:fs');
      for (const [rel, content] of built) {
        const file = path.join(dir, rel);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, content);
      }
      const grantFile = path.join(dir, 'tenant', 'grants', `${M2M_CLIENT}-${API_NAME}.json`);
      writeFileSync(grantFile, JSON.stringify({ audience: '##GATEWAY_AUDIENCE##', scope: GRANTED_SCOPES }));
      await assert.rejects((await load(path.join(dir, 'tenant'))).validateFast(), /client_id/);
      writeFileSync(grantFile, built.get(`tenant/grants/${M2M_CLIENT}-${API_NAME}.json`)!);
      const dbFile = path.join(dir, 'tenant', 'database-connections', 'legacy-users', 'database.json');
      writeFileSync(dbFile, built.get('tenant/database-connections/legacy-users/database.json')!.replace('"strategy": "auth0"', '"strategy": "oidc"'));
      await assert.rejects((await load(path.join(dir, 'tenant'))).validateFast(), /Schema validation failed/);
      writeFileSync(dbFile, built.get('tenant/database-connections/legacy-users/database.json')!);
      await (await load(path.join(dir, 'tenant'))).validateFast();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
