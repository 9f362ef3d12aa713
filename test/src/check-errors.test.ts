/**
 * Connection errors name the database and a hint (src/dbhints.ts), on real PostgreSQL and MariaDB: a wrong password
 * (a dedicated user with a password, dropped afterwards), an unknown host, a closed port and a missing database.
 * check's output and the adapters' StoreError messages name adapter, host, port and database, the driver's code and
 * the right hint, and never the password.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createStore } from '../../adapters/index.js';
import { runCheck } from '../../src/check.js';
import { parseConfig, type Config } from '../../src/config.js';
import { connectionHint, describeConnectionError, describeTarget, isConnectionError, storeTarget } from '../../src/dbhints.js';
import { availability, closedPort, createMysqlDatabase, createPostgresDatabase, env, uniqueName, type TestDatabase } from '../helpers/databases.js';

const PASSWORD = 'Pw-' + uniqueName('s3cret');

async function capture(config: Config): Promise<{ code: number; text: string }> {
  let text = '';
  const out = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } });
  const code = await runCheck(config, out);
  return { code, text };
}

function configFor(adapter: 'postgres' | 'mysql', url: string): Config {
  return parseConfig({
    auth: { issuer: 'https://issuer.example/', audience: 'aud' },
    store: {
      adapter, url, query_timeout_ms: 3000,
      users: { table: 'users', columns: { id: 'id', email: 'email', password: 'password_hash' } },
      migration: { table: 'legacy_gateway_migrations' },
    },
  }, {});
}

function withUrl(base: string, change: (u: URL) => void): string {
  const u = new URL(base);
  change(u);
  return u.toString();
}

const HINT = {
  auth: /hint: wrong password or user/,
  host: /hint: host unknown/,
  port: /hint: server not listening/,
  db: /hint: database missing/,
};

for (const dialect of ['postgres', 'mysql'] as const) {
  const skip = await availability(dialect);
  describe(`connection errors on ${dialect}`, { skip }, () => {
    let db: TestDatabase;
    const user = uniqueName('lg_pw');
    before(async () => {
      db = dialect === 'postgres' ? await createPostgresDatabase() : await createMysqlDatabase();
      await db.exec(
        dialect === 'postgres'
          ? [`CREATE ROLE ${user} LOGIN PASSWORD '${PASSWORD}'`]
          : ['%', 'localhost'].flatMap((h) => [`CREATE USER '${user}'@'${h}' IDENTIFIED BY '${PASSWORD}'`, `GRANT SELECT ON \`${db.name}\`.* TO '${user}'@'${h}'`]),
      );
    });
    after(async () => {
      await db?.exec([dialect === 'postgres' ? `DROP ROLE IF EXISTS ${user}` : `DROP USER IF EXISTS '${user}'@'%', '${user}'@'localhost'`]);
      await db?.drop();
    });

    /** check fails with exit 1, naming adapter/host/port/database, the code and the hint; never the password. */
    async function expectFailure(url: string, code: RegExp, hint: RegExp, secret?: string) {
      const t = storeTarget(dialect, url);
      const r = await capture(configFor(dialect, url));
      assert.equal(r.code, 1, r.text);
      assert.match(r.text, /connection: FAILED\n/);
      assert.ok(r.text.includes(`${dialect} at ${t.host}:${t.port}, database ${t.database}: `), r.text);
      assert.match(r.text, code);
      assert.match(r.text, hint);
      if (secret) assert.ok(!r.text.includes(secret), 'the password is never printed');
      return r.text;
    }

    // PostgreSQL's shared test server trusts 127.0.0.1 (no password is checked): its wrong password is tested on a
    // private cluster below.
    if (dialect === 'mysql') {
      test('wrong password: the code, the wrong-password hint, never the password', async () => {
        const wrong = `${PASSWORD}-wrong`;
        const url = withUrl(db.url, (u) => {
          u.username = user;
          u.password = wrong;
        });
        const text = await expectFailure(url, /ER_ACCESS_DENIED_ERROR \(1045\)/, HINT.auth, wrong);
        assert.ok(!text.includes(PASSWORD), text);
      });
    }

    test('the right password connects (the dedicated user exists): the test above is about the password', async () => {
      const url = withUrl(db.url, (u) => {
        u.username = user;
        u.password = PASSWORD;
      });
      const r = await capture(configFor(dialect, url));
      // Connected; the users table is missing from this empty database (or not visible to this user).
      assert.match(r.text, /connection: ok/, r.text);
    });

    test('unknown host (.invalid)', async () => {
      await expectFailure(withUrl(db.url, (u) => (u.hostname = 'no-such-host.invalid')), /ENOTFOUND|EAI_AGAIN/, HINT.host);
    });

    test('closed port', async () => {
      const port = await closedPort();
      await expectFailure(withUrl(db.url, (u) => (u.port = String(port))), /ECONNREFUSED/, HINT.port);
    });

    test('missing database', async () => {
      const name = uniqueName('lg_nodb');
      await expectFailure(withUrl(db.url, (u) => (u.pathname = `/${name}`)), dialect === 'postgres' ? /3D000/ : /ER_BAD_DB_ERROR \(1049\)/, HINT.db);
    });

    test('the adapters\' StoreError names the database and the hint too (what the gateway logs)', async () => {
      const port = await closedPort();
      const cfg = configFor(dialect, withUrl(db.url, (u) => {
        u.port = String(port);
        u.password = 'never-shown';
      }));
      const store = await createStore(cfg.store);
      try {
        await assert.rejects(store.findById('1'), (e: Error) => {
          assert.equal(e.name, 'StoreError');
          assert.match(e.message, new RegExp(`^findById failed: ${dialect} at 127\\.0\\.0\\.1:${port}, database ${db.name}: ECONNREFUSED`));
          assert.match(e.message, HINT.port);
          assert.ok(!e.message.includes('never-shown'));
          return true;
        });
      } finally {
        await store.close();
      }
    });
  });
}

/**
 * A private PostgreSQL cluster that checks passwords (scram-sha-256), since the shared server trusts 127.0.0.1: its
 * own data directory and free port, stopped and removed afterwards. pg_hba.conf admits the database "tlsonly" only
 * over TLS (which this cluster does not offer), to get PostgreSQL's own "no pg_hba.conf entry … no encryption".
 */
const PG_BIN = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/14/bin'].find((d) => existsSync(path.join(d, 'initdb')));

async function privatePostgres(): Promise<{ url: (user: string, password: string, db?: string) => string; stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-pg-'));
  // initdb refuses to run as root: run the cluster as the postgres OS user then.
  const asRoot = process.getuid?.() === 0;
  const wrap = (cmd: string, args: string[]): [string, string[]] => (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  const pw = path.join(dir, 'pw');
  writeFileSync(pw, `${PASSWORD}\n`, { mode: 0o644 });
  const data = path.join(dir, 'data');
  execFileSync(...wrap(path.join(PG_BIN!, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pw}`]), { stdio: 'ignore', timeout: 60_000 });
  writeFileSync(path.join(data, 'pg_hba.conf'), 'hostssl tlsonly all 127.0.0.1/32 scram-sha-256\nhost postgres all 127.0.0.1/32 scram-sha-256\n');
  const port = await closedPort();
  const [cmd, args] = wrap(path.join(PG_BIN!, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1']);
  const child: ChildProcess = spawn(cmd, args, { stdio: 'ignore' });
  const url = (user: string, password: string, db = 'postgres') => `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url('postgres', PASSWORD), connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.end();
      break;
    } catch (e) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`the private PostgreSQL did not start: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const pgSkip = PG_BIN ? false : 'no PostgreSQL server binaries (initdb) here for a private cluster that checks passwords';
if (pgSkip && env.requireDatabases) throw new Error(`required database suite cannot run: ${pgSkip}`);

describe('a PostgreSQL server that checks passwords (a private cluster)', { skip: pgSkip }, () => {
  let server: Awaited<ReturnType<typeof privatePostgres>>;
  before(async () => {
    server = await privatePostgres();
  });
  after(async () => {
    await server?.stop();
  });

  test('wrong password: 28P01, the wrong-password hint, never the password', async () => {
    const wrong = `${PASSWORD}-wrong`;
    const r = await capture(configFor('postgres', server.url('postgres', wrong)));
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, /connection: FAILED\n {2}postgres at 127\.0\.0\.1:\d+, database postgres: 28P01 password authentication failed for user "postgres" — hint: wrong password or user/);
    assert.ok(!r.text.includes(wrong) && !r.text.includes(PASSWORD), r.text);
  });

  test('pg_hba.conf admitting only TLS: 28000 "… no encryption" and the TLS hint', async () => {
    const r = await capture(configFor('postgres', server.url('postgres', PASSWORD, 'tlsonly')));
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, /database tlsonly: 28000 no pg_hba\.conf entry for host "127\.0\.0\.1", user "postgres", database "tlsonly", (no encryption|SSL off) — hint: TLS required or refused/);
    assert.ok(!r.text.includes(PASSWORD), r.text);
  });

  test('the right password connects', async () => {
    const r = await capture(configFor('postgres', server.url('postgres', PASSWORD)));
    assert.match(r.text, /connection: ok/, r.text);
  });
});

describe('the hint table (driver error shapes the servers here cannot produce on demand)', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['PostgreSQL pg_hba.conf refusing a non-TLS connection', { code: '28000', message: 'no pg_hba.conf entry for host "10.0.0.5", user "gw", database "shop", SSL off' }, /^TLS required or refused/],
    ['PostgreSQL pg_hba.conf refusing the user', { code: '28000', message: 'no pg_hba.conf entry for host "10.0.0.5", user "gw", database "shop", SSL encryption' }, /^wrong password or user/],
    ['MySQL require_secure_transport (3159)', { code: 'ER_SECURE_TRANSPORT_REQUIRED', errno: 3159, message: 'Connections using insecure transport are prohibited while --require_secure_transport=ON.' }, /^TLS required/],
    ['MariaDB require_secure_transport (HY000)', { code: 'HY000', errno: 1045, message: 'Connections using insecure transport are prohibited while --require_secure_transport=ON.' }, /^TLS required/],
    ['pg to a server without TLS', { message: 'The server does not support SSL connections' }, /^TLS required/],
    ['an untrusted certificate', { code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' }, /^TLS required/],
    ['MySQL: no privileges on the database (1044)', { code: 'ER_DBACCESS_DENIED_ERROR', errno: 1044, message: "Access denied for user 'gw'@'%' to database 'shop'" }, /^no access to this database/],
    ['SQL Server login failed', { code: 'ELOGIN', number: 18456, message: "Login failed for user 'gw'." }, /^wrong password or user/],
    ['SQL Server database missing (4060)', { code: 'ELOGIN', number: 4060, message: 'Cannot open database "shop" requested by the login. The login failed.' }, /^database missing/],
    ['Oracle ORA-01017', { errorNum: 1017, message: 'ORA-01017: invalid username/password; logon denied' }, /^wrong password or user/],
    ['a DNS failure', { code: 'EAI_AGAIN', message: 'getaddrinfo EAI_AGAIN db.example' }, /^host unknown/],
    ['a timeout', { code: 'ETIMEDOUT', message: 'connect ETIMEDOUT 10.0.0.5:5432' }, /^timeout/],
  ];
  for (const [name, err, hint] of cases) {
    test(name, () => assert.match(connectionHint(err) ?? '(none)', hint));
  }
  test('a query error on user input is not a connection error (its message is never quoted)', () => {
    assert.equal(connectionHint({ code: '22P02', message: 'invalid input syntax for type integer: "alice"' }), undefined);
    const mssql = { code: 'EREQUEST', number: 245, message: "Conversion failed when converting the nvarchar value 'alice' to data type int." };
    assert.equal(isConnectionError(mssql), false);
    assert.equal(isConnectionError({ code: 'ECONNRESET', message: 'read ECONNRESET' }), true);
  });
  test('the target: host, port (the default when absent) and database, never the credentials', () => {
    const url = 'postgres://gw:hunter2@db.example/shop?sslmode=require';
    const t = storeTarget('postgres', url);
    assert.equal(describeTarget(t), 'postgres at db.example:5432, database shop');
    const text = describeConnectionError(t, { code: '28P01', message: 'password authentication failed for user "gw" (hunter2)' }, url);
    assert.ok(!text.includes('hunter2'), text);
    assert.equal(describeTarget(storeTarget('sqlite', '/var/db/app.sqlite')), 'sqlite');
  });
});
