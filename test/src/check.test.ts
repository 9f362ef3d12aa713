/**
 * `legacy-gateway check` against real PostgreSQL and MariaDB: the printed GRANTs really are enough (a role given
 * exactly those can serve every operation) and check reports a role with more as having more than needed.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { runCheck } from '../../src/check.js';
import { parseConfig, type Config } from '../../src/config.js';
import { grantStatements, migrationStatements } from '../../src/dba.js';
import { availability, createMysqlDatabase, createPostgresDatabase, env, uniqueName, type TestDatabase } from '../helpers/databases.js';
import { createStore } from '../../adapters/index.js';

async function capture(config: Config): Promise<{ code: number; text: string }> {
  let text = '';
  const out = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } });
  const code = await runCheck(config, out);
  return { code, text };
}

function configFor(adapter: 'postgres' | 'mysql', url: string, extra: Record<string, unknown> = {}): Config {
  return parseConfig({
    auth: { issuer: 'https://issuer.example/', audience: 'aud' },
    store: {
      adapter, url,
      users: { table: 'users', columns: { id: 'id', email: 'email', password: 'password_hash', name: 'full_name' } },
      migration: { table: 'legacy_gateway_migrations' },
      ...extra,
    },
  }, {});
}

const HASH = '$2b$04$abcdefghijklmnopqrstuuJ1vZ5c1VPnN2cH9m1GxZ6K2Z4n3Xq4W';

for (const dialect of ['postgres', 'mysql'] as const) {
  const skip = await availability(dialect);
  describe(`check on ${dialect}`, { skip }, () => {
    let db: TestDatabase;
    const role = uniqueName('lg_role');
    before(async () => {
      db = dialect === 'postgres' ? await createPostgresDatabase() : await createMysqlDatabase();
      await db.exec([
        'CREATE TABLE users (id integer PRIMARY KEY, email varchar(255), password_hash varchar(255), full_name varchar(255), pw_plain varchar(255))',
        // The side table and the export ledger, as check prints them.
        ...migrationStatements(configFor(dialect, db.url)),
        `INSERT INTO users (id, email, password_hash, full_name, pw_plain) VALUES (1, 'a@example.com', '${HASH}', 'A', 'secret'), (2, 'b@example.com', 'pbkdf2_sha256$1000$s$aGFzaA==', 'B', 'other')`,
      ]);
      // A role with exactly the printed grants.
      const grants = grantStatements(configFor(dialect, db.url), role);
      if (dialect === 'postgres') {
        await db.exec([`CREATE ROLE ${role} LOGIN`, ...grants]);
      } else {
        const admin = await mysql.createConnection({ uri: env.mysqlUrl.replace(/\/[^/]*$/, '/') });
        await admin.query(`CREATE USER '${role}'@'%'`);
        await admin.query(`CREATE USER '${role}'@'localhost'`);
        // As printed: database-qualified, so they run in a client with no current database.
        for (const g of grants) {
          await admin.query(g);
          await admin.query(g.replace(`'${role}'@'%'`, `'${role}'@'localhost'`));
        }
        await admin.end();
      }
    });
    after(async () => {
      await db?.drop();
      if (dialect === 'postgres') {
        const c = new pg.Client({ connectionString: env.postgresUrl });
        await c.connect();
        await c.query(`DROP ROLE IF EXISTS ${role}`);
        await c.end();
      } else {
        const admin = await mysql.createConnection({ uri: env.mysqlUrl });
        await admin.query(`DROP USER IF EXISTS '${role}'@'%', '${role}'@'localhost'`);
        await admin.end();
      }
    });

    const asRole = () => {
      const u = new URL(db.url);
      u.username = role;
      u.password = '';
      return u.toString();
    };

    test('all tables and columns found; counts, schemes, grants and DDL printed; exit 0', async () => {
      const r = await capture(configFor(dialect, db.url));
      assert.equal(r.code, 0, r.text);
      assert.match(r.text, /connection: ok/);
      assert.match(r.text, /ok {6}columns\.email \(email\)/);
      assert.match(r.text, /users: 2 \(migrated 0, exported 0, remaining 2\)/);
      assert.match(r.text, /ok {6}export ledger table legacy_gateway_exports\n/);
      assert.match(r.text, /bcrypt: 1/);
      assert.match(r.text, /django_pbkdf2_sha256: 1/);
      assert.match(r.text, /GRANT SELECT ON (`\w+`\.)?.users. TO/);
      assert.match(r.text, /GRANT SELECT, INSERT, (UPDATE, )?DELETE ON (`\w+`\.)?.legacy_gateway_migrations. TO/);
      assert.match(r.text, /CREATE TABLE .legacy_gateway_migrations./);
      assert.match(r.text, /GRANT SELECT, INSERT(, UPDATE)? ON (`\w+`\.)?.legacy_gateway_exports. TO/);
      assert.match(r.text, /CREATE TABLE .legacy_gateway_exports. \(\n {4}user_id .* NOT NULL PRIMARY KEY,\n {4}exported_at .* NOT NULL\n {2}\)/);
    });

    test('no export ledger: noted as absent (needed by export), never a failure; exit 0', async () => {
      const cfg = configFor(dialect, db.url, { migration: { table: 'legacy_gateway_migrations', exports_table: 'lg_no_ledger' } });
      const r = await capture(cfg);
      assert.equal(r.code, 0, r.text);
      assert.match(r.text, /\n {2}absent {2}export ledger table lg_no_ledger: needed by `legacy-gateway export`/);
      assert.match(r.text, /users: 2 \(migrated 0, remaining 2\)/);
      assert.doesNotMatch(r.text, /lg_no_ledger: SELECT/, 'no privileges read for a table that does not exist');
      assert.match(r.text, /CREATE TABLE .lg_no_ledger. \(/);
    });

    test('the printed index is the one the connected store\'s lookup compares', async () => {
      const r = await capture(configFor(dialect, db.url));
      if (dialect === 'postgres') {
        assert.match(r.text, /\n {2}CREATE INDEX "lg_lower_users_email" ON "users" \(lower\("email" COLLATE "und-x-icu"\)\);  -- the expression the gateway compares/);
      } else {
        // The column has the database's utf8mb4_unicode_ci: a plain index, compared as is.
        assert.match(r.text, /\n {2}CREATE INDEX `lg_email` ON `users` \(`email`\);  -- `email` is utf8mb4_unicode_ci \(case-insensitive\)/);
      }
    });

    test('a missing column is named and the exit code is 1', async () => {
      const cfg = configFor(dialect, db.url);
      cfg.store.users.columns.name = 'no_such_column';
      const r = await capture(cfg);
      assert.equal(r.code, 1);
      assert.match(r.text, /MISSING columns\.name \(no_such_column\)/);
    });

    test('a clear-text password column is flagged', async () => {
      const cfg = configFor(dialect, db.url);
      cfg.store.users.columns.password = 'pw_plain';
      cfg.passwords.scheme = 'plaintext';
      const r = await capture(cfg);
      assert.match(r.text, /plaintext: 2 {3}WARNING: stored in clear text/);
    });

    test('the printed grants are enough: a role with exactly them verifies, looks up, marks and unmarks', async () => {
      const cfg = configFor(dialect, asRole());
      const r = await capture(cfg);
      assert.equal(r.code, 0, r.text);
      if (dialect === 'postgres') {
        assert.match(r.text, /users: SELECT yes; writes: none\n/);
        assert.match(r.text, /legacy_gateway_migrations: SELECT yes; writes: INSERT, DELETE\n/);
        assert.match(r.text, /legacy_gateway_exports: SELECT yes; writes: INSERT\n/);
        assert.doesNotMatch(r.text, /MORE THAN NEEDED/);
      } else {
        assert.match(r.text, new RegExp(`GRANT SELECT ON \`${db.name}\`.\`users\``));
        assert.doesNotMatch(r.text, /ALL PRIVILEGES/);
      }
      const store = await createStore(cfg.store);
      try {
        assert.equal((await store.findById('1'))?.email, 'a@example.com');
        const at = await store.markMigrated('1');
        assert.ok(at);
        assert.equal(await store.unmarkMigrated('1'), true);
        // The export ledger: written twice (the repeat is the insert-if-absent's other path), and counted.
        await store.markExported!(['1', '2']);
        await store.markExported!(['2']);
        const s = await store.migrationStatus();
        assert.deepEqual([s.exported, s.remaining], [2, 0]);
      } finally {
        await store.close();
      }
    });

    test('a superuser connection is reported as having more than needed (postgres) / all privileges (mysql)', async () => {
      const r = await capture(configFor(dialect, db.url));
      if (dialect === 'postgres') {
        assert.match(r.text, /users: SELECT yes; writes: INSERT, UPDATE, DELETE {3}MORE THAN NEEDED: INSERT, UPDATE, DELETE/);
        assert.match(r.text, /legacy_gateway_exports: SELECT yes; writes: INSERT, UPDATE, DELETE {3}MORE THAN NEEDED: UPDATE, DELETE/);
      }
      else assert.match(r.text, /ALL PRIVILEGES/);
    });
  });
}
