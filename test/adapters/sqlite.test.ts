import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { createSqliteStore, openSqliteDriver } from '../../adapters/sqlite.js';
import { contractMapping, LEDGER_TABLE, seedLastLogins, sqlRaw, userStoreContract, type MigrationMode, type SeedUser } from './contract.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

async function open(users: SeedUser[], mode: MigrationMode) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-sqlite-'));
  const file = path.join(dir, 'legacy.sqlite');
  const db = new Database(file);
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT NOT NULL,
    full_name TEXT, email_confirmed INTEGER, is_disabled INTEGER NOT NULL DEFAULT 0, plan TEXT, migrated_at TEXT, last_login TEXT)`);
  db.exec('CREATE TABLE legacy_gateway_migrations (user_id TEXT PRIMARY KEY, migrated_at TEXT NOT NULL)');
  db.exec(`CREATE TABLE ${LEDGER_TABLE} (user_id TEXT PRIMARY KEY, exported_at TEXT NOT NULL)`);
  const ins = db.prepare('INSERT INTO users (id, email, username, password_hash, full_name, email_confirmed, is_disabled, plan) VALUES (?,?,?,?,?,?,?,?)');
  for (const u of users) {
    ins.run(u.id, u.email, u.username, u.password_hash, u.full_name ?? null, u.email_confirmed == null ? null : Number(u.email_confirmed), Number(u.is_disabled ?? false), u.plan ?? null);
  }
  db.close();
  const raw = sqlRaw(openSqliteDriver(file), mode, { users: 'users', marks: 'legacy_gateway_migrations', ledger: LEDGER_TABLE });
  await seedLastLogins(raw, users);
  const store = createSqliteStore(file, contractMapping(mode));
  return {
    store,
    reopen: async (m: ReturnType<typeof contractMapping>) => createSqliteStore(file, m),
    raw,
    async cleanup() {
      await store.close();
      await raw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

userStoreContract('sqlite', open);
