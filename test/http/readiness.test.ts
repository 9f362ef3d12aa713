/**
 * Readiness tells the truth: a store that does not match the configuration is refused at start-up with the precise
 * problem and the DDL to run; a table or column that disappears later makes /readyz 503 (and never a false 200).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { hashSync } from '@node-rs/bcrypt';
import { StartupError } from '../../src/startup.js';
import { availability, createMysqlDatabase, createPostgresDatabase, lit, type TestDatabase } from '../helpers/databases.js';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';

const HASH = hashSync('pw-readiness', 4);

describe('start-up: a missing migration side table (SQLite)', () => {
  test('refuses to start, naming the table and printing the DDL to run', async () => {
    await assert.rejects(
      startTestGateway({ config: { store: { migration: { table: 'no_such_marks' } } } as never }),
      (e: Error) => {
        assert.ok(e instanceof StartupError, `${e.name}: ${e.message}`);
        assert.match(e.message, /migration table no_such_marks: not found/);
        assert.match(e.message, /CREATE TABLE "no_such_marks" \(\n\s+user_id TEXT NOT NULL PRIMARY KEY/);
        return true;
      },
    );
  });

  test('a configured column that does not exist is named too', async () => {
    await assert.rejects(
      startTestGateway({ config: { store: { users: { columns: { name: 'no_such_column' } } } } as never }),
      (e: Error) => e instanceof StartupError && /columns\.name \(no_such_column\): not found/.test(e.message),
    );
  });
});

describe('/readyz follows the schema, not just the connection (SQLite)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(async () => gw?.close());

  test('200 while the mapping holds; 503 store_unavailable once the side table is gone; 200 again when it is back', async () => {
    assert.equal((await call(gw.url, 'GET', '/readyz')).status, 200);
    const db = new Database(gw.dbFile);
    try {
      db.exec('ALTER TABLE legacy_gateway_migrations RENAME TO lgm_away');
      const r = await call(gw.url, 'GET', '/readyz');
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json.error, 'store_unavailable');
      // A load balancer or orchestrator is told when to ask again: a whole number of seconds (RFC 9110 §10.2.3).
      assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/, 'Retry-After on a 503');
    } finally {
      db.exec('ALTER TABLE lgm_away RENAME TO legacy_gateway_migrations');
      db.close();
    }
    const ok = await call(gw.url, 'GET', '/readyz');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('retry-after'), null, 'no Retry-After once ready');
  });
});

for (const kind of ['postgres', 'mysql'] as const) {
  describe(`start-up and readiness on ${kind}`, async () => {
    const skip = await availability(kind);
    let db: TestDatabase | undefined;
    before(async () => {
      if (skip) return;
      db = kind === 'postgres' ? await createPostgresDatabase() : await createMysqlDatabase();
      await db.exec([
        'CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(255), username VARCHAR(255), password_hash VARCHAR(255), nickname VARCHAR(64))',
        `INSERT INTO users VALUES (1, 'ready@example.com', 'ready', ${lit(HASH)}, 'r')`,
      ]);
    });
    after(async () => db?.drop());

    const store = (migration: Record<string, string>) => ({
      adapter: kind,
      url: db!.url,
      users: { table: 'users', columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash', nickname: 'nickname' } },
      migration,
    });

    test('no side table: refused with the dialect\'s DDL', { skip }, async () => {
      await assert.rejects(startTestGateway({ store: store({ table: 'legacy_gateway_migrations' }) }), (e: Error) => {
        assert.ok(e instanceof StartupError, e.message);
        assert.match(e.message, /migration table legacy_gateway_migrations: not found/);
        assert.match(e.message, /CREATE TABLE/);
        assert.ok(!/password|SELECT/i.test(e.message.split('\n')[1]!), 'names the problem, not the SQL');
        return true;
      });
    });

    test('with the table: ready; a column dropped while serving makes /readyz 503 and requests 503, never a false ready', { skip }, async () => {
      const ddl = kind === 'postgres' ? 'CREATE TABLE legacy_gateway_migrations (user_id text PRIMARY KEY, migrated_at timestamptz NOT NULL)' : 'CREATE TABLE legacy_gateway_migrations (user_id VARCHAR(255) PRIMARY KEY, migrated_at DATETIME(3) NOT NULL)';
      await db!.exec([ddl]);
      const gw = await startTestGateway({ store: store({ table: 'legacy_gateway_migrations' }) });
      try {
        assert.equal((await call(gw.url, 'GET', '/readyz')).status, 200);
        const token = await gw.token();
        assert.equal((await call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login: 'ready' } })).status, 200);
        await db!.exec(['ALTER TABLE users DROP COLUMN nickname']);
        const r = await call(gw.url, 'GET', '/readyz');
        assert.equal(r.status, 503, r.text);
        assert.equal((await call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login: 'ready' } })).status, 503);
      } finally {
        await gw.close();
      }
    });
  });
}
