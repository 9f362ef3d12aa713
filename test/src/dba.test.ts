import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { parseConfig } from '../../src/config.js';
import { mssqlDialect } from '../../adapters/mssql.js';
import { mysqlDialectFor, signPrefixPatterns, signSpellings } from '../../adapters/mysql.js';
import { postgresDialect } from '../../adapters/postgres.js';
import { loginIndexName, SqlUserStore, type Row } from '../../adapters/sql.js';
import { gatewayWrites, grantStatements, indexSuggestions, migrationDdl, migrationStatements } from '../../src/dba.js';

const base = (adapter: string, migration: Record<string, string>, extra: Record<string, unknown> = {}) =>
  parseConfig({
    auth: { issuer: 'https://issuer.example/', audience: 'aud' },
    store: { adapter, url: 'x', migration, users: { table: 'dbo.users', columns: { id: 'id', email: 'email', password: 'pw' }, ...extra } },
  }, {});

describe('migration DDL per dialect', () => {
  const ledgerOf = (cfg: ReturnType<typeof base>) => migrationStatements(cfg)[1];
  test('side table, then the export ledger (same key and time types), one statement per element', () => {
    assert.deepEqual(migrationStatements(base('postgres', { table: 'legacy_gateway_migrations' })), [
      'CREATE TABLE "legacy_gateway_migrations" (\n  user_id varchar(255) NOT NULL PRIMARY KEY,\n  migrated_at timestamptz NOT NULL\n);',
      'CREATE TABLE "legacy_gateway_exports" (\n  user_id varchar(255) NOT NULL PRIMARY KEY,\n  exported_at timestamptz NOT NULL\n);',
    ]);
    assert.equal(migrationDdl(base('postgres', { table: 'm' })), migrationStatements(base('postgres', { table: 'm' })).join('\n'));
    assert.match(migrationStatements(base('mysql', { table: 'm' }))[0]!, /^CREATE TABLE `m` \(\n  user_id VARCHAR\(255\) NOT NULL PRIMARY KEY,\n  migrated_at DATETIME\(3\) NOT NULL\n\) ENGINE=InnoDB;$/);
    assert.equal(ledgerOf(base('mysql', { table: 'm' })), 'CREATE TABLE `legacy_gateway_exports` (\n  user_id VARCHAR(255) NOT NULL PRIMARY KEY,\n  exported_at DATETIME(3) NOT NULL\n) ENGINE=InnoDB;');
    assert.match(migrationDdl(base('mssql', { table: 'm' })), /NVARCHAR\(255\).*\n.*DATETIME2\(3\)/);
    assert.equal(ledgerOf(base('mssql', { table: 'm' })), 'CREATE TABLE [legacy_gateway_exports] (\n  user_id NVARCHAR(255) NOT NULL PRIMARY KEY,\n  exported_at DATETIME2(3) NOT NULL\n);');
    assert.equal(ledgerOf(base('sqlite', { table: 'm' })), 'CREATE TABLE "legacy_gateway_exports" (\n  user_id TEXT NOT NULL PRIMARY KEY,\n  exported_at TEXT NOT NULL\n);');
  });
  test('the ledger\'s name is store.migration.exports_table when set (schema-qualified too)', () => {
    assert.match(ledgerOf(base('postgres', { table: 'm', exports_table: 'gw.exports' }))!, /^CREATE TABLE "gw"."exports" \(/);
    assert.match(ledgerOf(base('mssql', { column: 'migrated_at', exports_table: 'x' }))!, /^CREATE TABLE \[x\] \(/);
  });
  test('Oracle: VARCHAR2 and TIMESTAMP WITH TIME ZONE; ADD without COLUMN; names quoted exactly as configured', () => {
    assert.deepEqual(migrationStatements(base('oracle', { table: 'LEGACY_GATEWAY_MIGRATIONS', exports_table: 'LEGACY_GATEWAY_EXPORTS' })), [
      'CREATE TABLE "LEGACY_GATEWAY_MIGRATIONS" (\n  user_id VARCHAR2(255) NOT NULL PRIMARY KEY,\n  migrated_at TIMESTAMP WITH TIME ZONE NOT NULL\n);',
      'CREATE TABLE "LEGACY_GATEWAY_EXPORTS" (\n  user_id VARCHAR2(255) NOT NULL PRIMARY KEY,\n  exported_at TIMESTAMP WITH TIME ZONE NOT NULL\n);',
    ]);
    assert.equal(migrationStatements(base('oracle', { column: 'MIGRATED_AT' }))[0], 'ALTER TABLE "dbo"."users" ADD "MIGRATED_AT" TIMESTAMP WITH TIME ZONE NULL;');
  });
  test('column: SQL Server says ADD, the others ADD COLUMN; a real timestamp type, never SQL Server\'s rowversion TIMESTAMP', () => {
    assert.equal(migrationStatements(base('mssql', { column: 'migrated_at' }))[0], 'ALTER TABLE [dbo].[users] ADD [migrated_at] DATETIME2(3) NULL;');
    assert.equal(migrationStatements(base('postgres', { column: 'migrated_at' }))[0], 'ALTER TABLE "dbo"."users" ADD COLUMN "migrated_at" timestamptz NULL;');
    assert.equal(migrationStatements(base('mysql', { column: 'migrated_at' }))[0], 'ALTER TABLE `dbo`.`users` ADD COLUMN `migrated_at` DATETIME(3) NULL;');
    assert.match(migrationDdl(base('mysql', { column: 'migrated_at' })), /\nCREATE TABLE `legacy_gateway_exports`/);
  });
  test('no SQL for the other stores', () => {
    assert.deepEqual(migrationStatements(parseConfig({ auth: { issuer: 'https://issuer.example/', audience: 'aud' }, store: { adapter: 'mongodb', url: 'mongodb://h/db', users: { table: 'users', columns: { id: '_id', email: 'email', password: 'pw' } } } }, {})), [
      '-- store.adapter mongodb: no SQL DDL',
    ]);
  });
});

describe('least-privilege grants', () => {
  test('SELECT on the users table and every joined table; writes only to the migration target and the export ledger', () => {
    const cfg = base('postgres', { table: 'marks' }, { joins: [{ table: 'profiles', alias: 'p', on: { id: 'user_id' } }] });
    assert.deepEqual(grantStatements(cfg, 'gw'), [
      'GRANT SELECT ON "dbo"."users" TO "gw";',
      'GRANT SELECT ON "profiles" TO "gw";',
      'GRANT SELECT, INSERT, DELETE ON "marks" TO "gw";',
      'GRANT SELECT, INSERT ON "legacy_gateway_exports" TO "gw";',
    ]);
  });
  test('column mode grants UPDATE of that one column only (and the ledger\'s own)', () => {
    assert.deepEqual(grantStatements(base('postgres', { column: 'migrated_at' }), 'gw').slice(-2), ['GRANT UPDATE ("migrated_at") ON "dbo"."users" TO "gw";', 'GRANT SELECT, INSERT ON "legacy_gateway_exports" TO "gw";']);
    assert.deepEqual(grantStatements(base('mssql', { column: 'migrated_at' }), 'gw').slice(-2), ['GRANT UPDATE ON [dbo].[users] ([migrated_at]) TO [gw];', 'GRANT SELECT, INSERT ON [legacy_gateway_exports] TO [gw];']);
    assert.deepEqual(grantStatements(base('mysql', { column: 'migrated_at' }), 'gw').slice(-2), ["GRANT UPDATE (`migrated_at`) ON `dbo`.`users` TO 'gw'@'%';", "GRANT SELECT, INSERT, UPDATE ON `legacy_gateway_exports` TO 'gw'@'%';"]);
    assert.deepEqual(grantStatements(base('oracle', { column: 'MIGRATED_AT' }), 'gw').slice(-2), ['GRANT UPDATE ("MIGRATED_AT") ON "dbo"."users" TO gw;', 'GRANT SELECT, INSERT, UPDATE ON "legacy_gateway_exports" TO gw;']);
  });
  test('Oracle: the grantee unquoted (users and roles are stored in upper case); MERGE needs INSERT and UPDATE on the gateway\'s tables', () => {
    const cfg = base('oracle', { table: 'MARKS', exports_table: 'EXPORTS' }, { joins: [{ table: 'APP.PROFILES', alias: 'p', on: { id: 'USER_ID' } }] });
    assert.deepEqual(grantStatements(cfg), [
      'GRANT SELECT ON "dbo"."users" TO legacy_gateway;',
      'GRANT SELECT ON "APP"."PROFILES" TO legacy_gateway;',
      'GRANT SELECT, INSERT, UPDATE, DELETE ON "MARKS" TO legacy_gateway;',
      'GRANT SELECT, INSERT, UPDATE ON "EXPORTS" TO legacy_gateway;',
    ]);
  });
  test('the writes check expects on the gateway\'s tables', () => {
    assert.deepEqual(gatewayWrites('postgres', 'side'), ['INSERT', 'DELETE']);
    assert.deepEqual(gatewayWrites('postgres', 'ledger'), ['INSERT']);
    assert.deepEqual(gatewayWrites('mysql', 'ledger'), ['INSERT', 'UPDATE']);
    assert.deepEqual(gatewayWrites('oracle', 'side'), ['INSERT', 'UPDATE', 'DELETE']);
    assert.deepEqual(gatewayWrites('mssql', 'ledger'), ['INSERT']);
  });
  test('MySQL: every table qualified with the database from store.url (they paste without ERROR 1046); PostgreSQL stays schema-relative', () => {
    const mysqlCfg = base('mysql', { table: 'marks' }, { table: 'users' });
    mysqlCfg.store.url = 'mysql://gw:secret@db.example:3306/shop';
    assert.deepEqual(grantStatements(mysqlCfg, 'gw'), [
      "GRANT SELECT ON `shop`.`users` TO 'gw'@'%';",
      "GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.`marks` TO 'gw'@'%';",
      "GRANT SELECT, INSERT, UPDATE ON `shop`.`legacy_gateway_exports` TO 'gw'@'%';",
    ]);
    const pgCfg = base('postgres', { table: 'marks' }, { table: 'users' });
    pgCfg.store.url = 'postgres://gw@db.example/shop';
    assert.equal(grantStatements(pgCfg, 'gw')[0], 'GRANT SELECT ON "users" TO "gw";');
  });
  test('no GRANTs for SQLite', () => {
    assert.match(grantStatements(base('sqlite', { table: 'm' }))[0]!, /^-- /);
  });
});

describe('index suggestions', () => {
  test('PostgreSQL: the expression the connected dialect compares, byte for byte (plain lower() offline, ICU when found)', () => {
    const cfg = base('postgres', { table: 'm' }, { columns: { id: 'id', email: 'email', username: 'login', password: 'pw' } });
    assert.deepEqual(indexSuggestions(cfg).map((s) => s.slice(0, s.indexOf(';'))), [
      'CREATE INDEX "lg_lower_users_email" ON "dbo"."users" (lower("email"))',
      'CREATE INDEX "lg_lower_users_username" ON "dbo"."users" (lower("login"))',
    ]);
    const icu = postgresDialect('und-x-icu');
    assert.equal(indexSuggestions(cfg, icu)[0]!.slice(0, indexSuggestions(cfg, icu)[0]!.indexOf(';')), 'CREATE INDEX "lg_lower_users_email" ON "dbo"."users" (lower("email" COLLATE "und-x-icu"))');
    // The query compares the same expression (on the aliased column).
    assert.equal(icu.loginKey('u."email"', { key: 'email', table: 'dbo.users', column: 'email' }), 'lower(u."email" COLLATE "und-x-icu")');
  });
  test('a login column of a joined table is indexed on that table', () => {
    const cfg = base('postgres', { table: 'm' }, {
      joins: [{ table: 'app.members', alias: 'mm', on: { id: 'user_id' } }],
      columns: { id: 'id', email: 'mm.Email', password: 'pw' },
    });
    assert.match(indexSuggestions(cfg)[0]!, /^CREATE INDEX "lg_lower_members_email" ON "app"."members" \(lower\("Email"\)\);/);
  });
  test('index names carry the table: two tables in one schema never print the same name; a long one ends in a hash (30 bytes at most)', () => {
    const name = (table: string, key: 'email' | 'username' = 'email') => loginIndexName({ key, table, column: 'x' });
    assert.equal(name('users'), 'lg_lower_users_email');
    assert.equal(name('shop.oc_user', 'username'), 'lg_lower_oc_user_username');
    assert.notEqual(name('shop.oc_customer'), name('shop.oc_user'));
    const long = [name('legacy_customer_accounts'), name('other.legacy_customer_accounts'), name('legacy_customer_accountz')];
    for (const n of long) assert.match(n, /^lg_lower_email_[0-9a-f]{8}$/);
    assert.equal(new Set(long).size, 3, long.join(' '));
    assert.equal(name('x'.repeat(128)).length, 23);
  });
  test('SQLite: an lg_lower() expression index, with the warning that only the gateway\'s connections can maintain it', () => {
    const lines = indexSuggestions(base('sqlite', { table: 'm' }));
    // SQLite names the schema on the index, not on the table ("dbo"."users" there is a syntax error).
    assert.equal(lines[0], 'CREATE INDEX "dbo"."lg_lower_users_email" ON "users" (lg_lower("email"));');
    assert.match(lines.join('\n'), /unknown function: lg_lower\(\)/);
    // As printed, it applies to a real SQLite database (a schema-qualified table: main.users).
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    const db = new Database(':memory:');
    try {
      db.function('lg_lower', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v));
      db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)');
      const cfg = base('sqlite', { table: 'm' });
      cfg.store.users.table = 'main.users';
      const [create] = indexSuggestions(cfg);
      db.exec(create!);
      assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all(), [{ name: 'lg_lower_users_email' }]);
    } finally {
      db.close();
    }
  });
  test('SQL Server: an indexed computed column LOWER(col), the expression the gateway compares', () => {
    const lines = indexSuggestions(base('mssql', { table: 'm' }), mssqlDialect);
    assert.equal(lines[0], 'ALTER TABLE [dbo].[users] ADD [lg_lower_email] AS LOWER([email]);');
    assert.match(lines[1]!, /^CREATE INDEX \[lg_lower_email\] ON \[dbo\].\[users\] \(\[lg_lower_email\]\);/);
    assert.equal(mssqlDialect.loginKey('u.[email]', { key: 'email', table: 'dbo.users', column: 'email' }), 'LOWER(u.[email])');
  });
  test('MySQL/MariaDB: a plain index on a _ci column (compared as is); a _bin column scans, and check says so with a remedy', () => {
    const cfg = base('mysql', { table: 'm' }, { table: 'users', columns: { id: 'id', email: 'email', username: 'login', password: 'pw' } });
    const d = mysqlDialectFor(
      new Map([
        ['users.email', { charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci', type: 'varchar(255)', nullable: true }],
        ['users.login', { charset: 'utf8mb4', collation: 'utf8mb4_bin', type: 'varchar(64)', nullable: false }],
      ]),
    );
    const lines = indexSuggestions(cfg, d);
    assert.match(lines[0]!, /^CREATE INDEX `lg_email` ON `users` \(`email`\);  -- `email` is utf8mb4_unicode_ci \(case-insensitive\)/);
    assert.match(lines[1]!, /^-- `login` is utf8mb4_bin \(case-sensitive\): the gateway compares LOWER\(`login`\), which no index serves on MariaDB; lookups on it SCAN the table\./);
    assert.ok(lines.includes('--   ALTER TABLE `users` MODIFY `login` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL;  -- restate any DEFAULT/COMMENT; the legacy application\'s comparisons and UNIQUE keys on `login` become case-insensitive too'), lines.join('\n'));
    assert.ok(lines.includes('--   CREATE INDEX `lg_username` ON `users` (`login`);'), lines.join('\n'));
    // Offline (no collations known): LOWER() everywhere, and check says lookups scan.
    assert.match(indexSuggestions(cfg)[0]!, /^-- `email`: no character collation found for it at start-up: .* SCAN the table/);
  });
  test('MySQL/MariaDB: the query compares exactly what the advice indexes', async () => {
    const d = mysqlDialectFor(
      new Map([
        ['users.email', { charset: 'utf8mb4', collation: 'utf8mb4_general_ci', type: 'text', nullable: true }],
        ['users.login', { charset: 'latin1', collation: 'latin1_bin', type: 'varchar(64)', nullable: true }],
      ]),
      { charset: 'latin1', collation: 'latin1_general_cs', type: 'varchar(255)', nullable: false },
    );
    const calls: string[] = [];
    const store = new SqlUserStore(
      { dialect: d, all: async (sql: string) => (calls.push(sql), [] as Row[]), run: async () => 0, close: async () => {} },
      { users: { table: 'users', joins: [], filter: [], columns: { id: 'id', email: 'email', username: 'login', password: 'pw' }, app_metadata: [], user_metadata: [] }, migration: { table: 'marks' } },
    );
    await store.findCandidates('X');
    assert.match(calls[0]!, /LEFT JOIN `marks` `lg_mark` ON `lg_mark`.user_id = CAST\(u.`id` AS CHAR CHARACTER SET latin1\) COLLATE latin1_general_cs WHERE \(u.`email` = \? OR LOWER\(u.`login`\) = \?\)/);
    // utf8mb4_general_ci ranks the Kelvin, Ohm and Angstrom signs apart from k, ω, å: every spelling is bound.
    calls.length = 0;
    await store.findCandidates(' Kå ');
    assert.match(calls[0]!, /WHERE \(u.`email` IN \(\?, \?, \?, \?\) OR LOWER\(u.`login`\) = \?\)/);
    assert.deepEqual(signSpellings('kå'), ['kå', '\u212Aå', 'k\u212B', '\u212A\u212B']);
    assert.equal(signSpellings('kkkkkk'), null, 'more than 5: too many to bind');
    // More than 5: each spelling of the prefix before the sixth, as a LIKE range on the index; never LOWER(email) alone.
    const patterns = signPrefixPatterns('a_%!kåkωkkz');
    assert.equal(patterns.length, 32);
    assert.equal(patterns[0], 'a!_!%!!kåkωk%');
    assert.equal(patterns[31], 'a!_!%!!\u212A\u212B\u212A\u2126\u212A%');
    assert.equal(new Set(patterns).size, 32);
    assert.deepEqual(signPrefixPatterns('kkkkkk'), signSpellings('kkkkk')!.map((p) => `${p}%`));
    calls.length = 0;
    await store.findCandidates('kkkkkk');
    const likes = Array.from({ length: 32 }, () => "u.`email` LIKE \\? ESCAPE '!'").join(' OR ');
    assert.match(calls[0]!, new RegExp(`WHERE \\(\\(\\(${likes}\\) AND LOWER\\(u.\`email\`\\) = \\?\\) OR LOWER\\(u.\`login\`\\) = \\?\\)`));
    // A TEXT column is indexed on a prefix.
    assert.match(indexSuggestions(base('mysql', { table: 'm' }, { table: 'users', columns: { id: 'id', email: 'email', password: 'pw' } }), d)[0]!, /^CREATE INDEX `lg_email` ON `users` \(`email`\(191\)\);/);
  });
  test('Oracle: a function-based index on LOWER(column), the expression the gateway compares', () => {
    const cfg = parseConfig(
      {
        auth: { issuer: 'https://issuer.example/', audience: 'aud' },
        store: { adapter: 'oracle', url: 'x', migration: { table: 'M' }, users: { table: 'USERS', columns: { id: 'ID', email: 'EMAIL', username: 'LOGIN', password: 'PW' } } },
      },
      {},
    );
    const [email, username] = indexSuggestions(cfg);
    assert.match(email!, /^CREATE INDEX "lg_lower_USERS_email" ON "USERS" \(LOWER\("EMAIL"\)\);/);
    assert.match(username!, /^CREATE INDEX "lg_lower_USERS_username" ON "USERS" \(LOWER\("LOGIN"\)\);/);
  });
});
