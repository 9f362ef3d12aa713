/**
 * `legacy-gateway check` tells the truth about what it checks, on real PostgreSQL and MariaDB: password formats as
 * detected (and the rows a configured scheme will reject), store.queries run once, the root cause of a missing table,
 * credentials redacted from SHOW GRANTS, and MySQL GRANTs that paste as printed (no ERROR 1046).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { redactGrant, runCheck } from '../../src/check.js';
import { parseConfig, type Config } from '../../src/config.js';
import { migrationStatements } from '../../src/dba.js';
import { availability, createMysqlDatabase, createPostgresDatabase, env, uniqueName, type TestDatabase } from '../helpers/databases.js';

async function capture(config: Config): Promise<{ code: number; text: string }> {
  let text = '';
  const out = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } });
  const code = await runCheck(config, out);
  return { code, text };
}

function configFor(adapter: 'postgres' | 'mysql', url: string, store: Record<string, unknown> = {}, passwords?: Record<string, unknown>): Config {
  return parseConfig({
    auth: { issuer: 'https://issuer.example/', audience: 'aud' },
    ...(passwords ? { passwords } : {}),
    store: {
      adapter, url,
      users: { table: 'users', columns: { id: 'id', email: 'email', password: 'password_hash' } },
      migration: { table: 'lg_marks' },
      ...store,
    },
  }, {});
}

const PHPASS = ['$P$BabcdefghABCDEFGHabcdefghABCDEF', '$H$9abcdefghABCDEFGHabcdefghABCDEF'];
const BCRYPT = '$2b$04$abcdefghijklmnopqrstuuJ1vZ5c1VPnN2cH9m1GxZ6K2Z4n3Xq4W';
const DJANGO = 'pbkdf2_sha256$1000$s$aGFzaA==';

test('SHOW GRANTS lines: password hashes and plugin strings are redacted, the rest kept', () => {
  assert.equal(
    redactGrant("GRANT USAGE ON *.* TO `gw`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'"),
    "GRANT USAGE ON *.* TO `gw`@`%` IDENTIFIED BY PASSWORD '<redacted>'",
  );
  assert.equal(
    redactGrant("GRANT USAGE ON *.* TO `gw`@`%` IDENTIFIED VIA mysql_native_password USING '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' OR unix_socket"),
    "GRANT USAGE ON *.* TO `gw`@`%` IDENTIFIED VIA mysql_native_password USING '<redacted>' OR unix_socket",
  );
  assert.equal(redactGrant("CREATE USER `gw`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$x\\'y''z'"), "CREATE USER `gw`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '<redacted>'");
  assert.equal(redactGrant('GRANT SELECT ON `db`.`users` TO `gw`@`%`'), 'GRANT SELECT ON `db`.`users` TO `gw`@`%`');
});

for (const dialect of ['postgres', 'mysql'] as const) {
  const skip = await availability(dialect);
  describe(`check tells the truth on ${dialect}`, { skip }, () => {
    let db: TestDatabase;
    before(async () => {
      db = dialect === 'postgres' ? await createPostgresDatabase() : await createMysqlDatabase();
      const rows = [[1, PHPASS[0]], [2, PHPASS[1]], [3, BCRYPT], [4, BCRYPT], [5, DJANGO], [6, 'not-a-hash']];
      await db.exec([
        'CREATE TABLE users (id integer PRIMARY KEY, email varchar(255), password_hash varchar(255))',
        'CREATE TABLE accounts (id integer PRIMARY KEY, mail varchar(255), pass varchar(255))',
        ...migrationStatements(configFor(dialect, db.url)),
        `INSERT INTO users (id, email, password_hash) VALUES ${rows.map(([id, h]) => `(${id}, 'u${id}@example.com', '${h}')`).join(', ')}`,
        `INSERT INTO accounts (id, mail, pass) VALUES (1, 'a1@example.com', '${BCRYPT}')`,
      ]);
    });
    after(async () => {
      await db?.drop();
    });

    test('mixed formats under passwords.scheme phpass: counted as detected; the rows phpass will reject are flagged', async () => {
      const r = await capture(configFor(dialect, db.url, {}, { scheme: 'phpass' }));
      assert.equal(r.code, 0, r.text);
      assert.match(r.text, /password formats in a sample of 6 \(passwords\.scheme: phpass\):/);
      assert.match(r.text, /\n {2}phpass: 2\n/);
      assert.match(r.text, /\n {2}bcrypt: 2 {3}WARNING: the configured scheme phpass will reject these rows \(they verify false\)/);
      assert.match(r.text, /\n {2}django_pbkdf2_sha256: 1 {3}WARNING: the configured scheme phpass will reject/);
      assert.match(r.text, /\n {2}\(unrecognised format\): 1 {3}WARNING: the configured scheme phpass will reject/);
      assert.doesNotMatch(r.text, /phpass: 6/);
    });

    test('auto: every row under its detected format', async () => {
      const r = await capture(configFor(dialect, db.url));
      assert.match(r.text, /\n {2}phpass: 2\n/);
      assert.match(r.text, /\n {2}bcrypt: 2\n/);
      assert.match(r.text, /\n {2}\(none: unrecognised\): 1 {3}these users cannot be verified/);
    });

    test('a named query on a missing table fails check, naming the query', async () => {
      const r = await capture(configFor(dialect, db.url, { queries: { find_by_login: 'SELECT id, email, password_hash AS password FROM no_such_table WHERE email = :login' } }));
      assert.equal(r.code, 1, r.text);
      assert.match(r.text, /\n {2}FAILED {2}find_by_login: store\.queries\.find_by_login failed \((42P01|ER_NO_SUCH_TABLE)\)/);
    });

    test('named queries run once against a sample row; the columns they return are not reported MISSING', async () => {
      const queries = {
        find_by_login: 'SELECT a.id AS id, a.mail AS email, a.pass AS password FROM accounts a WHERE lower(a.mail) = :login',
        find_by_id: 'SELECT id, mail AS email, pass AS password FROM accounts WHERE id = :id',
      };
      // columns.email names a column the users table lacks: the queries provide it.
      const cfg = configFor(dialect, db.url, { users: { table: 'users', columns: { id: 'id', email: 'mail', password: 'password_hash' } }, queries });
      const r = await capture(cfg);
      // The generated scan reads users.mail, which does not exist: no sample; an id read from the users table is
      // bound to find_by_id, and the login it returns to find_by_login.
      assert.equal(r.code, 0, r.text);
      assert.match(r.text, /\n {2}ok {6}find_by_id: returns id, email, password\n/);
      assert.match(r.text, /\n {2}ok {6}find_by_login: returns id, email, password\n/);
      assert.match(r.text, /\n {2}ok {6}columns\.email \(mail\) \(provided by store\.queries\)/);
      assert.doesNotMatch(r.text, /MISSING/);
      // A users table that has what the mapping names: both queries return a row of the sample, and their columns.
      const good = configFor(dialect, db.url, { users: { table: 'accounts', columns: { id: 'id', email: 'mail', password: 'pass' } }, queries });
      const g = await capture(good);
      assert.equal(g.code, 0, g.text);
      assert.match(g.text, /\n {2}ok {6}find_by_login: returns id, email, password\n/);
      assert.match(g.text, /\n {2}ok {6}find_by_id: returns id, email, password\n/);
      // A query without the password column fails check.
      const bad = configFor(dialect, db.url, { users: { table: 'accounts', columns: { id: 'id', email: 'mail', password: 'pass' } }, queries: { find_by_id: 'SELECT id, mail AS email FROM accounts WHERE id = :id' } });
      const b = await capture(bad);
      assert.equal(b.code, 1, b.text);
      assert.match(b.text, /\n {2}FAILED {2}find_by_id: returns id, email; MISSING password/);
    });

    test('a missing join table is reported once, as the root cause, not as each of its columns', async () => {
      const cfg = configFor(dialect, db.url, {
        users: {
          table: 'users',
          columns: { id: 'id', email: 'email', password: 'password_hash', name: 'p.full_name', nickname: 'p.nick' },
          joins: [{ table: 'profiles', alias: 'p', on: { id: 'user_id' } }],
          user_metadata: ['p.city'],
        },
      });
      const r = await capture(cfg);
      assert.equal(r.code, 1, r.text);
      assert.equal(r.text.match(/MISSING/g)?.length, 1, r.text);
      assert.match(r.text, /\n {2}MISSING joined table profiles \(/);
      assert.match(r.text, /\(6 configured column\(s\) not checked until the missing table exists\)/);
      assert.match(r.text, /fix store\.users \(or the preset\)/);
      assert.doesNotMatch(r.text, /run the DDL below/);
    });

    test('a missing migration table is answered with "run the DDL below", not "fix store.users"', async () => {
      const r = await capture(configFor(dialect, db.url, { migration: { table: 'lg_no_marks' } }));
      assert.equal(r.code, 1, r.text);
      assert.match(r.text, /\n {2}MISSING migration table lg_no_marks/);
      assert.match(r.text, /the migration state does not exist yet: run the DDL below/);
      assert.doesNotMatch(r.text, /fix store\.users/);
      assert.match(r.text, /CREATE TABLE .lg_no_marks. \(/);
    });

    if (dialect === 'mysql') {
      test('GRANTs paste as printed (database-qualified, no ERROR 1046); SHOW GRANTS hashes are redacted', async () => {
        const role = uniqueName('lg_gr');
        const password = `Pw-${role}`;
        // A client with no current database, as a DBA pastes into.
        const admin = await mysql.createConnection({ uri: env.mysqlUrl.replace(/\/[^/]*$/, '/') });
        try {
          const r = await capture(configFor(dialect, db.url));
          const printed = r.text.slice(r.text.indexOf('least-privilege grants'));
          const grants = printed.split('\n').filter((l) => l.startsWith('  GRANT ')).map((l) => l.trim());
          assert.ok(grants.length >= 3, r.text);
          for (const g of grants) assert.ok(g.includes(`ON \`${db.name}\`.`), g);
          for (const h of ['%', 'localhost']) {
            await admin.query(`CREATE USER '${role}'@'${h}' IDENTIFIED BY '${password}'`);
            // As printed; the example role name replaced by this test's.
            for (const g of grants) await admin.query(g.replace(`'legacy_gateway'@'%'`, `'${role}'@'${h}'`));
          }
          const url = new URL(db.url);
          url.username = role;
          url.password = password;
          const asRole = await capture(configFor(dialect, url.toString()));
          assert.equal(asRole.code, 0, asRole.text);
          assert.match(asRole.text, /IDENTIFIED BY PASSWORD '<redacted>'/);
          assert.doesNotMatch(asRole.text, /\*[0-9A-F]{40}/);
          assert.match(asRole.text, new RegExp(`GRANT SELECT ON \`${db.name}\`\\.\`users\``));
        } finally {
          await admin.query(`DROP USER IF EXISTS '${role}'@'%', '${role}'@'localhost'`);
          await admin.end();
        }
      });
    }
  });
}
