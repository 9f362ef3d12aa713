/**
 * The README's "Running it for real" path, end to end, with the commands as the README prints them (read from
 * README.md at test time: see test/helpers/walkthrough.ts for what is read and the only substitutions made), on a real
 * WordPress wp_users table in MariaDB and a real Django auth_user table in PostgreSQL:
 *
 *   0. `--help` lists the commands (the README's `npm ci && npm run build` is not run: the test runs the build it is in);
 *   1. `check --config FILE` as the DBA (the database's owner): exit 1, "run the DDL below"; its DDL and GRANTs are
 *      applied as printed (the GRANTs' example role name replaced by a fresh database user with a password; MariaDB's
 *      GRANTs on a connection with no current database, so an unqualified GRANT fails with ERROR 1046);
 *   2. the config switched to that least-privilege user: `check` exits 0;
 *   3. `dev-issuer` started, the `auth:` block it prints pasted into the config, its printed token used;
 *   4. `serve --config FILE` started, /readyz waited for; verify (right password 200 with the profile, wrong one 401),
 *      lookup, mark (then verify 401), and `status --json` (as printed in the README's "The HTTP API", with
 *      `--config FILE`) and GET /v1/migration/status both saying migrated 1.
 *
 * The users' stored values are fixture vectors with known passwords (test/fixtures/passwords), made by independent
 * implementations. Databases are unique and dropped; child processes are always killed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { availability, createMysqlDatabase, createPostgresDatabase, lit, uniqueName, type TestDatabase } from '../helpers/databases.js';
import { call } from '../helpers/harness.js';
import { loadVectors, type Vector } from '../helpers/vectors.js';
import { argvFor, block, commandFor, commands, runChild, runningItForReal, section, serverExec, startChild, statements, type Child } from '../helpers/walkthrough.js';
import { djangoAuthUserTable, wordpressUsersTable } from '../helpers/framework-tables.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const read = (relative: string) => readFileSync(path.resolve(process.cwd(), relative), 'utf8');
const PRINTED = commands(runningItForReal(read('README.md'), read));
const CHECK = commandFor(PRINTED, 'check');
const SERVE = commandFor(PRINTED, 'serve');
const DEV_ISSUER = commandFor(PRINTED, 'dev-issuer');
const HELP = commandFor(PRINTED, '--help');
/** `GET /v1/migration/status`: "the same report as `legacy-gateway status --json`" (README, The HTTP API). */
const STATUS = commandFor(commands(section(read('README.md'), (h) => h.trim() === 'The HTTP API')?.body ?? ''), 'status');
/** A command of the path the README no longer prints fails the walkthrough: the README is the script. */
const missing = Object.entries({ '--help': HELP, check: CHECK, serve: SERVE, 'dev-issuer': DEV_ISSUER, status: STATUS }).filter(([, c]) => !c).map(([n]) => n);

const UNIX = loadVectors('unix');
const KDF = loadVectors('kdf');
function vector(list: Vector[], scheme: string): Vector {
  const v = list.find((x) => x.scheme === scheme && x.expected === true && !x.params && /^[\x21-\x7e]+$/.test(x.password));
  assert.ok(v, `no positive ${scheme} vector`);
  return v;
}

interface Case {
  kind: 'mysql' | 'postgres';
  preset: string;
  /** Table DDL and rows (as the framework creates them), the user that logs in first. */
  seed(): { sql: string[]; login: string; password: string; id: string; email: string; also?: { login: string; password: string } };
  create(): Promise<TestDatabase>;
  createUser(user: string, password: string): string;
  dropUser(user: string): string;
  /** Where a DBA runs the printed GRANTs: on the server with no current database, or in the store's database. */
  grantsIn: 'server' | 'database';
  /** The printed GRANTs' example role, as it appears in them. */
  exampleRole: string;
  role(user: string): string;
}

function withCredentials(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

const WORDPRESS: Case = {
  kind: 'mysql',
  preset: 'wordpress',
  seed() {
    const phpass = vector(UNIX, 'phpass');
    const bcrypt = vector(UNIX, 'wordpress_bcrypt');
    const row = (id: number, login: string, email: string, pass: string, name: string) =>
      `INSERT INTO wp_users (ID, user_login, user_pass, user_nicename, user_email, user_registered, display_name) VALUES (${id}, ${lit(login)}, ${lit(pass)}, ${lit(login)}, ${lit(email)}, '2020-01-02 03:04:05', ${lit(name)})`;
    return {
      sql: [
        wordpressUsersTable(),
        row(1, 'admin', 'Admin@Example.com', phpass.stored, 'Site Admin'),
        row(2, 'alice', 'alice@example.com', bcrypt.stored, 'Alice Doe'),
      ],
      login: 'Admin@Example.com',
      password: phpass.password,
      also: { login: 'alice', password: bcrypt.password },
      id: '1',
      email: 'admin@example.com',
    };
  },
  create: () => createMysqlDatabase(),
  createUser: (user, password) => `CREATE USER ${lit(user)}@'%' IDENTIFIED BY ${lit(password)}`,
  dropUser: (user) => `DROP USER IF EXISTS ${lit(user)}@'%'`,
  // As a DBA pastes them: a client connected to the server, with no current database (ERROR 1046 if unqualified).
  grantsIn: 'server',
  exampleRole: "'legacy_gateway'@'%'",
  role: (user) => `'${user}'@'%'`,
};

const DJANGO: Case = {
  kind: 'postgres',
  preset: 'django',
  seed() {
    const kdf = vector(KDF, 'django_pbkdf2_sha256');
    const row = (id: number, username: string, email: string, first: string, last: string, password: string) =>
      `INSERT INTO "auth_user" (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
       VALUES (${id}, ${lit(password)}, NULL, false, ${lit(username)}, ${lit(first)}, ${lit(last)}, ${lit(email)}, false, true, '2020-01-02 03:04:05+00')`;
    return {
      sql: [
        ...djangoAuthUserTable(),
        row(1, 'alice', 'Alice@Example.com', 'Alice', 'Doe', kdf.stored),
        row(2, 'bob', 'bob@example.com', 'Bob', 'Roe', kdf.stored),
      ],
      login: 'alice',
      password: kdf.password,
      id: '1',
      email: 'alice@example.com',
    };
  },
  create: () => createPostgresDatabase(),
  createUser: (user, password) => `CREATE ROLE "${user}" LOGIN PASSWORD ${lit(password)}`,
  dropUser: (user) => `DROP ROLE IF EXISTS "${user}"`,
  // PostgreSQL's GRANTs are schema-relative: run connected to the store's database, as check says.
  grantsIn: 'database',
  exampleRole: '"legacy_gateway"',
  role: (user) => `"${user}"`,
};

function config(file: string, adapter: string, url: string, preset: string, auth: string): void {
  writeFileSync(
    file,
    `server:\n  host: 127.0.0.1\n  port: 0\nstore:\n  adapter: ${adapter}\n  url: ${JSON.stringify(url)}\n  preset: ${preset}\n${auth}\n`,
  );
}

async function waitReady(base: string): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    const r = await call(base, 'GET', '/readyz').catch(() => undefined);
    if (r?.status === 200) return;
    if (Date.now() > until) assert.fail(`/readyz never answered 200 (last: ${r?.status} ${r?.text})`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function walk(c: Case, note: (line: string) => void): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-walk-'));
  const file = path.join(dir, 'config.yaml');
  const children: Child[] = [];
  const user = uniqueName('lg_walk');
  const db = await c.create();
  try {
    const seed = c.seed();
    await db.exec(seed.sql);
    const password = randomBytes(12).toString('hex');
    await serverExec(c.kind, [c.createUser(user, password)]);
    const gatewayUrl = withCredentials(db.url, user, password);

    // The first thing the section runs after the build: the command list names the path's commands.
    const help = await runChild(argvFor(HELP!, MAIN, {}));
    assert.equal(help.code, 0, help.stderr);
    for (const name of ['check', 'serve', 'dev-issuer', 'status']) assert.match(help.stdout, new RegExp(`\\b${name}\\b`));

    // dev-issuer, as printed; its auth block pasted into the config.
    const issuer = startChild(argvFor(DEV_ISSUER!, MAIN, {}));
    children.push(issuer);
    note(`as printed: ${DEV_ISSUER} (port 0), ${SERVE}, ${STATUS}`);
    const [, auth] = await issuer.waitFor(/\n(auth:\n[\s\S]*?)\n\s*\n/);
    const [, token] = await issuer.waitFor(/export TOKEN='([^']+)'/);
    assert.ok(auth && token);

    // 1. check as the DBA: the migration state is missing; DDL and GRANTs applied as printed.
    config(file, c.kind, db.url, c.preset, auth);
    const first = await runChild(argvFor(CHECK!, MAIN, { config: file }));
    assert.equal(first.code, 1, `check before the DDL: ${first.stdout}${first.stderr}`);
    assert.match(first.stdout, /run the DDL below/);
    const ddl = statements(block(first.stdout, 'migration state and export ledger DDL'));
    const grants = statements(block(first.stdout, 'least-privilege grants'));
    assert.ok(ddl.length >= 2 && ddl.every((s) => /^CREATE /i.test(s)), `DDL: ${ddl.join(' / ')}`);
    assert.ok(grants.length >= 3 && grants.every((g) => /^GRANT /.test(g) && g.includes(c.exampleRole)), `GRANTs: ${grants.join(' / ')}`);
    note(`as printed: ${CHECK} → ${ddl.length} DDL statements and ${grants.length} GRANTs applied`);
    await db.exec(ddl);
    const ours = grants.map((g) => `${g.replaceAll(c.exampleRole, c.role(user))};`);
    await (c.grantsIn === 'server' ? serverExec(c.kind, ours) : db.exec(ours));

    // 2. The gateway's own least-privilege user: check passes.
    config(file, c.kind, gatewayUrl, c.preset, auth);
    const second = await runChild(argvFor(CHECK!, MAIN, { config: file }));
    assert.equal(second.code, 0, `check as the gateway's user: ${second.stdout}${second.stderr}`);
    assert.doesNotMatch(second.stdout, /MORE THAN NEEDED/);

    // 3. serve, as printed.
    const server = startChild(argvFor(SERVE!, MAIN, { config: file }));
    children.push(server);
    const [, base] = await server.waitFor(/"listen":"(http:\/\/[^"]+)"/);
    await waitReady(base!);

    const ok = await call(base!, 'POST', '/v1/credentials/verify', { token, body: { login: seed.login, password: seed.password } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.user.user_id, seed.id);
    assert.equal(ok.json.user.email, seed.email);
    assert.ok(!/\$|pbkdf2|password/i.test(JSON.stringify(ok.json)), 'no hash in the profile');
    if (seed.also) {
      const other = await call(base!, 'POST', '/v1/credentials/verify', { token, body: seed.also });
      assert.equal(other.status, 200, `the second scheme verifies: ${other.text}`);
    }
    const wrong = await call(base!, 'POST', '/v1/credentials/verify', { token, body: { login: seed.login, password: `${seed.password}x` } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, 'invalid_credentials');
    const lookup = await call(base!, 'POST', '/v1/users/lookup', { token, body: { login: seed.email } });
    assert.equal(lookup.status, 200, lookup.text);
    assert.equal(lookup.json.user.user_id, seed.id);
    const mark = await call(base!, 'PUT', `/v1/users/${encodeURIComponent(ok.json.user.user_id)}/migration`, { token });
    assert.equal(mark.status, 200, mark.text);
    assert.equal(mark.json.user_id, seed.id);
    const after = await call(base!, 'POST', '/v1/credentials/verify', { token, body: { login: seed.login, password: seed.password } });
    assert.equal(after.status, 401, 'a migrated user is gone for verify');

    // 4. The status, from the CLI and from the API.
    const status = await runChild(argvFor(STATUS!, MAIN, { config: file }));
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout);
    assert.equal(report.total, 2);
    assert.equal(report.migrated, 1);
    assert.equal(report.remaining, 1);
    const api = await call(base!, 'GET', '/v1/migration/status', { token });
    assert.equal(api.status, 200, api.text);
    for (const k of ['total', 'migrated', 'exported', 'remaining']) assert.deepEqual(api.json[k], report[k], `status.${k}: API and CLI agree`);
  } finally {
    for (const child of children) await child.kill();
    await db.drop();
    await serverExec(c.kind, [c.dropUser(user)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const c of [WORDPRESS, DJANGO]) {
  describe(`README walkthrough: ${c.preset} on ${c.kind}`, { concurrency: false }, () => {
    test('check → DDL and GRANTs applied as printed → dev-issuer → serve → verify, lookup, mark, status', { timeout: 120_000 }, async (t) => {
      assert.deepEqual(missing, [], 'README.md\'s "Running it for real" (and the sections it links to) prints every command of the path');
      const down = await availability(c.kind);
      if (down) return t.skip(down);
      await walk(c, (line) => t.diagnostic(line));
    });
  });
}
