import { createPostgresStore } from '../../adapters/postgres.js';
import { availability, createPostgresDatabase, lit } from '../helpers/databases.js';
import { contractMapping, userStoreContract, type MigrationMode, type SeedUser } from './contract.js';

const skip = await availability('postgres');

async function open(users: SeedUser[], mode: MigrationMode) {
  const db = await createPostgresDatabase();
  // Case-SENSITIVE "C" collation on purpose: login matching must not depend on the column's collation.
  await db.exec([
    `CREATE TABLE users (id integer PRIMARY KEY, email varchar(255) COLLATE "C", username varchar(255) COLLATE "C",
      password_hash text NOT NULL, full_name text, email_confirmed boolean, is_disabled boolean NOT NULL DEFAULT false,
      plan text, migrated_at timestamptz)`,
    'CREATE TABLE legacy_gateway_migrations (user_id varchar(255) PRIMARY KEY, migrated_at timestamptz NOT NULL)',
    ...users.map(
      (u) =>
        `INSERT INTO users (id, email, username, password_hash, full_name, email_confirmed, is_disabled, plan) VALUES (${[
          u.id, u.email, u.username, u.password_hash, u.full_name, u.email_confirmed, u.is_disabled ?? false, u.plan,
        ].map(lit).join(', ')})`,
    ),
  ]);
  const store = await createPostgresStore({
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

userStoreContract('postgres', open, { skip });
