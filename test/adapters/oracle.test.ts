/**
 * Oracle Database store (oracledb, Thin mode). The UserStore contract runs against a real server when
 * TEST_ORACLE_URL is set (oracle://user:password@host:1521/service_name, a user that may CREATE TABLE); otherwise
 * it is reported as skipped, also under TEST_REQUIRE_DB (there is no Oracle server in CI or on the dev machines).
 * Oracle databases are heavyweight, so each run creates tables with a unique prefix in the user's own schema and
 * drops them afterwards. SQL generation is unit-tested in sql.test.ts; URL handling and the driver glue (row keys,
 * NUMBER and LOB fetching, binds, commits, connection release) here, the glue against a stand-in oracledb.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import {
  createOracleStore,
  openOracleDriver,
  oracleConfig,
  type OracleConnection,
  type OracleDb,
  type OracleMetaData,
  type OracleResult,
} from '../../adapters/oracle.js';
import { StoreError } from '../../adapters/types.js';
import { parseConfig, testEnvironment } from '../../src/config.js';
import { indexSuggestions, migrationStatements } from '../../src/dba.js';
import { contractMapping, seedLastLogins, sqlRaw, userStoreContract, type ContractMapping, type MigrationMode, type SeedUser } from './contract.js';
import { findByLogin } from '../../src/matching.js';

const oracledb = createRequire(import.meta.url)('oracledb') as OracleDb & {
  thin: boolean;
  getConnection(attrs: Record<string, unknown>): Promise<OracleConnection>;
};
const env = testEnvironment();
const OPTS = { max: 7, queryTimeoutMs: 3000 };

describe('oracle store URL', () => {
  test('oracle:// URL: credentials decoded, Easy Connect string, pool and timeouts from the store settings', () => {
    const c = oracleConfig('oracle://app%40corp:p%40ss%3Aw%2Fd@db.example.com:1522/ORCLPDB1', OPTS);
    assert.deepEqual(c, {
      user: 'app@corp',
      password: 'p@ss:w/d',
      connectString: 'db.example.com:1522/ORCLPDB1',
      poolMin: 0,
      poolMax: 7,
      queueTimeout: 3000,
      connectTimeout: 3,
      transportConnectTimeout: 3,
    });
  });

  test('port 1521 by default; ssl=true is tcps; IPv6 hosts keep their brackets; timeouts round up to whole seconds', () => {
    assert.equal(oracleConfig('oracle://u:p@db/FREEPDB1', OPTS).connectString, 'db:1521/FREEPDB1');
    assert.equal(oracleConfig('oracle://u:p@adb.eu-frankfurt-1.oraclecloud.com:1522/x_high.adb.oraclecloud.com?ssl=true', OPTS).connectString, 'tcps://adb.eu-frankfurt-1.oraclecloud.com:1522/x_high.adb.oraclecloud.com');
    assert.equal(oracleConfig('oracle://u:p@db/S?ssl=false', OPTS).connectString, 'db:1521/S');
    assert.equal(oracleConfig('oracle://u:p@[::1]:1521/S', OPTS).connectString, '[::1]:1521/S');
    const c = oracleConfig('oracle://u:p@db/S', { max: 1, queryTimeoutMs: 2500 });
    assert.equal(c.connectTimeout, 3);
    assert.equal(c.queueTimeout, 2500);
  });

  test('bad URLs are refused without echoing them (they hold the password)', () => {
    for (const url of [
      'oracle://u:secret@db',
      'oracle://u:secret@db/',
      'oracle://:secret@db/S',
      'oracle://u:secret@db/S?ssl=maybe',
      'oracle://u:secret@db/S?wallet=x',
      'oracle://u:secret%zz@db/S',
      'postgres://u:secret@db/S',
      'u/secret@db:1521/S',
      'oracle://u:secret@/S',
    ]) {
      assert.throws(
        () => oracleConfig(url, OPTS),
        (e: Error) => e instanceof StoreError && !e.message.includes('secret'),
        url,
      );
    }
  });

  test('Thin mode: loading oracledb never needs the Oracle Client libraries', () => {
    assert.equal(oracledb.thin, true);
  });

  test('an unreachable server is an error of the queries, not of opening the store; close() works', async () => {
    const store = await createOracleStore({
      url: 'oracle://app:zq-secret-pw@127.0.0.1:1/FREEPDB1',
      query_timeout_ms: 2000,
      pool_max: 2,
      ...contractMapping('table'),
    });
    await assert.rejects(store.ping(), (e: Error) => e instanceof StoreError && /^ping failed \(NJS-\d+\)$/.test(e.message) && !e.message.includes('zq-secret'));
    await assert.rejects(findByLogin(store, 'alice'), StoreError);
    await store.close();
    await assert.rejects(store.ping(), /closed/);
  });
});

// --- the driver glue, against a stand-in oracledb ----------------------------------------------------------------

interface Executed {
  sql: string;
  binds: unknown[];
  options: Record<string, unknown>;
  callTimeout: number;
}

/** oracledb with createPool replaced: every connection records its statements and answers with `answer`. */
function standIn(answer: (sql: string) => OracleResult | Error) {
  const executed: Executed[] = [];
  const released: { drop: boolean }[] = [];
  const pools: { attrs: Record<string, unknown>; closedWith?: number }[] = [];
  const fake = Object.create(oracledb as object, {
    createPool: {
      value: async (attrs: Record<string, unknown>) => {
        const record: { attrs: Record<string, unknown>; closedWith?: number } = { attrs };
        pools.push(record);
        return {
          async getConnection(): Promise<OracleConnection> {
            const conn: OracleConnection = {
              callTimeout: 0,
              async execute(sql, binds, options) {
                executed.push({ sql, binds, options, callTimeout: conn.callTimeout });
                const r = answer(sql);
                if (r instanceof Error) throw r;
                return r;
              },
              async close(...args: [{ drop?: boolean }?]) {
                // As oracledb: an argument, if given, must be an object (close(undefined) throws and leaks the connection).
                if (args.length === 1 && (typeof args[0] !== 'object' || args[0] === null)) throw new Error('NJS-005: invalid value for parameter 1');
                released.push({ drop: args[0]?.drop === true });
              },
            };
            return conn;
          },
          async close(drainTime?: number) {
            record.closedWith = drainTime;
          },
        };
      },
    },
  }) as OracleDb;
  return { fake, executed, released, pools };
}

/** What oracledb does with a fetchTypeHandler's answer for one column, enough to check the converters. */
function fetched(options: Record<string, unknown>, meta: OracleMetaData, raw: unknown): unknown {
  const handler = options.fetchTypeHandler as (m: OracleMetaData) => { type?: unknown; converter?: (v: unknown) => unknown } | undefined;
  const h = handler(meta);
  return h?.converter ? h.converter(raw) : raw;
}

describe('oracle driver glue (stand-in oracledb)', () => {
  test('the pool: poolMin 0, poolMax = pool_max, queueTimeout = query timeout; never connects on open', async () => {
    const s = standIn(() => ({}));
    const d = await openOracleDriver('oracle://app:pw@db:1521/FREEPDB1', OPTS, s.fake);
    assert.equal(s.pools.length, 1);
    assert.deepEqual(s.pools[0]!.attrs, { ...oracleConfig('oracle://app:pw@db:1521/FREEPDB1', OPTS) });
    assert.equal(s.executed.length, 0);
    await d.close();
    assert.equal(s.pools[0]!.closedWith, 3);
    await d.close();
    await assert.rejects(d.all('SELECT 1 AS ok FROM dual', []), /closed/);
  });

  test('rows: quoted aliases exactly, Oracle-folded UPPER-case names lower-cased; callTimeout set; no commit on reads', async () => {
    const s = standIn(() => ({
      metaData: [{ name: 'f_id' }, { name: 'f_email' }, { name: 'a_0' }, { name: 'TOTAL' }, { name: 'USER_ID' }, { name: 'MIGRATED_AT' }, { name: 'Mixed_Case' }],
      rows: [[1, 'A@x', 'gold', 7, '1', null, 'm']],
    }));
    const d = await openOracleDriver('oracle://app:pw@db/S', OPTS, s.fake);
    const rows = await d.all('SELECT ...', ['a', true, false, null]);
    assert.deepEqual(rows, [{ f_id: 1, f_email: 'A@x', a_0: 'gold', total: 7, user_id: '1', migrated_at: null, Mixed_Case: 'm' }]);
    const [e] = s.executed;
    assert.equal(e!.callTimeout, 3000);
    assert.equal(e!.options.outFormat, oracledb.OUT_FORMAT_ARRAY);
    assert.equal(e!.options.autoCommit, false);
    // BOOLEAN binds need Oracle 23ai: flags are bound as 1/0.
    assert.deepEqual(e!.binds, ['a', 1, 0, null]);
    assert.deepEqual(s.released, [{ drop: false }]);
    await d.close();
  });

  test('writes commit (autoCommit) and report rowsAffected; Dates are bound as they are', async () => {
    const s = standIn(() => ({ rowsAffected: 1 }));
    const d = await openOracleDriver('oracle://app:pw@db/S', OPTS, s.fake);
    const now = new Date('2024-05-06T07:08:09.123Z');
    assert.equal(await d.run('MERGE ...', ['42', now]), 1);
    assert.equal(s.executed[0]!.options.autoCommit, true);
    assert.equal(s.executed[0]!.binds[1], now);
    await d.close();
  });

  test('NUMBER is fetched as text and becomes a JS number unless digits would be lost; LOBs as string and Buffer', async () => {
    const s = standIn(() => ({ metaData: [], rows: [] }));
    const d = await openOracleDriver('oracle://app:pw@db/S', OPTS, s.fake);
    await d.all('SELECT ...', []);
    const o = s.executed[0]!.options;
    const handler = o.fetchTypeHandler as (m: OracleMetaData) => { type?: unknown } | undefined;
    const num = { name: 'f_id', dbType: oracledb.DB_TYPE_NUMBER };
    assert.equal(handler(num)?.type, oracledb.STRING);
    assert.equal(fetched(o, num, '42'), 42);
    assert.equal(fetched(o, num, '-7'), -7);
    assert.equal(fetched(o, num, '.5'), 0.5);
    assert.equal(fetched(o, num, '9007199254740991'), 9007199254740991);
    assert.equal(fetched(o, num, '12345678901234567890'), '12345678901234567890');
    assert.equal(fetched(o, num, null), null);
    assert.equal(handler({ name: 'x', dbType: oracledb.DB_TYPE_CLOB })?.type, oracledb.STRING);
    assert.equal(handler({ name: 'x', dbType: oracledb.DB_TYPE_NCLOB })?.type, oracledb.STRING);
    assert.equal(handler({ name: 'x', dbType: oracledb.DB_TYPE_BLOB })?.type, oracledb.BUFFER);
    assert.equal(handler({ name: 'x', dbType: (oracledb as unknown as { DB_TYPE_VARCHAR: unknown }).DB_TYPE_VARCHAR }), undefined);
    await d.close();
  });

  test('a connection that timed out or died is dropped from the pool; after an SQL error it goes back', async () => {
    const errors = [
      Object.assign(new Error('NJS-123: call timeout of 3000 ms exceeded'), { code: 'NJS-123' }),
      Object.assign(new Error('NJS-500: connection to the Oracle Database was broken'), { code: 'NJS-500' }),
      Object.assign(new Error('ORA-00942: table or view does not exist'), { code: 'ORA-00942', errorNum: 942 }),
    ];
    let i = 0;
    const s = standIn(() => errors[i++]!);
    const d = await openOracleDriver('oracle://app:pw@db/S', OPTS, s.fake);
    for (const e of errors) await assert.rejects(d.all('SELECT ...', []), e);
    assert.deepEqual(s.released, [{ drop: true }, { drop: true }, { drop: false }]);
    await d.close();
  });

  test('a pool that cannot be created is a StoreError without the driver message', async () => {
    const fake = Object.create(oracledb as object, {
      createPool: {
        value: async () => {
          throw Object.assign(new Error('NJS-007: invalid value for "connectString" app/zq-secret@db'), { code: 'NJS-007' });
        },
      },
    }) as OracleDb;
    await assert.rejects(openOracleDriver('oracle://app:zq-secret@db/S', OPTS, fake), (e: Error) => {
      assert.ok(e instanceof StoreError);
      assert.equal(e.message, 'the Oracle connection pool could not be created (NJS-007)');
      return true;
    });
  });
});

// --- the contract, on a real server ---------------------------------------------------------------------------

/** A standalone connection for fixtures (not through the adapter). */
async function connect(url: string): Promise<OracleConnection> {
  const c = oracleConfig(url, { max: 1, queryTimeoutMs: 15_000 });
  const conn = await oracledb.getConnection({ user: c.user, password: c.password, connectString: c.connectString, connectTimeout: c.connectTimeout });
  conn.callTimeout = 60_000;
  return conn;
}

async function availability(): Promise<string | false> {
  if (!env.oracleUrl) {
    return 'Oracle not configured (no Oracle server on this machine): set TEST_ORACLE_URL=oracle://user:password@host:1521/FREEPDB1 to run the contract against one';
  }
  try {
    const c = await connect(env.oracleUrl);
    await c.close();
    return false;
  } catch (e) {
    const reason = `Oracle at TEST_ORACLE_URL not reachable (${(e as { code?: string }).code ?? (e as Error).name})`;
    if (env.requireDatabases) throw new Error(`required database suite cannot run: ${reason}`);
    return reason;
  }
}

const skip = await availability();

/** The DDL `legacy-gateway check` prints for this mapping, as Oracle executes it (no trailing semicolon). */
function dbaDdl(users: string, migration: { column: string; exports_table: string } | { table: string; exports_table: string }): { migration: string[]; indexes: string[] } {
  const config = parseConfig(
    {
      auth: { issuer: 'https://issuer.example/', audience: 'aud' },
      store: { adapter: 'oracle', url: 'x', migration, users: { table: users, columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash' } } },
    },
    {},
  );
  const statement = (s: string) => s.slice(0, s.indexOf(';'));
  return { migration: migrationStatements(config).map(statement), indexes: indexSuggestions(config).map(statement) };
}

async function open(users: SeedUser[], mode: MigrationMode) {
  // Unquoted, so stored in UPPER case (and configured that way); at most 30 characters for Oracle before 12.2.
  const prefix = `LGT_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`.toUpperCase();
  const usersTable = `${prefix}_USERS`;
  const marksTable = `${prefix}_MARKS`;
  const ledgerTable = `${prefix}_EXPORTS`;
  const migration = mode === 'column' ? { column: 'migrated_at', exports_table: ledgerTable } : { table: marksTable, exports_table: ledgerTable };
  const db = await connect(env.oracleUrl!);
  try {
    // Column names quoted in lower case, as the contract's mapping names them; the table name unquoted (UPPER).
    // Case-sensitive (binary) comparison on purpose: login matching must not depend on the column's collation.
    await db.execute(
      `CREATE TABLE ${usersTable} ("id" NUMBER(10) PRIMARY KEY, "email" NVARCHAR2(255), "username" NVARCHAR2(255),
        "password_hash" VARCHAR2(4000) NOT NULL, "full_name" NVARCHAR2(255), "email_confirmed" NUMBER(1),
        "is_disabled" NUMBER(1) DEFAULT 0 NOT NULL, "plan" VARCHAR2(50), "last_login" TIMESTAMP WITH TIME ZONE)`,
      [],
      {},
    );
    const ddl = dbaDdl(usersTable, migration);
    for (const statement of ddl.migration) await db.execute(statement, [], {});
    for (const [i, index] of ddl.indexes.entries()) await db.execute(index.replace(/^CREATE INDEX "[^"]+"/, `CREATE INDEX ${prefix}_I${i}`), [], {});
    const flag = (b: boolean | null | undefined) => (b === null || b === undefined ? null : b ? 1 : 0);
    for (const u of users) {
      await db.execute(
        `INSERT INTO ${usersTable} ("id", "email", "username", "password_hash", "full_name", "email_confirmed", "is_disabled", "plan") VALUES (:1, :2, :3, :4, :5, :6, :7, :8)`,
        [u.id, u.email, u.username, u.password_hash, u.full_name ?? null, flag(u.email_confirmed), flag(u.is_disabled ?? false), u.plan ?? null],
        { autoCommit: true },
      );
    }
  } finally {
    await db.close();
  }
  const raw = sqlRaw(await openOracleDriver(env.oracleUrl!, { max: 2, queryTimeoutMs: 5000 }), mode, { users: usersTable, marks: marksTable, ledger: ledgerTable });
  await seedLastLogins(raw, users);
  // The contract's mapping on this run's tables (a test's own ledger name, an absent one, is kept).
  const reopen = (m: ContractMapping) =>
    createOracleStore({
      url: env.oracleUrl!,
      query_timeout_ms: 5000,
      pool_max: 5,
      users: { ...m.users, table: usersTable },
      migration: { ...migration, exports_table: m.migration.exports_table ?? ledgerTable },
    });
  const store = await reopen(contractMapping(mode));
  return {
    store,
    reopen,
    raw,
    async cleanup() {
      await store.close();
      await raw.close();
      const a = await connect(env.oracleUrl!);
      try {
        for (const t of [usersTable, ledgerTable, ...(mode === 'table' ? [marksTable] : [])]) await a.execute(`DROP TABLE ${t} PURGE`, [], {});
      } finally {
        await a.close();
      }
    },
  };
}

userStoreContract('oracle (Oracle Database)', open, { skip });
