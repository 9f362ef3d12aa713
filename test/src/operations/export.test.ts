/**
 * `legacy-gateway export --target auth0`, end to end on real SQLite, PostgreSQL and MariaDB stores seeded with one user
 * per password scheme of test/fixtures/passwords (the first correct vector of each scheme that needs no global
 * passwords.params), plus planted cases: migrated users, case-insensitive duplicate emails and usernames, a user Auth0
 * would refuse, a reserved app_metadata key, cleartext and missing passwords.
 *
 * Every emitted record is validated with ajv against Auth0's user-import schema (test/fixtures/auth0/, a byte-identical
 * copy of the schema on Auth0's bulk-import schema page; see ./auth0/schema.ts), and every emitted custom_password_hash
 * is re-verified with the user's known password through test/helpers/auth0-hash-verify.ts, an implementation of Auth0's
 * documented semantics that shares no code with the exporter.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { createStore } from '../../../adapters/index.js';
import { parseConfig } from '../../../src/config.js';
import type { CliIO } from '../../../src/operations/cli.js';
import { UsageError } from '../../../src/operations/cli.js';
import { readAhead, run, type ExportSummary } from '../../../src/operations/export.js';
import { auth0Verify, type CustomPasswordHash } from '../../helpers/auth0-hash-verify.js';
import { availability, createMysqlDatabase, createPostgresDatabase, lit, type TestDatabase } from '../../helpers/databases.js';
import { oneVectorPerScheme } from '../../helpers/vectors.js';
import { importRecordErrors } from './auth0/schema.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const work = mkdtempSync(path.join(tmpdir(), 'lg-export-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Schemes Auth0 can't verify, as this test reads Auth0's documentation (see auth0/hash.test.ts for the full table). */
const NOT_IMPORTABLE = new Set([
  'md5_crypt', 'apr_md5_crypt', 'sha256_crypt', 'sha512_crypt', 'des_crypt', 'bsdi_crypt', 'phpass', 'drupal7',
  'drupal7_upgraded', 'wordpress_bcrypt', 'bcrypt_sha256', 'django_bcrypt_sha256', 'mysql41', 'mysql323', 'plaintext',
  'django_disabled', 'firebase_scrypt',
  'postgres_scram_sha256', 'symfony_sha512', 'authlogic_sha512',
]);

interface Seed {
  id: number;
  email: string | null;
  username: string | null;
  password_hash: string | null;
  salt?: string | null;
  password_scheme?: string | null;
  email_confirmed?: boolean | null;
  full_name?: string | null;
  is_disabled?: boolean;
  plan?: string | null;
  metadata?: string | null;
  migrated_at?: string | null;
  /** Test bookkeeping, not a column. */
  known?: string;
}

/** One user per scheme (first correct vector without global params) and the planted cases. */
function seedUsers(): Seed[] {
  const users: Seed[] = [];
  for (const v of oneVectorPerScheme()) {
    const id = users.length + 1;
    users.push({
      id,
      email: `User${id}@Example.com`,
      username: v.row?.username ?? `user${id}`,
      password_hash: v.stored,
      salt: v.row?.salt ?? null,
      password_scheme: v.scheme,
      email_confirmed: id % 2 === 0,
      full_name: `User ${id}`,
      known: v.password,
    });
  }
  const bcrypt = '$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K'; // Auth0's published vector: "hello"
  users.push(
    { id: 1001, email: 'dup@example.com', username: 'dupuser', password_hash: bcrypt, known: 'hello', plan: 'gold' },
    { id: 1002, email: 'DUP@Example.com', username: 'other', password_hash: bcrypt, known: 'hello' },
    { id: 1003, email: 'third@example.com', username: 'DupUser', password_hash: bcrypt, known: 'hello' },
    { id: 1004, email: 'migrated@example.com', username: 'migrated', password_hash: bcrypt, migrated_at: '2024-05-01 10:00:00' },
    { id: 1005, email: null, username: 'noemail', password_hash: bcrypt },
    { id: 1006, email: 'reserved@example.com', username: 'reserved', password_hash: bcrypt, known: 'hello', metadata: 'x', is_disabled: true },
    { id: 1007, email: 'nopassword@example.com', username: 'nopassword', password_hash: null },
    { id: 1008, email: 'unknown@example.com', username: 'unknown', password_hash: 'not a recognisable hash' },
  );
  return users;
}

const COLUMNS = ['id', 'email', 'username', 'password_hash', 'salt', 'password_scheme', 'email_confirmed', 'full_name', 'is_disabled', 'plan', 'metadata', 'migrated_at'] as const;

const DDL = {
  sqlite: [
    `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT, salt TEXT, password_scheme TEXT,
      email_confirmed INTEGER, full_name TEXT, is_disabled INTEGER NOT NULL DEFAULT 0, plan TEXT, metadata TEXT, migrated_at TEXT)`,
    'CREATE TABLE legacy_gateway_exports (user_id TEXT PRIMARY KEY, exported_at TEXT NOT NULL)',
  ],
  postgres: [
    `CREATE TABLE users (id integer PRIMARY KEY, email text, username text, password_hash text, salt text, password_scheme text,
      email_confirmed boolean, full_name text, is_disabled boolean NOT NULL DEFAULT false, plan text, metadata text, migrated_at timestamptz)`,
    'CREATE TABLE legacy_gateway_exports (user_id varchar(255) PRIMARY KEY, exported_at timestamptz NOT NULL)',
  ],
  mysql: [
    `CREATE TABLE users (id INT PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT, salt TEXT, password_scheme TEXT,
      email_confirmed BOOLEAN, full_name TEXT, is_disabled BOOLEAN NOT NULL DEFAULT FALSE, plan TEXT, metadata TEXT, migrated_at DATETIME(3)) ENGINE=InnoDB`,
    'CREATE TABLE legacy_gateway_exports (user_id VARCHAR(255) PRIMARY KEY, exported_at DATETIME(3) NOT NULL) ENGINE=InnoDB',
  ],
};

function inserts(users: Seed[]): string[] {
  return users.map((u) => `INSERT INTO users (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => lit(c === 'is_disabled' ? (u.is_disabled ?? false) : u[c])).join(', ')})`);
}

type Kind = keyof typeof DDL;

interface Target {
  kind: Kind;
  url: string;
  drop(): Promise<void>;
}

async function sqliteTarget(statements: string[]): Promise<Target> {
  const file = path.join(mkdtempSync(path.join(work, 'db-')), 'legacy.sqlite');
  const db = new Database(file);
  for (const s of statements) db.exec(s);
  db.close();
  return { kind: 'sqlite', url: file, drop: async () => rmSync(path.dirname(file), { recursive: true, force: true }) };
}

async function serverTarget(kind: 'postgres' | 'mysql', statements: string[]): Promise<Target> {
  const db: TestDatabase = kind === 'postgres' ? await createPostgresDatabase() : await createMysqlDatabase();
  try {
    await db.exec(statements);
  } catch (e) {
    await db.drop();
    throw e;
  }
  return { kind, url: db.url, drop: () => db.drop() };
}

function storeConfig(t: Target, table = 'users') {
  return {
    auth: { issuer: 'https://issuer.example/', audience: 'aud' },
    store: {
      adapter: t.kind,
      url: t.url,
      users: {
        table,
        columns: {
          id: 'id', email: 'email', username: 'username', password: 'password_hash', salt: 'salt', password_scheme: 'password_scheme',
          email_verified: 'email_confirmed', name: 'full_name', blocked: 'is_disabled',
        },
        app_metadata: ['plan', 'metadata'],
      },
      migration: { column: 'migrated_at' },
    },
    profile: { user_id_prefix: 'legacy|' },
  };
}

function writeConfig(t: Target, table?: string): string {
  const file = path.join(mkdtempSync(path.join(work, 'cfg-')), 'config.json');
  writeFileSync(file, JSON.stringify(storeConfig(t, table))); // JSON is YAML
  return file;
}

function sink(): Writable & { text: string } {
  const s = new Writable({
    write(chunk, _enc, cb) {
      s.text += String(chunk);
      cb();
    },
  }) as Writable & { text: string };
  s.text = '';
  return s;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  const io: CliIO = { stdout, stderr, env: {} };
  const code = await run(args, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

function readCsv(file: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const keys = header!.split(',');
  // The values compared here hold no comma, quote or newline.
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [keys[i]!, v])));
}

interface Exported {
  summary: ExportSummary;
  records: { file: string; record: Record<string, unknown> }[];
}

/** Read an export directory back: manifest, files (sizes, checksums, schema, duplicates). */
function readExport(dir: string, maxBytes: number): Exported {
  const summary = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ExportSummary;
  const onDisk = readdirSync(dir).filter((f) => /^users-\d+\.json$/.test(f)).sort();
  assert.deepEqual(summary.files.map((f) => f.name), onDisk, 'the manifest lists every users file');
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temporary file left');
  const records: Exported['records'] = [];
  for (const f of summary.files) {
    const text = readFileSync(path.join(dir, f.name));
    assert.ok(text.length <= maxBytes, `${f.name}: ${text.length} bytes > ${maxBytes}`);
    assert.equal(text.length, f.bytes);
    assert.equal(createHash('sha256').update(text).digest('hex'), f.sha256);
    const arr = JSON.parse(text.toString('utf8')) as Record<string, unknown>[];
    assert.ok(Array.isArray(arr) && arr.length === f.users && arr.length > 0);
    for (const key of ['email', 'username', 'user_id']) {
      const values = arr.map((r) => r[key]).filter((v) => v !== undefined);
      assert.equal(new Set(values).size, values.length, `${f.name}: a ${key} twice in one file`);
    }
    for (const record of arr) {
      assert.deepEqual(importRecordErrors(record), [], `${f.name}: ${String(record.user_id)}`);
      assert.ok(!('metadata' in record), 'never a top-level metadata');
      records.push({ file: f.name, record });
    }
  }
  return { summary, records };
}

async function exportedCount(t: Target): Promise<number | null> {
  const store = await createStore(parseConfig(storeConfig(t), {}).store);
  try {
    return (await store.migrationStatus()).exported;
  } finally {
    await store.close();
  }
}

function endToEnd(kind: Kind, skip: string | false) {
  describe(`export --target auth0 on ${kind}`, { skip }, () => {
    const users = seedUsers();
    const byUserId = new Map(users.map((u) => [`legacy|${u.id}`, u]));
    let t: Target;
    let config: string;
    after(async () => t?.drop());

    test('writes importable files: size limit, no duplicate in a file, schema-valid, hashes re-verified, resets listed, ledger recorded', async () => {
      const statements = [...DDL[kind], ...inserts(users)];
      t = kind === 'sqlite' ? await sqliteTarget(statements) : await serverTarget(kind, statements);
      config = writeConfig(t);
      const out = path.join(work, `${kind}-all`);
      const maxBytes = 4000;
      const r = await cli(['--config', config, '--target', 'auth0', '--out', out, '--max-bytes', String(maxBytes), '--json']);
      assert.equal(r.code, 0, r.stderr);
      const { summary, records } = readExport(out, maxBytes);
      assert.deepEqual(JSON.parse(r.stdout), summary, '--json prints the manifest');
      assert.ok(summary.files.length > 3, 'several files at this --max-bytes');

      // Who is in the files: everyone but the migrated user and the one Auth0 would refuse (no email).
      const expectedIds = users.filter((u) => !u.migrated_at && u.email).map((u) => `legacy|${u.id}`).sort();
      assert.deepEqual(records.map((x) => String(x.record.user_id)).sort(), expectedIds);
      assert.equal(summary.counts.scanned, users.length);
      assert.equal(summary.counts.migrated, 1);
      assert.equal(summary.counts.refused, 1);
      assert.equal(summary.counts.exported, expectedIds.length);

      // Case-insensitive duplicates never share a file.
      const fileOf = (id: number) => records.find((x) => x.record.user_id === `legacy|${id}`)!.file;
      assert.notEqual(fileOf(1001), fileOf(1002), 'dup@example.com twice');
      assert.notEqual(fileOf(1001), fileOf(1003), 'username dupuser twice');

      // Every custom_password_hash verifies with the user's password (and not with another), independently of the exporter.
      let verified = 0;
      const withHash = new Set<string>();
      for (const { record } of records) {
        const h = record.custom_password_hash as CustomPasswordHash | undefined;
        const seed = byUserId.get(String(record.user_id))!;
        if (!h) continue;
        withHash.add(String(record.user_id));
        assert.ok(seed.known !== undefined, `${String(record.user_id)}: exported a hash for a user whose password is unknown`);
        assert.equal(await auth0Verify(seed.known, h), true, `${seed.password_scheme ?? 'bcrypt'}: ${JSON.stringify(h)}`);
        assert.equal(await auth0Verify(`${seed.known}!`, h), false, `${seed.password_scheme ?? 'bcrypt'}: wrong password`);
        verified++;
      }
      assert.equal(verified, summary.counts.with_password_hash);

      // Everyone exported without a hash is in needs-password-reset.csv, with the reason; and only they are.
      const resets = readCsv(path.join(out, 'needs-password-reset.csv'));
      const exportedWithout = records.map((x) => String(x.record.user_id)).filter((id) => !withHash.has(id)).sort();
      assert.deepEqual(resets.map((x) => x.user_id).sort(), exportedWithout);
      for (const row of resets) {
        const seed = byUserId.get(row.user_id!)!;
        assert.equal(row.email, seed.email!.toLowerCase());
        if (seed.password_scheme && NOT_IMPORTABLE.has(seed.password_scheme)) assert.ok(row.reason!.endsWith(seed.password_scheme) || ['cleartext', 'unusable_password'].includes(row.reason!), JSON.stringify(row));
      }
      const resetReasons = new Map(resets.map((x) => [x.user_id, x.reason]));
      assert.equal(resetReasons.get('legacy|1007'), 'no_password');
      assert.equal(resetReasons.get('legacy|1008'), 'unknown_scheme');
      for (const u of users) {
        if (u.password_scheme && NOT_IMPORTABLE.has(u.password_scheme)) assert.ok(resetReasons.has(`legacy|${u.id}`), `${u.password_scheme} needs a reset`);
      }

      // Planted cases: reserved app_metadata key dropped and reported; blocked kept; the refused user reported.
      const reserved = records.find((x) => x.record.user_id === 'legacy|1006')!.record;
      assert.equal(reserved.blocked, true);
      assert.ok(!reserved.app_metadata, 'the reserved key was its only app_metadata');
      assert.deepEqual(records.find((x) => x.record.user_id === 'legacy|1001')!.record.app_metadata, { plan: 'gold' });
      const problems = readCsv(path.join(out, 'problems.csv'));
      assert.ok(problems.some((p) => p.user_id === 'legacy|1006' && p.code === 'app_metadata_reserved_key' && p.field === 'app_metadata.metadata' && p.blocking === 'no'));
      assert.ok(problems.some((p) => p.user_id === 'legacy|1005' && p.code === 'email_missing' && p.blocking === 'yes'));

      // No hash, salt or password anywhere but in the import files.
      const aside = [r.stdout, r.stderr, ...['needs-password-reset.csv', 'problems.csv', 'manifest.json'].map((f) => readFileSync(path.join(out, f), 'utf8'))].join('\n');
      for (const u of users) {
        if (u.password_hash && u.password_hash.length > 8) assert.ok(!aside.includes(u.password_hash), `hash of user ${u.id} leaked`);
      }

      // The ledger: status counts the exported users.
      assert.equal(summary.ledger.status, 'recorded', JSON.stringify(summary.ledger));
      assert.equal(summary.ledger.recorded, summary.counts.exported);
      assert.equal(await exportedCount(t), summary.counts.exported);
    });

    test('--only-importable-hashes holds back the users whose hash Auth0 cannot take (held-back.csv)', async () => {
      const out = path.join(work, `${kind}-only`);
      const r = await cli(['--config', config, '--target', 'auth0', '--out', out, '--only-importable-hashes']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /held back/);
      const { summary, records } = readExport(out, 500_000);
      assert.equal(summary.files.length, 2, 'one file holds them all by size, but dup@example.com needs a second one');
      assert.ok(records.every((x) => x.record.custom_password_hash), 'every exported user has a hash');
      assert.equal(summary.counts.without_password, 0);
      const held = readCsv(path.join(out, 'held-back.csv'));
      assert.equal(held.length, summary.counts.held_back);
      assert.ok(held.some((h) => h.user_id === 'legacy|1007' && h.reason === 'no_password'));
      const exportedIds = new Set(records.map((x) => x.record.user_id));
      for (const h of held) assert.ok(!exportedIds.has(h.user_id), `${h.user_id} both held back and exported`);
      for (const u of users) {
        if (u.password_scheme && NOT_IMPORTABLE.has(u.password_scheme)) assert.ok(held.some((h) => h.user_id === `legacy|${u.id}`), u.password_scheme);
      }
      assert.ok(!readdirSync(out).includes('needs-password-reset.csv'), 'nobody is exported without a password');
    });
  });
}

endToEnd('sqlite', false);
endToEnd('postgres', await availability('postgres'));
endToEnd('mysql', await availability('mysql'));

describe('export: the command line', () => {
  let t: Target;
  let config: string;
  after(async () => t?.drop());
  const setup = async () => {
    t ??= await sqliteTarget([...DDL.sqlite, ...inserts(seedUsers().slice(0, 5))]);
    config ??= writeConfig(t);
    return config;
  };

  test('usage errors are UsageErrors (exit 2): target, out, max-bytes, unknown flags', async () => {
    const c = await setup();
    const out = path.join(work, 'usage');
    for (const args of [
      ['--out', out],
      ['--target', 'nope', '--out', out],
      ['--target', 'auth0'],
      ['--target', 'auth0', '--out', out, '--max-bytes', '100'],
      ['--target', 'auth0', '--out', out, '--max-bytes', '600000'],
      ['--target', 'auth0', '--out', out, '--max-bytes', '1e5'],
      ['--target', 'auth0', '--out', out, '--bogus'],
    ]) {
      await assert.rejects(cli(['--config', c, ...args]), UsageError, args.join(' '));
    }
  });

  test('refuses a non-empty directory; --force replaces a previous export and says so; never a directory an import used', async () => {
    const c = await setup();
    const out = path.join(work, 'force');
    const first = await cli(['--config', c, '--target', 'auth0', '--out', out]);
    assert.equal(first.code, 0, first.stderr);
    writeFileSync(path.join(out, 'users-0009.json'), '[]'); // a stale file from a bigger run
    writeFileSync(path.join(out, 'notes.txt'), 'mine');
    await assert.rejects(cli(['--config', c, '--target', 'auth0', '--out', out]), /not empty.*--force/s);
    const second = await cli(['--config', c, '--target', 'auth0', '--out', out, '--force']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /--force: removed \d+ file\(s\) of a previous export.*left 1 other entry untouched/);
    const left = readdirSync(out);
    for (const f of ['manifest.json', 'notes.txt', 'users-0001.json']) assert.ok(left.includes(f), f);
    assert.ok(!left.includes('users-0009.json'), 'the stale file is gone');
    writeFileSync(path.join(out, 'import-state.json'), '{}');
    await assert.rejects(cli(['--config', c, '--target', 'auth0', '--out', out, '--force']), /an import was run from this directory/);
    const file = path.join(work, 'a-file');
    writeFileSync(file, '');
    await assert.rejects(cli(['--config', c, '--target', 'auth0', '--out', file]), /not a directory/);
  });

  test('human summary and progress lines (stderr, not a TTY)', async () => {
    const c = await setup();
    const r = await cli(['--config', c, '--target', 'auth0', '--out', path.join(work, 'human')]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /export \(auth0\): 1 file\(s\) in /);
    assert.match(r.stdout, /exported +\d+ user\(s\): \d+ with their password hash/);
    assert.match(r.stdout, /ledger: \d+ user\(s\) recorded as exported; status counts them/);
    assert.match(r.stderr, /^export: 5\/5 \(100%\), \d+\/s$/m);
  });

  /** Three users, the given ledger DDL; the export run with --json and in human form. */
  async function ledgerCase(ledgerDdl: string[], name: string) {
    const target = await sqliteTarget([DDL.sqlite[0]!, ...ledgerDdl, ...inserts(seedUsers().slice(0, 3))]);
    try {
      const cfg = writeConfig(target);
      const out = path.join(work, name);
      const json = await cli(['--config', cfg, '--target', 'auth0', '--out', out, '--json']);
      const human = await cli(['--config', cfg, '--target', 'auth0', '--out', `${out}-human`]);
      assert.equal(json.code, 0, json.stderr);
      assert.equal(human.code, 0, human.stderr);
      const summary = JSON.parse(json.stdout) as ExportSummary;
      assert.equal(summary.counts.exported, 3);
      assert.equal(readExport(out, 500_000).records.length, 3, 'the files are written all the same');
      return { summary, human: human.stdout };
    } finally {
      await target.drop();
    }
  }

  test('without the ledger table the files are still written, and the summary says status cannot count them', async () => {
    const { summary, human } = await ledgerCase([], 'no-ledger');
    assert.deepEqual(summary.ledger, { status: 'unsupported', recorded: 0, message: 'this store has no export ledger (for a SQL store: its ledger table is missing)' });
    assert.match(human, /ledger: NOT recorded \(this store has no export ledger.*\); status can't count these users as exported/);
  });

  test('a ledger that refuses the write: files written, the failure said, export still exit 0', async () => {
    const refusing = 'CREATE TABLE legacy_gateway_exports (user_id TEXT PRIMARY KEY, exported_at TEXT NOT NULL CHECK (length(exported_at) < 0))';
    const { summary, human } = await ledgerCase([refusing], 'refusing-ledger');
    assert.equal(summary.ledger.status, 'failed');
    assert.match(summary.ledger.message!, /^markExported failed/);
    assert.match(human, /ledger: NOT recorded \(markExported failed.*\); status can't count/);
  });

  test('a store failure stops the export with exit 1, a clear message and an incomplete manifest', async () => {
    await setup();
    const out = path.join(work, 'broken');
    const r = await cli(['--config', writeConfig(t, 'no_such_table'), '--target', 'auth0', '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /export: failed: scan failed/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as ExportSummary;
    assert.equal(manifest.complete, false);
    assert.match(manifest.error!, /scan failed/);
  });

  test('a broken configuration is exit 1 with every problem, no stack trace', async () => {
    const file = path.join(work, 'bad.yaml');
    writeFileSync(file, 'store: { adapter: nope }\n');
    const r = await cli(['--config', file, '--target', 'auth0', '--out', path.join(work, 'bad')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid configuration/);
    assert.ok(statSync(path.join(work, 'bad'), { throwIfNoEntry: false }) === undefined, 'nothing created for a bad configuration');
  });
});

describe('readAhead (the scan is read ahead of the records)', () => {
  async function* numbers(n: number, log: string[], failAt?: number) {
    try {
      for (let i = 0; i < n; i++) {
        if (i === failAt) throw new Error('store down');
        log.push(`read ${i}`);
        await new Promise((r) => setImmediate(r));
        yield i;
      }
    } finally {
      log.push('closed');
    }
  }

  test('keeps the order, reads at most `max` ahead, and ends', async () => {
    const log: string[] = [];
    const got: number[] = [];
    for await (const v of readAhead(numbers(50, log), 4)) {
      got.push(v);
      const read = log.filter((l) => l.startsWith('read')).length;
      assert.ok(read - got.length <= 5, `read ${read} while ${got.length} consumed`);
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i));
    assert.equal(log.at(-1), 'closed');
  });

  test("passes the source's failure on, after the items read before it", async () => {
    const got: number[] = [];
    await assert.rejects(async () => {
      for await (const v of readAhead(numbers(10, [], 6), 3)) got.push(v);
    }, /store down/);
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5]);
  });

  test('a consumer that stops early closes the source', async () => {
    const log: string[] = [];
    for await (const v of readAhead(numbers(1000, log), 8)) if (v === 3) break;
    assert.equal(log.at(-1), 'closed');
    assert.ok(log.length < 20, 'it did not read on');
  });
});

