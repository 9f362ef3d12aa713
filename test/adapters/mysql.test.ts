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
