/**
 * Export benchmark (not a test): `legacy-gateway export --target auth0` over 1,000,000 PostgreSQL users, next to the raw
 * streaming rate of the same SELECT, measured in the same run on the same data.
 *
 *   node dist/bench/export.js [--users 1000000] [--max-bytes 500000] [--pg postgres://postgres@127.0.0.1:5432/postgres]
 *
 * 1. Seeds a fresh database lg_bench_export_<random> with INSERT ... SELECT FROM generate_series: a users table with
 *    five real hash formats in turn (bcrypt, Django PBKDF2-SHA256, argon2id, LDAP {SSHA}, phpass: the last one is
 *    exported without a password), 10 % of the users migrated, app_metadata, and the export ledger table.
 * 2. Raw rates of the SELECT the store's scan() runs (captured from the store itself): keyset pages exactly as scan()
 *    pages (same SQL, same page size), and the same SELECT through a server-side cursor (FETCH 10,000).
 * 3. store.scan() alone (rows → LegacyUser), in this process.
 * 4. The export itself, in a child process (this file with --child) that runs the command's own run(); the child
 *    reports its peak RSS (getrusage maxrss). The target is < 300 MB. It runs twice: first with the export ledger's table
 *    absent (nothing recorded), then as configured (every exported user recorded), so the ledger's share shows.
 * Prints a markdown table. The database and the export directory are removed at the end, also on failure, Ctrl-C and
 * the watchdog.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { hash as argon2Hash } from '@node-rs/argon2';
import { hashSync as bcryptHashSync } from '@node-rs/bcrypt';
import pg from 'pg';
import type { Row, SqlDriver } from '../adapters/sql.js';
import { parseConfig } from '../src/config.js';
import type { CliIO } from '../src/operations/cli.js';
import type { ExportSummary } from '../src/operations/export.js';
import { benchArgs } from './args.js';
import { openBenchDriver, openGatewayStore } from './helpers.js';

const HERE = fileURLToPath(import.meta.url);
const WATCHDOG_MS = 9 * 60_000;
const RSS_TARGET = 300 * 1024 * 1024;

interface ChildResult {
  code: number;
  summary: ExportSummary | null;
  seconds: number;
  maxRss: number;
}

/** Child mode: run the export command itself and report its own peak RSS. */
async function child(configFile: string, out: string, maxBytes: string): Promise<void> {
  const { run } = await import('../src/operations/export.js');
  let stdout = '';
  const io: CliIO = { stdout: { write: (c: unknown) => ((stdout += String(c)), true) } as unknown as NodeJS.WritableStream, stderr: process.stderr, env: {} };
  const t0 = performance.now();
  const code = await run(['--config', configFile, '--target', 'auth0', '--out', out, '--max-bytes', maxBytes, '--json'], io);
  const seconds = (performance.now() - t0) / 1000;
  const result: ChildResult = { code, summary: code === 0 ? (JSON.parse(stdout) as ExportSummary) : null, seconds, maxRss: process.resourceUsage().maxRSS * 1024 };
  process.send!(result, () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------------------------

/** What the run leaves behind until it ends; released in finally, on a signal and by the watchdog. */
const held: { dropDatabase?: () => Promise<void>; dir?: string; child?: ChildProcess } = {};
let released: Promise<void> | undefined;
function release(): Promise<void> {
  released ??= (async () => {
    held.child?.kill('SIGKILL');
    if (held.dir) rmSync(held.dir, { recursive: true, force: true });
    await held.dropDatabase?.().catch((e: unknown) => console.error(`could not drop the bench database: ${String(e)}`));
  })();
  return released;
}
function abort(message: string, code: number): void {
  console.error(message);
  void release().finally(() => process.exit(code));
}

/** A few real hash formats, all for one password (the export only reads them). */
async function hashFormats(): Promise<string[]> {
  const pw = 'benchmark-password-1';
  const salt = randomBytes(12).toString('base64').replace(/[^A-Za-z0-9]/g, '');
  const django = `pbkdf2_sha256$600000$${salt}$${pbkdf2Sync(pw, salt, 600_000, 32, 'sha256').toString('base64')}`;
  const sshaSalt = randomBytes(8);
  const ssha = `{SSHA}${Buffer.concat([createHash('sha1').update(pw).update(sshaSalt).digest(), sshaSalt]).toString('base64')}`;
  return [
    bcryptHashSync(pw, 10),
    django,
    await argon2Hash(pw, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 }),
    ssha,
    '$P$6saltsaltSWuYlYThcE0b28uJd8gfO0', // phpass: Auth0 can't take it (needs-password-reset.csv)
  ];
}

async function seed(admin: string, db: string, users: number): Promise<string> {
  const a = new pg.Client({ connectionString: admin });
  await a.connect();
  await a.query(`CREATE DATABASE ${db}`);
  await a.end();
  held.dropDatabase = async () => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await c.end();
  };
  const u = new URL(admin);
  u.pathname = `/${db}`;
  const url = u.toString();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text, username text, password_hash text NOT NULL, full_name text,
      email_confirmed boolean, is_disabled boolean NOT NULL DEFAULT false, plan text, migrated_at timestamptz)`);
    await c.query('CREATE TABLE legacy_gateway_exports (user_id varchar(255) PRIMARY KEY, exported_at timestamptz NOT NULL)');
    const formats = await hashFormats();
    await c.query(
      `INSERT INTO users (id, email, username, password_hash, full_name, email_confirmed, is_disabled, plan, migrated_at)
       SELECT g, 'user' || g || '@example.com', 'user' || g, ($1::text[])[1 + g % 5], 'User Number ' || g, g % 3 <> 0, g % 97 = 0,
              CASE WHEN g % 4 = 0 THEN 'gold' END, CASE WHEN g % 10 = 0 THEN now() - (g % 300) * interval '1 day' END
       FROM generate_series(1, $2::bigint) g`,
      [formats, users],
    );
    await c.query('VACUUM ANALYZE users'); // as a long-lived production table would be (visibility map, hint bits)
  } finally {
    await c.end();
  }
  return url;
}

function storeConfig(url: string) {
  return {
    auth: { issuer: 'https://issuer.example/', audience: 'bench' },
    store: {
      adapter: 'postgres',
      url,
      query_timeout_ms: 60_000,
      users: {
        table: 'users',
        columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash', email_verified: 'email_confirmed', name: 'full_name', blocked: 'is_disabled' },
        app_metadata: ['plan'],
      },
      migration: { column: 'migrated_at' },
    },
    profile: { user_id_prefix: 'legacy|' },
  };
}

interface Measure {
  what: string;
  rows: number;
  seconds: number;
  rss?: number;
}

/** The SQL scan() runs (first page, next page), captured from the store's own driver. */
async function captureScanSql(config: ReturnType<typeof parseConfig>): Promise<{ first: string; next: string; pageSize: number }> {
  const seen: string[] = [];
  const wrap = (d: SqlDriver): SqlDriver => ({ ...d, all: (sql, params) => (seen.push(sql), d.all(sql, params)) });
  const store = await openGatewayStore(config.store, wrap);
  try {
    let n = 0;
    for await (const _ of store.scan()) if (++n > 600) break; // two pages
  } finally {
    await store.close();
  }
  const [first, next] = seen;
  const pageSize = Number(/LIMIT (\d+)\s*$/.exec(first!)?.[1]);
  if (!first || !next || !pageSize) throw new Error('could not capture the scan SQL');
  return { first, next, pageSize };
}

async function rawKeyset(driver: SqlDriver, sql: { first: string; next: string }): Promise<Measure> {
  const t0 = performance.now();
  let rows = 0;
  let page: Row[] = await driver.all(sql.first, []);
  while (page.length > 0) {
    rows += page.length;
    page = await driver.all(sql.next, [page[page.length - 1]!.f_id]);
  }
  return { what: 'raw SELECT, keyset pages as scan() pages them (same SQL and page size)', rows, seconds: (performance.now() - t0) / 1000 };
}

async function rawCursor(url: string, firstSql: string, fetch: number): Promise<Measure> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const t0 = performance.now();
  let rows = 0;
  try {
    await c.query('BEGIN READ ONLY');
    await c.query(`DECLARE scan NO SCROLL CURSOR FOR ${firstSql.replace(/\s+LIMIT \d+\s*$/, '')}`);
    for (;;) {
      const r = await c.query(`FETCH ${fetch} FROM scan`);
      rows += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < fetch) break;
    }
    await c.query('COMMIT');
  } finally {
    await c.end();
  }
  return { what: `raw SELECT, the same query through a server-side cursor (FETCH ${fetch.toLocaleString('en-US')})`, rows, seconds: (performance.now() - t0) / 1000 };
}

async function scanOnly(config: ReturnType<typeof parseConfig>): Promise<Measure> {
  const store = await openGatewayStore(config.store);
  const t0 = performance.now();
  let rows = 0;
  try {
    for await (const _ of store.scan()) rows++;
  } finally {
    await store.close();
  }
  return { what: 'store.scan() alone (rows → LegacyUser)', rows, seconds: (performance.now() - t0) / 1000 };
}

function exportChild(configFile: string, out: string, maxBytes: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const c = fork(HERE, ['--child', configFile, out, maxBytes], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    held.child = c;
    c.once('message', (m) => resolve(m as ChildResult));
    c.once('exit', (code) => reject(new Error(`export child exited ${code} without a result`)));
  });
}

async function main(): Promise<void> {
  const values = benchArgs(
    `Export benchmark: legacy-gateway export --target auth0 over PostgreSQL users, next to the raw streaming rate.

  node dist/bench/export.js [--users 1000000] [--max-bytes 500000] [--pg postgres://postgres@127.0.0.1:5432/postgres]`,
    { users: '1000000', 'max-bytes': '500000', pg: 'postgres://postgres@127.0.0.1:5432/postgres' },
    [],
    ['users', 'max-bytes'],
  );
  const users = Number(values.users);
  const db = `lg_bench_export_${randomBytes(4).toString('hex')}`;
  const work = (held.dir = mkdtempSync(path.join(tmpdir(), 'lg-bench-export-')));

  const load0 = loadavg()[0]!;
  const t0 = performance.now();
  const url = await seed(values.pg!, db, users);
  const seedSeconds = (performance.now() - t0) / 1000;
  console.error(`seeded ${users.toLocaleString('en-US')} users in ${seedSeconds.toFixed(1)} s (${db})`);

  const raw = storeConfig(url);
  const config = parseConfig(raw, {});
  const configFile = path.join(work, 'config.json');
  writeFileSync(configFile, JSON.stringify(raw));

  const sql = await captureScanSql(config);
  const driver = await openBenchDriver({ adapter: 'postgres', url, poolMax: 2, queryTimeoutMs: 60_000 });
  const measures: Measure[] = [];
  try {
    measures.push(await rawKeyset(driver, sql));
  } finally {
    await driver.close();
  }
  measures.push(await rawCursor(url, sql.first, 10_000));
  measures.push(await scanOnly(config));
  for (const m of measures) console.error(`${m.what}: ${m.rows} rows in ${m.seconds.toFixed(1)} s`);

  // The same export without the ledger (its table named but absent): what recording 900,000 users costs.
  const noLedgerFile = path.join(work, 'config-no-ledger.json');
  writeFileSync(noLedgerFile, JSON.stringify({ ...raw, store: { ...raw.store, migration: { ...raw.store.migration, exports_table: 'lg_bench_no_ledger' } } }));
  const bare = await exportChild(noLedgerFile, path.join(work, 'out-no-ledger'), values['max-bytes']!);
  rmSync(path.join(work, 'out-no-ledger'), { recursive: true, force: true });
  const result = await exportChild(configFile, path.join(work, 'out'), values['max-bytes']!);
  for (const r of [bare, result]) if (r.code !== 0 || !r.summary) throw new Error(`export failed (exit ${r.code}; its message is above)`);
  const s = result.summary!;
  measures.push(
    { what: 'legacy-gateway export, the ledger absent (child process: scan, records, files)', rows: bare.summary!.counts.scanned, seconds: bare.seconds, rss: bare.maxRss },
    { what: 'legacy-gateway export --target auth0 (child process: scan, records, files, ledger)', rows: s.counts.scanned, seconds: result.seconds, rss: result.maxRss },
  );

  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
  const rate = (m: Measure) => Math.round(m.rows / m.seconds).toLocaleString('en-US');
  const bytes = s.files.reduce((a, f) => a + f.bytes, 0);
  const lines = [
    `### Export benchmark: ${users.toLocaleString('en-US')} users, PostgreSQL, ${new Date().toISOString().slice(0, 10)}`,
    '',
    '| measurement | rows | seconds | users/s | peak RSS |',
    '|---|---:|---:|---:|---:|',
    ...measures.map((m) => `| ${m.what} | ${m.rows.toLocaleString('en-US')} | ${m.seconds.toFixed(1)} | ${rate(m)} | ${m.rss ? mb(m.rss) : ''} |`),
    '',
    `Export: ${s.counts.exported.toLocaleString('en-US')} users exported (${s.counts.with_password_hash.toLocaleString('en-US')} with their hash, ` +
      `${s.counts.without_password.toLocaleString('en-US')} without), ${s.counts.migrated.toLocaleString('en-US')} migrated skipped; ` +
      `${s.files.length} files, ${mb(bytes)}, largest ${Math.max(...s.files.map((f) => f.bytes)).toLocaleString('en-US')} bytes (limit ${s.options.max_bytes.toLocaleString('en-US')}); ` +
      `ledger ${s.ledger.status}, ${s.ledger.recorded.toLocaleString('en-US')} recorded. Peak RSS ${mb(Math.max(result.maxRss, bare.maxRss))} (target < ${mb(RSS_TARGET)}): ${Math.max(result.maxRss, bare.maxRss) < RSS_TARGET ? 'met' : 'NOT met'}. ` +
      `Seeding took ${seedSeconds.toFixed(1)} s; page size of scan(): ${sql.pageSize}. ` +
      `${availableParallelism()} CPUs; load average at start ${load0.toFixed(1)}, at the end ${loadavg()[0]!.toFixed(1)} (other work on the machine slows every row alike).`,
  ];
  console.log(lines.join('\n'));
}

if (process.argv[2] === '--child') {
  child(process.argv[3]!, process.argv[4]!, process.argv[5]!).catch((e: unknown) => {
    console.error(`export child: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
} else {
  process.on('SIGINT', () => abort('interrupted: dropping the bench database', 130));
  process.on('SIGTERM', () => abort('terminated: dropping the bench database', 143));
  setTimeout(() => abort(`watchdog: still running after ${WATCHDOG_MS / 60_000} min, aborting`, 2), WATCHDOG_MS).unref();
  main()
    .catch((e: unknown) => {
      console.error(`bench/export: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    })
    .finally(() => release());
}
