import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config.js';
import { grantStatements, indexSuggestions, migrationDdl } from '../../src/dba.js';

const base = (adapter: string, migration: Record<string, string>, extra: Record<string, unknown> = {}) =>
  parseConfig({
    auth: { issuer: 'https://issuer.example/', audience: 'aud' },
    store: { adapter, url: 'x', migration, users: { table: 'dbo.users', columns: { id: 'id', email: 'email', password: 'pw' }, ...extra } },
  }, {});

describe('migration DDL per dialect', () => {
  test('side table', () => {
    assert.equal(migrationDdl(base('postgres', { table: 'legacy_gateway_migrations' })), 'CREATE TABLE "legacy_gateway_migrations" (\n  user_id varchar(255) NOT NULL PRIMARY KEY,\n  migrated_at timestamptz NOT NULL\n);');
    assert.match(migrationDdl(base('mysql', { table: 'm' })), /^CREATE TABLE `m` \(\n  user_id VARCHAR\(255\) NOT NULL PRIMARY KEY,\n  migrated_at DATETIME\(3\) NOT NULL\n\) ENGINE=InnoDB;$/);
    assert.match(migrationDdl(base('mssql', { table: 'm' })), /NVARCHAR\(255\).*\n.*DATETIME2\(3\)/);
  });
  test('Oracle: VARCHAR2 and TIMESTAMP WITH TIME ZONE; ADD without COLUMN; names quoted exactly as configured', () => {
    assert.equal(
      migrationDdl(base('oracle', { table: 'LEGACY_GATEWAY_MIGRATIONS' })),
      'CREATE TABLE "LEGACY_GATEWAY_MIGRATIONS" (\n  user_id VARCHAR2(255) NOT NULL PRIMARY KEY,\n  migrated_at TIMESTAMP WITH TIME ZONE NOT NULL\n);',
    );
    assert.equal(migrationDdl(base('oracle', { column: 'MIGRATED_AT' })), 'ALTER TABLE "dbo"."users" ADD "MIGRATED_AT" TIMESTAMP WITH TIME ZONE NULL;');
  });
  test('column: SQL Server says ADD, the others ADD COLUMN; a real timestamp type, never SQL Server\'s rowversion TIMESTAMP', () => {
    assert.equal(migrationDdl(base('mssql', { column: 'migrated_at' })), 'ALTER TABLE [dbo].[users] ADD [migrated_at] DATETIME2(3) NULL;');
    assert.equal(migrationDdl(base('postgres', { column: 'migrated_at' })), 'ALTER TABLE "dbo"."users" ADD COLUMN "migrated_at" timestamptz NULL;');
    assert.equal(migrationDdl(base('mysql', { column: 'migrated_at' })), 'ALTER TABLE `dbo`.`users` ADD COLUMN `migrated_at` DATETIME(3) NULL;');
  });
});

describe('least-privilege grants', () => {
  test('SELECT on the users table and every joined table; writes only to the migration target', () => {
    const cfg = base('postgres', { table: 'marks' }, { joins: [{ table: 'profiles', alias: 'p', on: { id: 'user_id' } }] });
    assert.deepEqual(grantStatements(cfg, 'gw'), [
      'GRANT SELECT ON "dbo"."users" TO "gw";',
      'GRANT SELECT ON "profiles" TO "gw";',
      'GRANT SELECT, INSERT, DELETE ON "marks" TO "gw";',
    ]);
  });
  test('column mode grants UPDATE of that one column only', () => {
    assert.deepEqual(grantStatements(base('postgres', { column: 'migrated_at' }), 'gw').at(-1), 'GRANT UPDATE ("migrated_at") ON "dbo"."users" TO "gw";');
    assert.deepEqual(grantStatements(base('mssql', { column: 'migrated_at' }), 'gw').at(-1), 'GRANT UPDATE ON [dbo].[users] ([migrated_at]) TO [gw];');
    assert.deepEqual(grantStatements(base('mysql', { column: 'migrated_at' }), 'gw').at(-1), "GRANT UPDATE (`migrated_at`) ON `dbo`.`users` TO 'gw'@'%';");
    assert.deepEqual(grantStatements(base('oracle', { column: 'MIGRATED_AT' }), 'gw').at(-1), 'GRANT UPDATE ("MIGRATED_AT") ON "dbo"."users" TO gw;');
  });
  test('Oracle: the grantee unquoted (users and roles are stored in upper case); MERGE needs INSERT and UPDATE on the side table', () => {
    const cfg = base('oracle', { table: 'MARKS' }, { joins: [{ table: 'APP.PROFILES', alias: 'p', on: { id: 'USER_ID' } }] });
    assert.deepEqual(grantStatements(cfg), [
      'GRANT SELECT ON "dbo"."users" TO legacy_gateway;',
      'GRANT SELECT ON "APP"."PROFILES" TO legacy_gateway;',
      'GRANT SELECT, INSERT, UPDATE, DELETE ON "MARKS" TO legacy_gateway;',
    ]);
  });
  test('no GRANTs for SQLite', () => {
    assert.match(grantStatements(base('sqlite', { table: 'm' }))[0]!, /^-- /);
  });
});

describe('index suggestions', () => {
  test('an expression index on lower(email) for PostgreSQL; a comment where the engine has none', () => {
    assert.match(indexSuggestions(base('postgres', { table: 'm' }))[0]!, /^CREATE INDEX "lg_lower_email" ON "dbo"."users" \(lower\("email"\)\)/);
    assert.equal(indexSuggestions(base('sqlite', { table: 'm' })).length, 1);
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
    assert.match(email!, /^CREATE INDEX "lg_lower_email" ON "USERS" \(LOWER\("EMAIL"\)\);/);
    assert.match(username!, /^CREATE INDEX "lg_lower_username" ON "USERS" \(LOWER\("LOGIN"\)\);/);
  });
});
