/**
 * `legacy-gateway reconcile --from FILE`: the Auth0 export readers (NDJSON, CSV with Auth0's escaping, gzip), the
 * user_id → legacy id rule, and the whole command on SQLite, PostgreSQL and MariaDB: dry run, marks, idempotence,
 * absent and skipped users, malformed lines reported with their line numbers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { createStore } from '../../../adapters/index.js';
import type { UserStore } from '../../../adapters/types.js';
import { parseConfig, type Config } from '../../../src/config.js';
import { migrationStatements } from '../../../src/dba.js';
import { UsageError } from '../../../src/operations/cli.js';
import { csvRecords, legacyIdOf, ndjsonRecords, run, type ExportRecord } from '../../../src/operations/reconcile.js';
import { runCommand, type CommandResult } from '../../helpers/auth0-standin.js';
import { availability, createMysqlDatabase, createPostgresDatabase, type TestDatabase } from '../../helpers/databases.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
// Probed before any test is declared: a top-level await between declarations lets the runner finish (and clean up)
// early.
const SKIP = { sqlite: false, postgres: await availability('postgres'), mysql: await availability('mysql') } as const;
const root = mkdtempSync(path.join(tmpdir(), 'lg-reconcile-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function* chunksOf(text: string, size = 7): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

async function collect(g: AsyncIterable<ExportRecord>): Promise<ExportRecord[]> {
  const out: ExportRecord[] = [];
  for await (const r of g) out.push(r);
  return out;
}

/** An Auth0 NDJSON export: 2 to mark, 1 pre-marked, 2 absent, 2 skipped, 2 malformed (lines 8 and 9), a blank line. */
const NDJSON = [
  '{"user_id":"auth0|legacy|1","email":"u1@example.com","identities":[{"connection":"legacy-db","provider":"auth0","user_id":"legacy|1","isSocial":false}]}',
  '{"user_id":"auth0|legacy|2","email":"u2@example.com"}',
  '',
  '{"user_id":"auth0|legacy|3","email":"u3@example.com"}',
  '{"user_id":"auth0|legacy|999","email":"ghost@example.com"}',
  '{"user_id":"google-oauth2|1234567890","email":"g@example.com"}',
  '{"user_id":"auth0|64b7f0c2a1b2c3d4e5f60718","email":"native@example.com"}',
  '{"user_id": "auth0|legacy|4", "email":',
  '{"email":"noid@example.com"}',
  '{"user_id":"auth0|legacy|01","email":"zero@example.com"}',
].join('\n') + '\n';

/**
 * The same kind of export as CSV, with Auth0's injection escaping (every string quoted and prefixed with '), a quoted
 * newline (the row of line 3 ends on line 4), and malformed rows on lines 9 (field count), 10 (text after a closing
 * quote), 11 (empty user_id) and 12 (unterminated quote).
 */
const CSV = [
  'user_id,email,name',
  `"'auth0|legacy|1","'u1@example.com","'Ann ""The"" One"`,
  `"'auth0|legacy|2","'u2@example.com","'Two`,
  `Lines"`,
  `"'auth0|legacy|3","'u3@example.com",`,
  `"'auth0|legacy|999","'ghost@example.com","'Ghost"`,
  `"'google-oauth2|1234567890","'g@example.com","'G"`,
  `"'auth0|64b7f0c2a1b2c3d4e5f60718","'native@example.com","'N"`,
  `"'auth0|legacy|4","'u4@example.com"`,
  `"'auth0|legacy|01"x,"'a@example.com","'A"`,
  `,"'noid@example.com","'No id"`,
  `"'auth0|legacy|5","'u5@example.com","'unterminated`,
].join('\r\n');

describe('Auth0 export readers', () => {
  test('NDJSON: one record per line, malformed lines with their numbers, blank lines ignored', async () => {
    const recs = await collect(ndjsonRecords(chunksOf(`\n${NDJSON}[1]\n"x"`)));
    assert.deepEqual(recs.filter((r) => r.error).map((r) => [r.line, r.error!.replace(/ \(.*/, '')]), [
      [9, 'not valid JSON'],
      [10, 'no user_id'],
      [12, 'not a JSON object'],
      [13, 'not a JSON object'],
    ]);
    assert.deepEqual(recs[0], { line: 2, userId: 'auth0|legacy|1', email: 'u1@example.com' });
    assert.equal(recs.filter((r) => r.userId).length, 7);
  });

  test('CSV: quotes, quoted newlines, CRLF, Auth0\'s leading-quote escaping; malformed rows with their first line', async () => {
    const recs = await collect(csvRecords(chunksOf(CSV, 5)));
    assert.deepEqual(recs.slice(0, 3), [
      { line: 2, userId: 'auth0|legacy|1', email: 'u1@example.com' },
      { line: 3, userId: 'auth0|legacy|2', email: 'u2@example.com' },
      { line: 5, userId: 'auth0|legacy|3', email: 'u3@example.com' },
    ]);
    assert.deepEqual(recs.filter((r) => r.error).map((r) => [r.line, r.error]), [
      [9, '2 fields where the header has 3'],
      [10, 'text after a closing quote'],
      [11, 'empty user_id'],
      [12, 'unterminated quoted field'],
    ]);
    await assert.rejects(collect(csvRecords(chunksOf('id,email\n1,a@example.com\n'))), (e: unknown) => e instanceof UsageError && /no user_id column/.test(e.message));
  });

  test('a runaway field or line is reported and skipped, memory stays bounded', async () => {
    const big = 'x'.repeat((1 << 20) + 10);
    const csv = await collect(csvRecords(chunksOf(`user_id\n"${big}\n"'auth0|7"\n`, 65536)));
    assert.match(csv[0]!.error!, /longer than/);
    assert.deepEqual(csv.at(-1), { line: 3, userId: 'auth0|7' }, 'resumes on the line after the runaway one');
    const nd = await collect(ndjsonRecords(chunksOf(`${big}\n{"user_id":"auth0|8"}\n`, 65536)));
    assert.deepEqual(nd.map((r) => r.error ? r.line : r.userId), [1, 'auth0|8']);
  });

  test('user_id → legacy id: auth0| then the configured prefix; anything else is skipped', () => {
    assert.deepEqual(legacyIdOf('auth0|legacy|42', 'legacy|'), { id: '42' });
    assert.deepEqual(legacyIdOf('auth0|42', ''), { id: '42' });
    assert.deepEqual(legacyIdOf('auth0|legacy|42', ''), { id: 'legacy|42' });
    assert.match((legacyIdOf('auth0|42', 'legacy|') as { skip: string }).skip, /no user_id prefix "legacy\|"/);
    assert.match((legacyIdOf('google-oauth2|42', '') as { skip: string }).skip, /provider google-oauth2/);
    assert.match((legacyIdOf('42', '') as { skip: string }).skip, /provider \(none\)/);
    assert.match((legacyIdOf('auth0|legacy|', 'legacy|') as { skip: string }).skip, /empty/);
  });
});

type Result = CommandResult;

async function cli(args: string[]): Promise<Result> {
  const out = await runCommand(run, args);
  assert.doesNotMatch(out.stdout + out.stderr, /\n\s+at /, 'never a stack trace');
  return out;
}

let n = 0;
function file(name: string, content: string | Buffer): string {
  const f = path.join(root, `${++n}-${name}`);
  writeFileSync(f, content);
  return f;
}

type Kind = 'sqlite' | 'postgres' | 'mysql';

function rawConfig(adapter: Kind, url: string, migration: Record<string, string>, prefix = 'legacy|') {
  return {
    auth: { issuer: 'https://issuer.example/', audience: 'aud' },
    store: { adapter, url, users: { table: 'users', columns: { id: 'id', email: 'email', password: 'password_hash' } }, migration },
    profile: { user_id_prefix: prefix },
  };
}

const SEED_IDS = [1, 2, 3, 4, 5, 6];

for (const kind of ['sqlite', 'postgres', 'mysql'] as const) {
  const skip = SKIP[kind];
  // MariaDB keeps the mark in a column of the users table; the others in the gateway's side table.
  const migration: Record<string, string> = kind === 'mysql' ? { column: 'migrated_at' } : { table: 'legacy_gateway_migrations' };
  describe(`reconcile on ${kind}`, { skip }, () => {
    let db: TestDatabase | undefined;
    let url = '';
    let config: Config;
    let configFile = '';
    let store: UserStore;
    const marked = async () => {
      const out: Record<string, string | null> = {};
      for (const id of SEED_IDS) out[id] = (await store.findById(String(id)))!.migratedAt;
      return out;
    };

    before(async () => {
      if (kind === 'sqlite') url = path.join(root, 'legacy.sqlite');
      else {
        db = kind === 'postgres' ? await createPostgresDatabase() : await createMysqlDatabase();
        url = db.url;
      }
      config = parseConfig(rawConfig(kind, url, migration), {});
      configFile = file('config.json', JSON.stringify(rawConfig(kind, url, migration)));
      const ddl = ['CREATE TABLE users (id integer PRIMARY KEY, email varchar(255), password_hash varchar(255))', ...migrationStatements(config).map((x) => x.replace(/;\s*$/, '')), `INSERT INTO users (id, email, password_hash) VALUES ${SEED_IDS.map((i) => `(${i}, 'u${i}@example.com', 'x')`).join(', ')}`];
      if (db) await db.exec(ddl);
      else {
        const s = new Database(url);
        for (const stmt of ddl) s.exec(stmt);
        s.close();
      }
      store = await createStore(config.store);
      assert.ok(await store.markMigrated('3'));
    });
    after(async () => {
      await store?.close();
      await db?.drop();
    });

    test('--dry-run shows what would change and writes nothing', async () => {
      const before = await marked();
      const r = await cli(['--config', configFile, '--from', file('users.ndjson', NDJSON), '--dry-run', '--json']);
      assert.equal(r.code, 1, 'malformed lines → exit 1');
      const out = JSON.parse(r.stdout);
      assert.equal(out.format, 'ndjson');
      assert.equal(out.dry_run, true);
      assert.deepEqual(out.counts, { records: 9, marked: 0, would_mark: 2, already_marked: 1, absent: 2, skipped: 2, malformed: 2 });
      assert.deepEqual(out.samples.would_mark.map((x: { legacy_id: string }) => x.legacy_id), ['1', '2']);
      assert.deepEqual(await marked(), before);
    });

    test('NDJSON: marks the users Auth0 has, reports absent, skipped and malformed ones with line numbers', async () => {
      const report = path.join(root, `${kind}-report.csv`);
      const r = await cli(['--config', configFile, '--from', file('export.json', NDJSON), '--report', report]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /newly marked migrated: +2\n +already marked: +1\n +absent from the legacy store: +2\n +skipped \(not legacy users\): +2\n +malformed lines: +2/);
      assert.match(r.stdout, /line 8: not valid JSON/);
      assert.match(r.stdout, /line 9: no user_id/);
      assert.match(r.stdout, /line 5: auth0\|legacy\|999 <ghost@example.com>/);
      assert.match(r.stdout, /line 10: auth0\|legacy\|01 <zero@example.com>/, "'01' does not name user 1");
      const m = await marked();
      assert.ok(m[1] && m[2] && m[3]);
      assert.equal(m[4], null, 'the malformed line marked nobody');
      assert.equal(m[5], null);
      const rows = readFileSync(report, 'utf8').trim().split('\n');
      assert.equal(rows[0], 'line,status,auth0_user_id,legacy_id,email,detail');
      assert.ok(rows.includes('"5","absent","auth0|legacy|999","999","ghost@example.com","not in the legacy store"'));
      assert.ok(rows.some((x) => x.startsWith('"1","marked","auth0|legacy|1","1","u1@example.com",')));
      assert.ok(rows.some((x) => x.startsWith('"6","skipped","google-oauth2|1234567890"')));
      assert.ok(rows.some((x) => x.startsWith('"8","malformed"')));
      assert.ok(!rows.some((x) => x.includes('"already_marked"')));
    });

    test('idempotent: the same users again (as CSV) change nothing, and it says so; first timestamps kept', async () => {
      const first = await marked();
      const r = await cli(['--config', configFile, '--from', file('export.csv', CSV), '--json']);
      const out = JSON.parse(r.stdout);
      assert.equal(out.format, 'csv');
      assert.equal(out.changed, false);
      assert.deepEqual(out.counts, { records: 10, marked: 0, would_mark: 0, already_marked: 3, absent: 1, skipped: 2, malformed: 4 });
      assert.deepEqual(out.samples.malformed.map((x: { line: number }) => x.line), [9, 10, 11, 12]);
      const again = await cli(['--config', configFile, '--from', file('export.ndjson', NDJSON)]);
      assert.match(again.stdout, /newly marked migrated: +0/);
      assert.match(again.stdout, /nothing to change/);
      assert.deepEqual(await marked(), first);
    });
  });
}

describe('reconcile: prefixes, gzip, reports and failures (SQLite)', () => {
  const url = path.join(root, 'prefix.sqlite');
  before(() => {
    const s = new Database(url);
    s.exec('CREATE TABLE users (id integer PRIMARY KEY, email text, password_hash text); CREATE TABLE legacy_gateway_migrations (user_id TEXT PRIMARY KEY, migrated_at TEXT NOT NULL)');
    s.exec("INSERT INTO users VALUES (1, 'a@example.com', 'x'), (2, 'b@example.com', 'x'), (3, 'c@example.com', 'x')");
    s.close();
  });
  const cfg = (prefix: string) => file('config.json', JSON.stringify(rawConfig('sqlite', url, { table: 'legacy_gateway_migrations' }, prefix)));
  const lines = (ids: string[]) => ids.map((id) => JSON.stringify({ user_id: id })).join('\n');

  test('no prefix configured: auth0|<id>; a prefixed id is then simply absent', async () => {
    const r = await cli(['--config', cfg(''), '--from', file('a.ndjson', lines(['auth0|1', 'auth0|legacy|2'])), '--json']);
    assert.equal(r.code, 0);
    const out = JSON.parse(r.stdout);
    assert.deepEqual([out.counts.marked, out.counts.absent], [1, 1]);
    assert.equal(out.samples.absent[0].legacy_id, 'legacy|2');
  });

  test('prefix "lg-": ids without it are skipped, not looked up; gzip files are read as such', async () => {
    const gz = file('export.json.gz', gzipSync(lines(['auth0|lg-2', 'auth0|2', 'samlp|acme|lg-3'])));
    const report = path.join(root, 'prefix-report.ndjson');
    const r = await cli(['--config', cfg('lg-'), '--from', gz, '--json', '--report', report]);
    assert.equal(r.code, 0);
    const out = JSON.parse(r.stdout);
    assert.deepEqual([out.counts.marked, out.counts.skipped], [1, 2]);
    const rows = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((x) => [x.line, x.status, x.legacy_id]), [[1, 'marked', '2'], [2, 'skipped', ''], [3, 'skipped', '']]);
    assert.match(rows[1].detail, /no user_id prefix "lg-"/);
  });

  test('format sniffed from content when the name says nothing; JSON report is one array', async () => {
    const report = path.join(root, 'r.json');
    const r = await cli(['--config', cfg(''), '--from', file('export.txt', lines(['auth0|3', 'auth0|77'])), '--report', report, '--json']);
    assert.equal(JSON.parse(r.stdout).format, 'ndjson');
    const rows = JSON.parse(readFileSync(report, 'utf8'));
    assert.deepEqual(rows.map((x: { status: string }) => x.status), ['marked', 'absent']);
    const csv = await cli(['--config', cfg(''), '--from', file('export.dat', 'user_id\n"\'auth0|3"\n'), '--json']);
    assert.deepEqual([JSON.parse(csv.stdout).format, JSON.parse(csv.stdout).counts.already_marked], ['csv', 1]);
  });

  test('every user absent or skipped: a hint about profile.user_id_prefix', async () => {
    const r = await cli(['--config', cfg('nope|'), '--from', file('x.ndjson', lines(['auth0|1', 'auth0|2']))]);
    assert.match(r.stdout, /every user was skipped: check profile.user_id_prefix/);
  });

  test('usage problems are UsageErrors (exit 2), a store that fails stops with a clear message (exit 1)', async () => {
    const c = cfg('');
    await assert.rejects(cli(['--config', c]), /needs --from FILE/);
    await assert.rejects(cli(['--config', c, '--from', path.join(root, 'missing.ndjson')]), /cannot read \(ENOENT\)/);
    await assert.rejects(cli(['--config', c, '--from', root]), /cannot read \(EISDIR\)/);
    await assert.rejects(cli(['--config', c, '--from', file('a.csv', 'x'), '--format', 'xml']), /--format must be ndjson or csv/);
    await assert.rejects(cli(['--config', c, '--from', file('a.csv', 'x'), '--report', 'r.txt']), /--report FILE must end in/);
    await assert.rejects(cli(['--config', c, '--from', file('a.csv', 'email\nx@example.com\n')]), /no user_id column/);
    await assert.rejects(cli(['--config', c, '--from', file('b.json.gz', Buffer.from([0x1f, 0x8b, 1, 2, 3]))]), /not a valid gzip file/);
    const broken = file('broken.json', JSON.stringify(rawConfig('sqlite', path.join(root, 'no-such-dir', 'x.sqlite'), { table: 'legacy_gateway_migrations' }, '')));
    const r = await cli(['--config', broken, '--from', file('a.ndjson', lines(['auth0|1']))]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /reconcile: stopped: .*\nreconcile: marks already written are kept/);
  });
});
