import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMysqlStore, openMysqlDriver } from '../../adapters/mysql.js';
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
