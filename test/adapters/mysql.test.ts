import { createMysqlStore } from '../../adapters/mysql.js';
import { availability, createMysqlDatabase, lit } from '../helpers/databases.js';
import { contractMapping, userStoreContract, type MigrationMode, type SeedUser } from './contract.js';

const skip = await availability('mysql');

async function open(users: SeedUser[], mode: MigrationMode) {
  const db = await createMysqlDatabase();
  // Case-SENSITIVE utf8mb4_bin on purpose: login matching must not depend on the column's collation.
  await db.exec([
    `CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(255) COLLATE utf8mb4_bin, username VARCHAR(255) COLLATE utf8mb4_bin,
      password_hash TEXT NOT NULL, full_name TEXT, email_confirmed TINYINT(1), is_disabled TINYINT(1) NOT NULL DEFAULT 0,
      plan VARCHAR(50), migrated_at DATETIME(3) NULL) ENGINE=InnoDB`,
    'CREATE TABLE legacy_gateway_migrations (user_id VARCHAR(255) PRIMARY KEY, migrated_at DATETIME(3) NOT NULL) ENGINE=InnoDB',
    ...users.map(
      (u) =>
        `INSERT INTO users (id, email, username, password_hash, full_name, email_confirmed, is_disabled, plan) VALUES (${[
          u.id, u.email, u.username, u.password_hash, u.full_name, u.email_confirmed, u.is_disabled ?? false, u.plan,
        ].map(lit).join(', ')})`,
    ),
  ]);
  const store = await createMysqlStore({
    url: db.url,
    query_timeout_ms: 5000,
    pool_max: 5,
    ...contractMapping(mode),
  });
  return {
    store,
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
}

userStoreContract('mysql (MariaDB)', open, { skip });
