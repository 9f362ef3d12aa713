/** The `legacy-gateway` executable, run as a child process exactly as an operator would. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sinkLog } from '../helpers/logsink.js';
import { promisify } from 'node:util';
import { createDemoDatabase } from '../../src/demo.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), 'lg-main-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await run(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** Start a long-running command; resolve once stdout matches `ready`. */
function start(args: string[], ready: RegExp, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  // A serving gateway's output is its log, collected for the end-of-run scan (demo prints a token on purpose).
  const sink = args[0] === 'serve' ? sinkLog : () => {};
  child.stdout.on('data', (d: Buffer) => sink(d.toString()));
  child.stderr.on('data', (d: Buffer) => sink(d.toString()));
  const started = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready:\n${out}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
  return { child, started, output: () => out };
}

describe('hash identify', () => {
  test('names the scheme of a stored value, and says unknown (exit 1) otherwise', async () => {
    const b = await cli(['hash', 'identify', '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy']);
    assert.equal(b.code, 0);
    assert.match(b.stdout, /^bcrypt$/m);
    const d = await cli(['hash', 'identify', 'pbkdf2_sha256$260000$salt$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=']);
    assert.match(d.stdout, /django_pbkdf2_sha256/);
    const u = await cli(['hash', 'identify', 'not a hash']);
    assert.equal(u.code, 1);
    assert.match(u.stdout, /unknown/);
  });
});

describe('serve', () => {
  test('an invalid config reports every problem with its path and exits non-zero without listening', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'auth:\n  issuer: not-a-url\nstore:\n  adapter: sqlite\n  url: ${LEGACY_DB_URL}\n  users:\n    table: "users; DROP TABLE x"\n    columns: { id: id }\npasswords: { scheme: md6 }\n');
    const r = await cli(['serve', '--config', file]);
    assert.notEqual(r.code, 0);
    for (const p of ['auth.issuer', 'auth.audience: required', 'store.url: environment variable LEGACY_DB_URL is not set', 'store.users.table', 'store.users.columns.password: required', 'store.users.columns.email: required', 'passwords.scheme: unknown scheme "md6"']) {
      assert.ok(r.stderr.includes(p), `missing "${p}" in:\n${r.stderr}`);
    }
    assert.equal(r.stdout.includes('listening'), false);
  });

  test('an unknown scheme name is a start-up error', async () => {
    const db = path.join(dir, 'ok.sqlite');
    createDemoDatabase(db);
    const file = path.join(dir, 'scheme.yaml');
    writeFileSync(file, `auth: { issuer: "https://issuer.example/", audience: aud }\nstore:\n  adapter: sqlite\n  url: ${db}\n  users: { table: users, columns: { id: id, email: email, password: password_hash } }\npasswords: { scheme: md6 }\n`);
    const r = await cli(['serve', '--config', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /passwords\.scheme: unknown scheme "md6"/);
  });

  test('a valid config from LEGACY_GATEWAY_CONFIG listens and serves /healthz; ${ENV} reaches the config', async () => {
    const db = path.join(dir, 'serve.sqlite');
    createDemoDatabase(db);
    const file = path.join(dir, 'good.yaml');
    writeFileSync(file, 'server: { host: 127.0.0.1, port: 0 }\nauth: { issuer: "https://issuer.example/", audience: aud }\nstore:\n  adapter: sqlite\n  url: ${LEGACY_DB_URL}\n  users: { table: users, columns: { id: id, email: email, password: password_hash } }\n');
    const s = start(['serve'], /"msg":"legacy-gateway listening"/, { LEGACY_GATEWAY_CONFIG: file, LEGACY_DB_URL: db });
    try {
      const out = await s.started;
      const url = /"listen":"([^"]+)"/.exec(out)![1]!;
      const r = await fetch(`${url}/healthz`);
      assert.equal(r.status, 200);
      const v = await fetch(`${url}/v1/migration/status`);
      assert.equal(v.status, 401, 'no token, no entry');
    } finally {
      s.child.kill('SIGTERM');
    }
  });
});

describe('serve: memory after a load', () => {
  test('once idle, the process gives back the young generation it grew (one debug line says so, with the sizes)', async () => {
    const db = path.join(dir, 'idle.sqlite');
    createDemoDatabase(db);
    const file = path.join(dir, 'idle.yaml');
    writeFileSync(file, `server: { host: 127.0.0.1, port: 0 }\nauth: { issuer: "https://issuer.example/", audience: aud }\nlog: { level: debug }\nstore:\n  adapter: sqlite\n  url: ${db}\n  users: { table: users, columns: { id: id, email: email, password: password_hash } }\n`);
    const s = start(['serve', '--config', file], /"msg":"legacy-gateway listening"/);
    try {
      const out = await s.started;
      const url = /"listen":"([^"]+)"/.exec(out)![1]!;
      // A little load, then nothing: start-up and these requests leave V8's young generation grown (16 MB or more).
      for (let i = 0; i < 200; i++) assert.equal((await fetch(`${url}/healthz`)).status, 200);
      type Collected = { heap_mb_before: number; heap_mb_after: number; young_mb_after: number; ms: number };
      const collected = () => s.output().split('\n').filter((l) => l.includes('"msg":"idle: memory given back"')).map((l) => JSON.parse(l) as Collected);
      const deadline = Date.now() + 30_000;
      while (!collected().some((e) => e.young_mb_after <= 4) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      const all = collected();
      assert.ok(all.length > 0, 'no idle collection within 30 s');
      assert.ok(all[0]!.heap_mb_after < all[0]!.heap_mb_before, `heap ${all[0]!.heap_mb_before} -> ${all[0]!.heap_mb_after} MB`);
      assert.ok(all.some((e) => e.young_mb_after <= 4), `young generation left at ${all.map((e) => e.young_mb_after).join(', ')} MB`);
      assert.ok(all.length <= 3, 'at most three collections in one idle stretch');
    } finally {
      s.child.kill('SIGTERM');
    }
  });
});

describe('serve: shutdown', () => {
  test('SIGTERM with an idle keep-alive client and a silent pre-opened connection exits 0 at once', async () => {
    const db = path.join(dir, 'sigterm.sqlite');
    createDemoDatabase(db);
    const file = path.join(dir, 'sigterm.yaml');
    writeFileSync(file, `server: { host: 127.0.0.1, port: 0 }\nauth: { issuer: "https://issuer.example/", audience: aud }\nstore:\n  adapter: sqlite\n  url: ${db}\n  users: { table: users, columns: { id: id, email: email, password: password_hash } }\n`);
    const s = start(['serve', '--config', file], /"msg":"legacy-gateway listening"/);
    const agent = new Agent({ keepAlive: true });
    let silent: Socket | undefined;
    try {
      const out = await s.started;
      const url = new URL(/"listen":"([^"]+)"/.exec(out)![1]!);
      await new Promise<void>((resolve, reject) => {
        get(`${url.origin}/healthz`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        }).on('error', reject);
      });
      silent = connect(Number(url.port), '127.0.0.1');
      silent.on('error', () => undefined);
      await new Promise((resolve) => silent!.once('connect', resolve));
      const exited = new Promise<number | null>((resolve) => s.child.once('exit', (code) => resolve(code)));
      const t0 = Date.now();
      s.child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 8000))]);
      const ms = Date.now() - t0;
      assert.equal(code, 0, `exit: ${code}\n${s.output()}`);
      assert.ok(ms < 2000, `exit took ${ms} ms`);
    } finally {
      agent.destroy();
      silent?.destroy();
      s.child.kill('SIGKILL');
    }
  });

  test('an http:// issuer is a start-up error without auth.allow_insecure_http', async () => {
    const db = path.join(dir, 'insecure.sqlite');
    createDemoDatabase(db);
    const file = path.join(dir, 'insecure.yaml');
    writeFileSync(file, `server: { host: 127.0.0.1, port: 0 }\nauth: { issuer: "http://127.0.0.1:9/", audience: aud }\nstore:\n  adapter: sqlite\n  url: ${db}\n  users: { table: users, columns: { id: id, email: email, password: password_hash } }\n`);
    const r = await cli(['serve', '--config', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /auth\.issuer: must be an https:\/\/ URL.*allow_insecure_http/);
    assert.equal(r.stdout.includes('listening'), false);
  });
});

describe('demo', () => {
  test('the printed curl verifies a demo user with the printed token, on loopback only', async () => {
    const s = start(['demo', '--port', '0', '--dir', path.join(dir, 'demo')], /Ctrl-C to stop/);
    try {
      const out = await s.started;
      assert.match(out, /DEMO MODE — not for production/);
      const token = /export TOKEN='([^']+)'/.exec(out)![1]!;
      const curl = /curl -s -X POST (http:\/\/127\.0\.0\.1:\d+)\/v1\/credentials\/verify .* -d '([^']+)'/.exec(out)!;
      const r = await fetch(`${curl[1]}/v1/credentials/verify`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: curl[2],
      });
      assert.equal(r.status, 200);
      const body = (await r.json()) as { user: { email: string } };
      assert.equal(body.user.email, 'alice@example.com');
    } finally {
      s.child.kill('SIGTERM');
    }
  });
});
