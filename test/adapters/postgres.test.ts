import { createPostgresStore, openPostgresDriver } from '../../adapters/postgres.js';
import { availability, createPostgresDatabase } from '../helpers/databases.js';
import { openOnDatabase, userStoreContract, type MigrationMode, type SeedUser } from './contract.js';

const skip = await availability('postgres');

// Case-SENSITIVE "C" collation on purpose: login matching must not depend on the column's collation.
const TABLES = [
  `CREATE TABLE users (id integer PRIMARY KEY, email varchar(255) COLLATE "C", username varchar(255) COLLATE "C",
    password_hash text NOT NULL, full_name text, email_confirmed boolean, is_disabled boolean NOT NULL DEFAULT false,
    plan text, migrated_at timestamptz, last_login timestamptz)`,
  'CREATE TABLE legacy_gateway_migrations (user_id varchar(255) PRIMARY KEY, migrated_at timestamptz NOT NULL)',
  'CREATE TABLE legacy_gateway_exports (user_id varchar(255) PRIMARY KEY, exported_at timestamptz NOT NULL)',
];

async function open(users: SeedUser[], mode: MigrationMode) {
  const db = await createPostgresDatabase();
  // UTC+14 for every session: the marks per UTC day must not depend on the session's time zone.
  await db.exec([`ALTER DATABASE ${db.name} SET timezone TO 'Pacific/Kiritimati'`]);
  return openOnDatabase(db, TABLES, users, mode, createPostgresStore, openPostgresDriver);
}

userStoreContract('postgres', open, { skip });
