/**
 * SQL Server / Azure SQL. The contract suite runs against a real server when TEST_MSSQL_URL is set, e.g.
 *   TEST_MSSQL_URL='mssql://sa:Passw0rd!@127.0.0.1:1433/master?trustServerCertificate=true'
 * and is reported as skipped otherwise (there is no SQL Server container in CI, so TEST_REQUIRE_DB does not make
 * an unset URL a failure). Its SQL generation is unit-tested in sql.test.ts; its URL handling here.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import type * as MSSQL from 'mssql';
import { createMssqlStore, mssqlConfig, openMssqlDriver } from '../../adapters/mssql.js';
import { StoreError } from '../../adapters/types.js';
import { testEnvironment } from '../../src/config.js';
import { contractMapping, LEDGER_TABLE, seedLastLogins, sqlRaw, userStoreContract, type ContractMapping, type MigrationMode, type SeedUser } from './contract.js';
import { findByLogin } from '../../src/matching.js';

const sql = createRequire(import.meta.url)('mssql') as typeof MSSQL;
const env = testEnvironment();
const parseAdo = (s: string) => sql.ConnectionPool.parseConnectionString(s);
const OPTS = { max: 7, queryTimeoutMs: 3000 };

describe('mssql store URL', () => {
  test('mssql:// URL: credentials decoded, pool and timeouts from the store settings', () => {
    const c = mssqlConfig('mssql://app%40corp:p%40ss%3Aw%2Fd@db.example.com:1444/legacy?encrypt=true&trustServerCertificate=false', OPTS);
    assert.equal(c.server, 'db.example.com');
    assert.equal(c.port, 1444);
    assert.equal(c.user, 'app@corp');
    assert.equal(c.password, 'p@ss:w/d');
    assert.equal(c.database, 'legacy');
    assert.equal(c.options?.encrypt, true);
    assert.equal(c.options?.trustServerCertificate, false);
    assert.equal(c.pool?.max, 7);
    assert.equal(c.requestTimeout, 3000);
    assert.equal(c.connectionTimeout, 3000);
  });

  test('TLS is on and the certificate verified unless the URL says otherwise (Azure SQL requires encrypt)', () => {
    const c = mssqlConfig('mssql://u:p@x.database.windows.net/db', OPTS);
    assert.equal(c.port, 1433);
    assert.equal(c.options?.encrypt, true);
    assert.equal(c.options?.trustServerCertificate, false);
    const local = mssqlConfig('sqlserver://sa:pw@127.0.0.1:1433/master?Encrypt=false&TrustServerCertificate=true&instanceName=SQLEXPRESS', OPTS);
    assert.equal(local.options?.encrypt, false);
    assert.equal(local.options?.trustServerCertificate, true);
    assert.equal(local.options?.instanceName, 'SQLEXPRESS');
  });

  test('bad URLs are refused without echoing them (they hold the password)', () => {
    for (const url of ['mssql://u:secret@h/db?encrypt=maybe', 'mssql://u:secret@h/db?encrpyt=true', 'postgres://u:secret@h/db', 'mssql://u:secret@/db']) {
      assert.throws(
        () => mssqlConfig(url, OPTS, parseAdo),
        (e: Error) => e instanceof StoreError && !e.message.includes('secret'),
        url,
      );
    }
  });

  test('ADO.NET connection strings', () => {
    const c = mssqlConfig('Server=tcp:db.example.com,1435;Database=legacy;User Id=sa;Password={se;cret};Encrypt=false;TrustServerCertificate=true', OPTS, parseAdo);
    assert.equal(c.server, 'db.example.com');
    assert.equal(c.port, 1435);
    assert.equal(c.database, 'legacy');
    assert.equal(c.user, 'sa');
    assert.equal(c.password, 'se;cret');
    assert.equal(c.options?.encrypt, false);
    assert.equal(c.options?.trustServerCertificate, true);
    assert.equal(c.pool?.max, 7);
    const azure = mssqlConfig('Data Source=x.database.windows.net;Initial Catalog=db;User ID=u;Password=p', OPTS, parseAdo);
    assert.equal(azure.options?.encrypt, true);
    assert.equal(azure.options?.trustServerCertificate, false);
    assert.throws(() => mssqlConfig('Database=db;Password="secret', OPTS, parseAdo), (e: Error) => e instanceof StoreError && !e.message.includes('secret'));
    assert.throws(() => mssqlConfig('Database=db;Password=secret', OPTS, parseAdo), /needs Server/);
  });

  test('an unreachable server is an error of the queries, not of opening the store; close() works', async () => {
    const store = await createMssqlStore({
      url: 'mssql://u:p@127.0.0.1:1/db?encrypt=false',
      query_timeout_ms: 2000,
      pool_max: 2,
      ...contractMapping('table'),
    });
    await assert.rejects(store.ping(), (e: Error) => e instanceof StoreError && /^ping failed/.test(e.message));
    await assert.rejects(findByLogin(store, 'alice'), StoreError);
    await store.close();
    await assert.rejects(store.ping(), /closed/);
  });
});

// --- the contract, on a real server ---------------------------------------------------------------------------

function withDatabase(url: string, db: string): string {
  if (/^(mssql|sqlserver):\/\//i.test(url)) {
    const u = new URL(url);
    u.pathname = `/${db}`;
    return u.toString();
  }
  const rest = url.split(';').filter((kv) => !/^\s*(database|initial catalog)\s*=/i.test(kv) && kv.trim() !== '');
  return [...rest, `Database=${db}`].join(';');
}

async function connect(url: string): Promise<MSSQL.ConnectionPool> {
  const pool = new sql.ConnectionPool(mssqlConfig(url, { max: 2, queryTimeoutMs: 15_000 }, parseAdo));
  pool.on('error', () => {});
  return pool.connect();
}

async function availability(): Promise<string | false> {
  if (!env.mssqlUrl) return 'SQL Server not configured: set TEST_MSSQL_URL=mssql://user:password@host:1433/master?trustServerCertificate=true';
  try {
    const p = await connect(env.mssqlUrl);
    await p.close();
    return false;
  } catch (e) {
    const reason = `SQL Server at TEST_MSSQL_URL not reachable (${(e as Error).message})`;
    if (env.requireDatabases) throw new Error(`required database suite cannot run: ${reason}`);
    return reason;
  }
}

const skip = await availability();

async function open(users: SeedUser[], mode: MigrationMode) {
  const name = `lg_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = await connect(env.mssqlUrl!);
  await admin.request().batch(`CREATE DATABASE [${name}]`);
  await admin.close();
  const url = withDatabase(env.mssqlUrl!, name);
  const db = await connect(url);
  // Case-SENSITIVE collation on purpose: login matching must not depend on the column's collation.
  // "plan" is a reserved word in T-SQL: the adapter always quotes identifiers.
  await db.request().batch(`CREATE TABLE users (id INT PRIMARY KEY,
    email NVARCHAR(255) COLLATE Latin1_General_100_CS_AS NULL, username NVARCHAR(255) COLLATE Latin1_General_100_CS_AS NULL,
    password_hash NVARCHAR(MAX) NOT NULL, full_name NVARCHAR(MAX) NULL, email_confirmed BIT NULL, is_disabled BIT NOT NULL DEFAULT 0,
    [plan] NVARCHAR(50) NULL, migrated_at DATETIME2(3) NULL, last_login DATETIME2(3) NULL)`);
  await db.request().batch('CREATE TABLE legacy_gateway_migrations (user_id NVARCHAR(255) NOT NULL PRIMARY KEY, migrated_at DATETIME2(3) NOT NULL)');
  await db.request().batch(`CREATE TABLE ${LEDGER_TABLE} (user_id NVARCHAR(255) NOT NULL PRIMARY KEY, exported_at DATETIME2(3) NOT NULL)`);
  for (const u of users) {
    await db
      .request()
      .input('id', sql.Int, u.id)
      .input('email', sql.NVarChar(255), u.email)
      .input('username', sql.NVarChar(255), u.username)
      .input('password_hash', sql.NVarChar(sql.MAX), u.password_hash)
      .input('full_name', sql.NVarChar(sql.MAX), u.full_name ?? null)
      .input('email_confirmed', sql.Bit, u.email_confirmed ?? null)
      .input('is_disabled', sql.Bit, u.is_disabled ?? false)
      .input('plan', sql.NVarChar(50), u.plan ?? null)
      .query(
        'INSERT INTO users (id, email, username, password_hash, full_name, email_confirmed, is_disabled, [plan]) VALUES (@id, @email, @username, @password_hash, @full_name, @email_confirmed, @is_disabled, @plan)',
      );
  }
  await db.close();
  const raw = sqlRaw(await openMssqlDriver(url, { max: 2, queryTimeoutMs: 5000 }), mode, { users: 'users', marks: 'legacy_gateway_migrations', ledger: LEDGER_TABLE });
  await seedLastLogins(raw, users);
  const reopen = (m: ContractMapping) => createMssqlStore({ url, query_timeout_ms: 5000, pool_max: 5, ...m });
  const store = await reopen(contractMapping(mode));
  return {
    store,
    reopen,
    raw,
    async cleanup() {
      await store.close();
      await raw.close();
      const a = await connect(env.mssqlUrl!);
      try {
        // SINGLE_USER drops leftover sessions; Azure SQL Database does not support it (and needs no such thing).
        await a.request().batch(`ALTER DATABASE [${name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE`).catch(() => {});
        await a.request().batch(`DROP DATABASE IF EXISTS [${name}]`);
      } finally {
        await a.close();
      }
    },
  };
}

userStoreContract('mssql (SQL Server)', open, { skip });
