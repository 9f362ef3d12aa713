import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMysqlStore, MAX_PREPARED_STATEMENTS, openMysqlDriver } from '../../adapters/mysql.js';
import { availability, createMysqlDatabase } from '../helpers/databases.js';
import { openOnDatabase, userStoreContract, type MigrationMode, type SeedUser } from './contract.js';

const skip = await availability('mysql');

// Case-SENSITIVE utf8mb4_bin on purpose: login matching must not depend on the column's collation.
const TABLES = [
  `CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(255) COLLATE utf8mb4_bin, username VARCHAR(255) COLLATE utf8mb4_bin,
    password_hash TEXT NOT NULL, full_name TEXT, email_confirmed TINYINT(1), is_disabled TINYINT(1) NOT NULL DEFAULT 0,
    plan VARCHAR(50), migrated_at DATETIME(3) NULL, last_login DATETIME(3) NULL) ENGINE=InnoDB`,
  'CREATE TABLE legacy_gateway_migrations (user_id VARCHAR(255) PRIMARY KEY, migrated_at DATETIME(3) NOT NULL) ENGINE=InnoDB',
  'CREATE TABLE legacy_gateway_exports (user_id VARCHAR(255) PRIMARY KEY, exported_at DATETIME(3) NOT NULL) ENGINE=InnoDB',
];

async function open(users: SeedUser[], mode: MigrationMode) {
  return openOnDatabase(await createMysqlDatabase(), TABLES, users, mode, createMysqlStore, openMysqlDriver);
}

userStoreContract('mysql (MariaDB)', open, { skip });

// mysql2 captures a stack trace at every statement's call site unless `trace` is off ("long stack traces"), through the
// request's whole async chain: 3.6% of the gateway's CPU under a lookup storm, for a stack the gateway never logs.
test('mysql driver: a statement captures no call-site stack (mysql2 trace is off)', { skip }, async () => {
  const db = await createMysqlDatabase();
  const driver = await openMysqlDriver(db.url, { max: 1, queryTimeoutMs: 5000 });
  try {
    async function callSiteMarker() {
      return await driver.all('SELECT * FROM no_such_table', []);
    }
    const err = (await callSiteMarker().then(
      () => assert.fail('the statement should fail'),
      (e: unknown) => e,
    )) as Error & { code?: string };
    assert.equal(err.code, 'ER_NO_SUCH_TABLE');
    assert.doesNotMatch(String(err.stack), /callSiteMarker/);
  } finally {
    await driver.close();
    await db.drop();
  }
});

// mysql2 allocates each connection's prepared-statement LRU at full size up front (16,000 slots by default: 512 KB per
// connection). The gateway's pool keeps at most MAX_PREPARED_STATEMENTS per connection: the older ones are closed on
// the server, and a statement evicted and asked again is prepared again and answers.
test('mysql driver: a connection keeps at most MAX_PREPARED_STATEMENTS statements open on the server', { skip }, async () => {
  const db = await createMysqlDatabase();
  const driver = await openMysqlDriver(db.url, { max: 1, queryTimeoutMs: 5000 });
  try {
    const texts = MAX_PREPARED_STATEMENTS + 172;
    for (let i = 0; i < texts; i++) {
      const [row] = await driver.all(`SELECT ${i} AS n, ? AS v`, [`v${i}`]);
      assert.deepEqual({ n: Number(row!.n), v: row!.v }, { n: i, v: `v${i}` });
    }
    const [again] = await driver.all('SELECT 0 AS n, ? AS v', ['evicted, prepared again']);
    assert.equal(again!.v, 'evicted, prepared again');
    // One pooled connection (max 1): its session's counters.
    const status = new Map((await driver.all("SHOW SESSION STATUS LIKE 'Com_stmt_%'", [])).map((r) => [String(r.Variable_name), Number(r.Value)]));
    const prepared = status.get('Com_stmt_prepare')!;
    const closed = status.get('Com_stmt_close')!;
    assert.ok(prepared >= texts + 2, JSON.stringify([...status]));
    // The SHOW is itself a prepared statement: it evicts one more, whose close follows it on the wire.
    assert.ok(prepared - closed <= MAX_PREPARED_STATEMENTS + 1, `open on the server: ${prepared - closed} (prepared ${prepared}, closed ${closed})`);
  } finally {
    await driver.close();
    await db.drop();
  }
});
