/**
 * SQL generation of the shared base (adapters/sql.ts) under every dialect, against a fake driver that records
 * (sql, params) and answers with canned rows. No server needed: this is what keeps SQL Server's SQL tested
 * on machines that have none.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mssqlDialect } from '../../adapters/mssql.js';
import { mysqlDialect } from '../../adapters/mysql.js';
import { oracleDialect } from '../../adapters/oracle.js';
import { postgresDialect } from '../../adapters/postgres.js';
import { SqlUserStore, type Dialect, type MappingConfig, type Row, type SqlDriver } from '../../adapters/sql.js';
import { sqliteDialect } from '../../adapters/sqlite.js';
import { isAmbiguous, StoreError, type LegacyUser } from '../../adapters/types.js';
import { CANDIDATE_LIMIT, findByLogin } from '../../src/matching.js';

interface Call {
  kind: 'all' | 'run';
  sql: string;
  params: unknown[];
}

interface Fake {
  driver: SqlDriver;
  calls: Call[];
}

/** A driver that records every statement; `all` answers with `answer`, `run` calls `onRun` and reports 1 row. */
function fake(dialect: Dialect, answer: (sql: string, params: unknown[]) => Row[] = () => [], onRun: (sql: string, params: unknown[]) => void = () => {}): Fake {
  const calls: Call[] = [];
  return {
    calls,
    driver: {
      dialect,
      async all(sql, params) {
        calls.push({ kind: 'all', sql, params: [...params] });
        return answer(sql, params);
      },
      async run(sql, params) {
        calls.push({ kind: 'run', sql, params: [...params] });
        onRun(sql, params);
        return 1;
      },
      async close() {},
    },
  };
}

/** What each dialect is expected to write, to build expected SQL independently of the dialect objects. */
interface Expect {
  dialect: Dialect;
  q(ident: string): string;
  p(n: number): string;
  lower(expr: string): string;
  limit(select: string, n: number): string;
  insertIfAbsent(table: string): string;
  /** The users key as text, for the side-table join on its primary key. */
  idAsText(expr: string): string;
  /** The bound "now" is a Date object (else an ISO 8601 string). */
  dateParam: boolean;
  numbered: boolean;
  /** Numbered placeholders as they appear in SQL text (group 1 is the number). */
  placeholders?: RegExp;
  /** The engine has no way to escape its quote character inside an identifier: quoteIdent refuses it. */
  refusesQuoteChar?: boolean;
}

const DIALECTS: Record<string, Expect> = {
  sqlite: {
    idAsText: (e) => `CAST(${e} AS TEXT)`,
    dialect: sqliteDialect,
    q: (s) => `"${s}"`,
    p: () => '?',
    lower: (e) => `lg_lower(${e})`,
    limit: (s, n) => `${s} LIMIT ${n}`,
    insertIfAbsent: (t) => `INSERT INTO ${t} (user_id, migrated_at) VALUES (?, ?) ON CONFLICT(user_id) DO NOTHING`,
    dateParam: false,
    numbered: false,
  },
  postgres: {
    idAsText: (e) => `CAST(${e} AS text)`,
    dialect: postgresDialect(null),
    q: (s) => `"${s}"`,
    p: (n) => `$${n}`,
    lower: (e) => `lower(${e})`,
    limit: (s, n) => `${s} LIMIT ${n}`,
    insertIfAbsent: (t) => `INSERT INTO ${t} (user_id, migrated_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`,
    dateParam: false,
    numbered: true,
  },
  'postgres (ICU folding)': {
    idAsText: (e) => `CAST(${e} AS text)`,
    dialect: postgresDialect('und-x-icu'),
    q: (s) => `"${s}"`,
    p: (n) => `$${n}`,
    lower: (e) => `lower(${e} COLLATE "und-x-icu")`,
    limit: (s, n) => `${s} LIMIT ${n}`,
    insertIfAbsent: (t) => `INSERT INTO ${t} (user_id, migrated_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`,
    dateParam: false,
    numbered: true,
  },
  mysql: {
    idAsText: (e) => `CAST(${e} AS CHAR)`,
    dialect: mysqlDialect,
    q: (s) => `\`${s}\``,
    p: () => '?',
    lower: (e) => `LOWER(${e})`,
    limit: (s, n) => `${s} LIMIT ${n}`,
    insertIfAbsent: (t) => `INSERT INTO ${t} (user_id, migrated_at) VALUES (?, ?) ON DUPLICATE KEY UPDATE user_id = user_id`,
    dateParam: true,
    numbered: false,
  },
  mssql: {
    idAsText: (e) => `CAST(${e} AS NVARCHAR(255))`,
    dialect: mssqlDialect,
    q: (s) => `[${s}]`,
    p: (n) => `@p${n}`,
    lower: (e) => `LOWER(${e})`,
    limit: (s, n) => s.replace(/^SELECT /, `SELECT TOP (${n}) `),
    insertIfAbsent: (t) =>
      `INSERT INTO ${t} (user_id, migrated_at) SELECT @p1, @p2 WHERE NOT EXISTS (SELECT 1 FROM ${t} WITH (UPDLOCK, HOLDLOCK) WHERE user_id = @p1)`,
    dateParam: true,
    numbered: true,
    placeholders: /@p(\d+)/g,
  },
  oracle: {
    idAsText: (e) => `TO_CHAR(${e})`,
    dialect: oracleDialect,
    q: (s) => `"${s}"`,
    p: (n) => `:${n}`,
    lower: (e) => `LOWER(${e})`,
    limit: (s, n) => `${s} FETCH FIRST ${n} ROWS ONLY`,
    insertIfAbsent: (t) =>
      `MERGE INTO ${t} t USING (SELECT :1 AS user_id, :2 AS migrated_at FROM dual) s ON (t.user_id = s.user_id)` +
      ' WHEN NOT MATCHED THEN INSERT (user_id, migrated_at) VALUES (s.user_id, s.migrated_at)',
    dateParam: true,
    numbered: true,
    placeholders: /:(\d+)/g,
    refusesQuoteChar: true,
  },
};

type Mode = 'column' | 'table';

function mapping(mode: Mode, users: Partial<MappingConfig['users']> = {}, queries: MappingConfig['queries'] = {}): MappingConfig {
  return {
    users: {
      table: 'users',
      joins: [],
      filter: [],
      columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash' },
      app_metadata: ['plan'],
      user_metadata: [],
      ...users,
    },
    migration: mode === 'column' ? { column: 'migrated_at' } : { table: 'legacy_gateway_migrations' },
    queries,
  };
}

const FILTERS: MappingConfig['users']['filter'] = [
  { column: 'app', op: '=', value: 'zq-filter-shop' },
  { column: 'deleted_at', op: 'is_null' },
  { column: 'kind', op: '<>', value: 'zq-filter-robot' },
];

/** Placeholders and bound values agree: "?" count = params, or $1..$n / @p1..@pn with n = params. */
function assertPlaceholders(x: Expect, c: Call): void {
  if (x.numbered) {
    const used = [...c.sql.matchAll(x.placeholders ?? /\$(\d+)/g)].map((m) => Number(m[1]));
    const max = used.length ? Math.max(...used) : 0;
    assert.equal(max, c.params.length, `placeholders of ${c.sql}`);
    for (let i = 1; i <= max; i++) assert.ok(used.includes(i), `${x.p(i)} missing in ${c.sql}`);
  } else {
    assert.equal([...c.sql.matchAll(/\?/g)].length, c.params.length, `placeholders of ${c.sql}`);
  }
}

/** No bound value is ever part of the SQL text. */
function assertNotSpliced(calls: Call[], values: string[]): void {
  for (const c of calls) {
    for (const v of values) {
      assert.ok(!c.sql.toLowerCase().includes(v.toLowerCase()), `value ${JSON.stringify(v)} spliced into ${c.sql}`);
    }
  }
}

for (const [name, x] of Object.entries(DIALECTS)) {
  const { q, p, lower, limit } = x;
  /** The SELECT list for mapping() in the given mode. */
  const selectList = (mode: Mode) =>
    [
      `u.${q('id')} AS ${q('f_id')}`,
      `u.${q('email')} AS ${q('f_email')}`,
      `u.${q('username')} AS ${q('f_username')}`,
      `u.${q('password_hash')} AS ${q('f_password')}`,
      `u.${q('plan')} AS ${q('a_0')}`,
      ...(mode === 'column' ? [`u.${q('migrated_at')} AS ${q('f_migrated_at')}`] : [`${q('lg_mark')}.migrated_at AS ${q('f_migrated_at')}`]),
    ].join(', ');
  /** Side-table mode: the mark comes with the row, LEFT JOINed on the side table's primary key. */
  const markJoin = (id = `u.${q('id')}`) =>
    ` LEFT JOIN ${q('legacy_gateway_migrations')} ${q('lg_mark')} ON ${q('lg_mark')}.user_id = ${x.idAsText(id)}`;
  const filterSql = (from: number) => `(u.${q('app')} = ${p(from)} AND u.${q('deleted_at')} IS NULL AND u.${q('kind')} <> ${p(from + 1)})`;

  describe(`SQL generation: ${name}`, () => {
    test(`findByLogin: lower() on email and username, login trimmed and lower-cased, at most ${CANDIDATE_LIMIT} candidates`, async () => {
      const f = fake(x.dialect, () => [{ f_id: 7, f_email: 'Alice@Example.com', f_username: 'Alice', f_password: 'h', a_0: 'gold', f_migrated_at: null }]);
      const store = new SqlUserStore(f.driver, mapping('column'));
      const u = (await findByLogin(store, '  Alice@Example.COM ')) as LegacyUser;
      assert.equal(f.calls.length, 1);
      const [c] = f.calls;
      assert.equal(
        c!.sql,
        limit(`SELECT ${selectList('column')} FROM ${q('users')} u WHERE (${lower(`u.${q('email')}`)} = ${p(1)} OR ${lower(`u.${q('username')}`)} = ${p(2)})`, CANDIDATE_LIMIT),
      );
      assert.deepEqual(c!.params, ['alice@example.com', 'alice@example.com']);
      assertPlaceholders(x, c!);
      assert.deepEqual(
        { id: u.id, email: u.email, username: u.username, password: u.password, appMetadata: u.appMetadata, migratedAt: u.migratedAt },
        { id: '7', email: 'Alice@Example.com', username: 'Alice', password: 'h', appMetadata: { plan: 'gold' }, migratedAt: null },
      );
    });

    test('findByLogin: filters come after the login with their own numbered params', async () => {
      const f = fake(x.dialect);
      const store = new SqlUserStore(f.driver, mapping('column', { filter: FILTERS }));
      assert.equal(await findByLogin(store, 'zq-login@example.com'), null);
      const [c] = f.calls;
      assert.equal(
        c!.sql,
        limit(
          `SELECT ${selectList('column')} FROM ${q('users')} u WHERE (${lower(`u.${q('email')}`)} = ${p(1)} OR ${lower(`u.${q('username')}`)} = ${p(2)}) AND ${filterSql(3)}`,
          CANDIDATE_LIMIT,
        ),
      );
      assert.deepEqual(c!.params, ['zq-login@example.com', 'zq-login@example.com', 'zq-filter-shop', 'zq-filter-robot']);
      assertPlaceholders(x, c!);
      assertNotSpliced(f.calls, ['zq-login', 'zq-filter-shop', 'zq-filter-robot']);
    });

    test('findByLogin: only the configured login column; two rows that both match the rule are ambiguous, a look-alike is not', async () => {
      const f = fake(x.dialect, () => [{ f_id: 1, f_username: 'Bob' }, { f_id: 2, f_username: 'bob' }, { f_id: 3, f_username: 'bób' }]);
      const store = new SqlUserStore(f.driver, mapping('column', { columns: { id: 'id', username: 'login_name', password: 'pw' } }));
      assert.ok(isAmbiguous(await findByLogin(store, 'bob')));
      assert.equal(((await findByLogin(store, 'BÓB')) as LegacyUser).id, '3', 'the collation returned all three; the rule keeps one');
      const [c] = f.calls;
      assert.match(c!.sql, new RegExp(`WHERE \\(${escapeRe(lower(`u.${q('login_name')}`))} = ${escapeRe(p(1))}\\)`));
      assert.ok(!c!.sql.includes(q('email')));
      assert.deepEqual(c!.params, ['bob']);
    });

    test('findById: primary key bound, filters applied, only an exact canonical id matches', async () => {
      const f = fake(x.dialect, (_sql, params) => [{ f_id: params[0] === 'zq-id-42' ? 'zq-id-42' : 42 }]);
      const store = new SqlUserStore(f.driver, mapping('column', { filter: FILTERS }));
      assert.equal((await store.findById('zq-id-42'))?.id, 'zq-id-42');
      const [c] = f.calls;
      assert.equal(c!.sql, limit(`SELECT ${selectList('column')} FROM ${q('users')} u WHERE (u.${q('id')} = ${p(1)}) AND ${filterSql(2)}`, 2));
      assert.deepEqual(c!.params, ['zq-id-42', 'zq-filter-shop', 'zq-filter-robot']);
      assertPlaceholders(x, c!);
      // The engine coerced ' 42' (or '042') to 42: not the same id.
      assert.equal(await store.findById(' 42'), null);
      assertNotSpliced(f.calls, ['zq-id-42', 'zq-filter']);
    });

    test('markMigrated and unmarkMigrated, migration in a column', async () => {
      let mark: unknown = null;
      const f = fake(
        x.dialect,
        () => [{ f_id: 42, f_migrated_at: mark }],
        (sql, params) => {
          if (sql.startsWith('UPDATE') && params.length === 2) mark = params[0];
          else mark = null;
        },
      );
      const store = new SqlUserStore(f.driver, mapping('column'));
      const stamp = await store.markMigrated('42');
      assert.ok(stamp && !Number.isNaN(Date.parse(stamp)));
      const runs = f.calls.filter((c) => c.kind === 'run');
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.sql, `UPDATE ${q('users')} SET ${q('migrated_at')} = ${p(1)} WHERE ${q('id')} = ${p(2)} AND ${q('migrated_at')} IS NULL`);
      assert.equal(runs[0]!.params[1], '42');
      assert.equal(runs[0]!.params[0] instanceof Date, x.dateParam);
      assert.equal(new Date(runs[0]!.params[0] as string | Date).toISOString(), stamp);
      assertPlaceholders(x, runs[0]!);

      // Already marked: no write, the first timestamp stays.
      assert.equal(await store.markMigrated('42'), stamp);
      assert.equal(f.calls.filter((c) => c.kind === 'run').length, 1);

      assert.equal(await store.unmarkMigrated('42'), true);
      const un = f.calls.filter((c) => c.kind === 'run')[1]!;
      assert.equal(un.sql, `UPDATE ${q('users')} SET ${q('migrated_at')} = NULL WHERE ${q('id')} = ${p(1)}`);
      assert.deepEqual(un.params, ['42']);
      assertNotSpliced(f.calls, ['42']);
    });

    test('markMigrated and unmarkMigrated, migration in a side table (insert-if-absent); the mark read with the row', async () => {
      let mark: unknown = null;
      const marks = q('legacy_gateway_migrations');
      const f = fake(
        x.dialect,
        () => [{ f_id: 42, f_migrated_at: mark }],
        (sql, params) => {
          mark = /^(INSERT|MERGE)/.test(sql) ? params[1] : null;
        },
      );
      const store = new SqlUserStore(f.driver, mapping('table'));
      const stamp = await store.markMigrated('42');
      assert.ok(stamp);
      const [ins] = f.calls.filter((c) => c.kind === 'run');
      assert.equal(ins!.sql, x.insertIfAbsent(marks));
      assert.equal(ins!.params[0], '42');
      assert.equal(ins!.params[1] instanceof Date, x.dateParam);
      assertPlaceholders(x, ins!);
      // Every read is one statement: the user row with its mark (findById before the insert, and the read-back).
      const reads = f.calls.filter((c) => c.kind === 'all');
      assert.equal(reads.length, 2);
      for (const r of reads) {
        assert.equal(r.sql, limit(`SELECT ${selectList('table')} FROM ${q('users')} u${markJoin()} WHERE (u.${q('id')} = ${p(1)})`, 2));
        assert.deepEqual(r.params, ['42']);
      }
      assert.ok(!f.calls.some((c) => c.sql.startsWith('SELECT user_id')), 'no separate marks query');
      assert.equal(await store.unmarkMigrated('42'), true);
      const del = f.calls.filter((c) => c.kind === 'run')[1]!;
      assert.equal(del.sql, `DELETE FROM ${marks} WHERE user_id = ${p(1)}`);
      assert.deepEqual(del.params, ['42']);
      assertNotSpliced(f.calls, ['42']);
    });

    test('findByLogin, migration in a side table: one statement, the mark joined on the side table\'s primary key', async () => {
      const f = fake(x.dialect, () => [{ f_id: 7, f_email: 'a@x', f_migrated_at: '2024-05-06 07:08:09' }]);
      const store = new SqlUserStore(f.driver, mapping('table'));
      const u = (await findByLogin(store, 'A@X')) as LegacyUser;
      assert.equal(u.migratedAt, '2024-05-06T07:08:09.000Z');
      assert.equal(f.calls.length, 1);
      assert.equal(
        f.calls[0]!.sql,
        limit(`SELECT ${selectList('table')} FROM ${q('users')} u${markJoin()} WHERE (${lower(`u.${q('email')}`)} = ${p(1)} OR ${lower(`u.${q('username')}`)} = ${p(2)})`, CANDIDATE_LIMIT),
      );
      assertPlaceholders(x, f.calls[0]!);
    });

    test('marking an unknown user writes nothing', async () => {
      const f = fake(x.dialect);
      const store = new SqlUserStore(f.driver, mapping('table'));
      assert.equal(await store.markMigrated('zq-nobody'), null);
      assert.equal(await store.unmarkMigrated('zq-nobody'), false);
      assert.equal(f.calls.filter((c) => c.kind === 'run').length, 0);
    });

    test('migrationStatus applies the filters (column mode: one query)', async () => {
      const f = fake(x.dialect, () => [{ total: '10', migrated: 3 }]);
      const store = new SqlUserStore(f.driver, mapping('column', { filter: FILTERS }));
      assert.deepEqual(await store.migrationStatus(), { total: 10, migrated: 3, remaining: 7 });
      assert.equal(f.calls.length, 1);
      assert.equal(f.calls[0]!.sql, `SELECT COUNT(*) AS total, COUNT(u.${q('migrated_at')}) AS migrated FROM ${q('users')} u WHERE ${filterSql(1)}`);
      assert.deepEqual(f.calls[0]!.params, ['zq-filter-shop', 'zq-filter-robot']);
      assertPlaceholders(x, f.calls[0]!);
    });

    test('migrationStatus applies the filters (table mode: users counted with filters, marks counted)', async () => {
      const f = fake(x.dialect, (sql) => (sql.includes('AS total') ? [{ total: 5 }] : [{ migrated: '2' }]));
      const store = new SqlUserStore(f.driver, mapping('table', { filter: FILTERS }));
      assert.deepEqual(await store.migrationStatus(), { total: 5, migrated: 2, remaining: 3 });
      assert.equal(f.calls[0]!.sql, `SELECT COUNT(*) AS total FROM ${q('users')} u WHERE ${filterSql(1)}`);
      assert.deepEqual(f.calls[0]!.params, ['zq-filter-shop', 'zq-filter-robot']);
      assert.equal(f.calls[1]!.sql, `SELECT COUNT(*) AS migrated FROM ${q('legacy_gateway_migrations')}`);
      assert.deepEqual(f.calls[1]!.params, []);
      assertNotSpliced(f.calls, ['zq-filter']);
    });

    test('scan: keyset pagination on the primary key, 500 rows a page, filters after the key', async () => {
      const pages = [500, 500, 3];
      let served = 0;
      const f = fake(x.dialect, () => {
        const n = pages.shift() ?? 0;
        const rows = Array.from({ length: n }, (_, i) => ({ f_id: served + i + 1, f_migrated_at: null }));
        served += n;
        return rows;
      });
      const store = new SqlUserStore(f.driver, mapping('column', { filter: FILTERS }));
      const ids: string[] = [];
      for await (const u of store.scan()) ids.push(u.id);
      assert.equal(ids.length, 1003);
      assert.equal(ids[0], '1');
      assert.equal(ids.at(-1), '1003');
      assert.equal(f.calls.length, 3);
      const sel = `SELECT ${selectList('column')} FROM ${q('users')} u`;
      const order = ` ORDER BY u.${q('id')}`;
      assert.equal(f.calls[0]!.sql, limit(`${sel} WHERE ${filterSql(1)}${order}`, 500));
      assert.deepEqual(f.calls[0]!.params, ['zq-filter-shop', 'zq-filter-robot']);
      assert.equal(f.calls[1]!.sql, limit(`${sel} WHERE (u.${q('id')} > ${p(1)}) AND ${filterSql(2)}${order}`, 500));
      assert.deepEqual(f.calls[1]!.params, [500, 'zq-filter-shop', 'zq-filter-robot']);
      assert.deepEqual(f.calls[2]!.params, [1000, 'zq-filter-shop', 'zq-filter-robot']);
      for (const c of f.calls) assertPlaceholders(x, c);
    });

    test('scan without filters, migration in a side table: the marks joined, one statement per page', async () => {
      const f = fake(x.dialect, () => [{ f_id: 1, f_migrated_at: null }, { f_id: 2, f_migrated_at: '2024-05-06 07:08:09' }]);
      const store = new SqlUserStore(f.driver, mapping('table'));
      const users: LegacyUser[] = [];
      for await (const u of store.scan()) users.push(u);
      assert.deepEqual(
        users.map((u) => [u.id, u.migratedAt]),
        [
          ['1', null],
          ['2', '2024-05-06T07:08:09.000Z'],
        ],
      );
      assert.equal(f.calls.length, 1);
      assert.equal(f.calls[0]!.sql, limit(`SELECT ${selectList('table')} FROM ${q('users')} u${markJoin()} ORDER BY u.${q('id')}`, 500));
    });

    test('joins: JOIN / LEFT JOIN with quoted aliases; columns, filters and metadata from joined tables', async () => {
      const f = fake(x.dialect, () => [{ f_id: 'A1', f_email: 'a@x', a_0: 'gold' }]);
      const store = new SqlUserStore(
        f.driver,
        mapping('table', {
          table: 'aspnet_Users',
          joins: [
            { table: 'aspnet_Membership', alias: 'm', on: { UserId: 'UserId' }, type: 'inner' },
            { table: 'dbo.Profiles', alias: 'pr', on: { 'm.UserId': 'OwnerId', ApplicationId: 'AppId' }, type: 'left' },
          ],
          filter: [{ column: 'm.IsApproved', op: '=', value: true }],
          columns: { id: 'UserId', username: 'UserName', email: 'm.Email', password: 'm.Password' },
          app_metadata: ['pr.Plan'],
        }),
      );
      const u = (await findByLogin(store, 'a@x')) as LegacyUser;
      assert.deepEqual(u.appMetadata, { Plan: 'gold' });
      const [c] = f.calls;
      const from =
        `FROM ${q('aspnet_Users')} u JOIN ${q('aspnet_Membership')} ${q('m')} ON u.${q('UserId')} = ${q('m')}.${q('UserId')}` +
        ` LEFT JOIN ${q('dbo')}.${q('Profiles')} ${q('pr')} ON ${q('m')}.${q('UserId')} = ${q('pr')}.${q('OwnerId')} AND u.${q('ApplicationId')} = ${q('pr')}.${q('AppId')}` +
        markJoin(`u.${q('UserId')}`);
      assert.ok(c!.sql.includes(` ${from} WHERE `), c!.sql);
      assert.ok(c!.sql.includes(`${q('m')}.${q('Email')} AS ${q('f_email')}`));
      assert.ok(c!.sql.includes(`${q('pr')}.${q('Plan')} AS ${q('a_0')}`));
      assert.ok(c!.sql.includes(`(${lower(`${q('m')}.${q('Email')}`)} = ${p(1)} OR ${lower(`u.${q('UserName')}`)} = ${p(2)}) AND (${q('m')}.${q('IsApproved')} = ${p(3)})`), c!.sql);
      assert.deepEqual(c!.params, ['a@x', 'a@x', true]);
      assertPlaceholders(x, c!);
    });

    test('named queries: :login and :id are bound, never spliced; :: casts and unknown names untouched; logical columns mapped', async () => {
      const f = fake(x.dialect, (sql) =>
        sql.includes('zq_by_login')
          ? [{ ID: 9, Email: 'Nine@Example.com', PASSWORD: 'h9', Migrated_At: '2024-01-02 03:04:05', ignored: 'x' }]
          : [{ id: 9, username: 'nine' }],
      );
      const store = new SqlUserStore(
        f.driver,
        mapping(
          'column',
          {},
          {
            find_by_login: "SELECT a.id::text AS id, email, pw AS password, marked AS migrated_at FROM zq_by_login a WHERE lower(email) = :login OR nick = :login AND note <> ':other'",
            find_by_id: 'SELECT id, nick AS username FROM zq_by_id WHERE id = :id::int',
          },
        ),
      );
      const u = (await store.findCandidates(' Zq-Needle@Example.COM '))[0] as LegacyUser;
      assert.deepEqual([u.id, u.email, u.password, u.migratedAt], ['9', 'Nine@Example.com', 'h9', '2024-01-02T03:04:05.000Z']);
      const [c] = f.calls;
      assert.equal(
        c!.sql,
        `SELECT a.id::text AS id, email, pw AS password, marked AS migrated_at FROM zq_by_login a WHERE lower(email) = ${p(1)} OR nick = ${p(2)} AND note <> ':other'`,
      );
      assert.deepEqual(c!.params, ['zq-needle@example.com', 'zq-needle@example.com']);

      const byId = await store.findById('9');
      assert.equal(byId?.username, 'nine');
      assert.equal(f.calls[1]!.sql, `SELECT id, nick AS username FROM zq_by_id WHERE id = ${p(1)}::int`);
      assert.deepEqual(f.calls[1]!.params, ['9']);
      assertNotSpliced(f.calls, ['zq-needle']);
    });

    test('named queries, migration in a side table: configured SQL can\'t be joined, so its marks are read by id (bound)', async () => {
      const f = fake(x.dialect, (sql) =>
        sql.includes('zq_by_login') ? [{ id: 9, email: 'nine@example.com' }] : sql.startsWith('SELECT user_id') ? [{ user_id: '9', migrated_at: '2024-01-02 03:04:05' }] : [],
      );
      const store = new SqlUserStore(f.driver, mapping('table', {}, { find_by_login: 'SELECT id, email FROM zq_by_login WHERE email = :login' }));
      const [u] = await store.findCandidates('nine@example.com');
      assert.equal(u!.migratedAt, '2024-01-02T03:04:05.000Z');
      assert.equal(f.calls[1]!.sql, `SELECT user_id, migrated_at FROM ${q('legacy_gateway_migrations')} WHERE user_id IN (${p(1)})`);
      assert.deepEqual(f.calls[1]!.params, ['9']);
    });

    test('identifiers are quoted with the quote character escaped (even though configuration refuses such names)', async () => {
      const quote = q('x').slice(-1);
      const evil = `we${quote}ird`;
      if (x.refusesQuoteChar) {
        // No escape exists (Oracle: no identifier may contain a double quote): refused, never spliced.
        assert.throws(() => x.dialect.quoteIdent(evil), StoreError);
        assert.throws(() => new SqlUserStore(fake(x.dialect).driver, mapping('column', { columns: { id: 'id', email: `e${quote}; DROP TABLE users; --`, password: 'pw' } })), StoreError);
        return;
      }
      const quoted = x.dialect.quoteIdent(evil);
      assert.equal(quoted, q(`we${quote}${quote}ird`));
      const f = fake(x.dialect);
      const store = new SqlUserStore(f.driver, mapping('column', { table: `s.${evil}`, columns: { id: 'id', email: `e${quote}; DROP TABLE users; --`, password: 'pw' } }));
      await findByLogin(store, 'a');
      const [c] = f.calls;
      assert.ok(c!.sql.includes(`FROM ${q('s')}.${quoted} u`), c!.sql);
      assert.ok(c!.sql.includes(`u.${q(`e${quote}${quote}; DROP TABLE users; --`)} AS ${q('f_email')}`), c!.sql);
    });

    test('SQL injection payloads as login or id never change the SQL text', async () => {
      const f = fake(x.dialect);
      const store = new SqlUserStore(f.driver, mapping('table', { filter: FILTERS }));
      await findByLogin(store, 'alice');
      await store.findById('1');
      const [baseLogin, baseId] = f.calls.map((c) => c.sql);
      const payloads = [
        "' OR '1'='1",
        "alice' --",
        'alice"; DROP TABLE users; --',
        "') OR 1=1 --",
        '`; DROP TABLE users; --',
        ']; DROP TABLE users; --',
        '$1',
        '@p1',
        '?',
        ':login',
        "\\'; SELECT 1; --",
        "' UNION SELECT password_hash FROM users --",
        '%',
        '_',
      ];
      for (const evil of payloads) {
        f.calls.length = 0;
        await findByLogin(store, evil);
        await store.findById(evil);
        assert.equal(f.calls[0]!.sql, baseLogin, evil);
        assert.equal(f.calls[1]!.sql, baseId, evil);
        assert.deepEqual(f.calls[0]!.params.slice(0, 2), [evil.trim().toLowerCase(), evil.trim().toLowerCase()]);
        assert.equal(f.calls[1]!.params[0], evil);
      }
    });

    test('driver errors become StoreErrors without the driver message (it may quote values)', async () => {
      const f: Fake = fake(x.dialect);
      f.driver.all = async () => {
        throw Object.assign(new Error("syntax error near 'zq-secret-login'"), { code: 'EWHATEVER', number: 102 });
      };
      const store = new SqlUserStore(f.driver, mapping('column'));
      await assert.rejects(findByLogin(store, 'zq-secret-login'), (e: Error) => {
        assert.ok(e instanceof StoreError);
        assert.equal(e.message, 'findByLogin failed (EWHATEVER)');
        return true;
      });
    });
  });
}

describe('SQL generation: invalid input for the key column is "not found"', () => {
  const cases: [string, Dialect, unknown][] = [
    ['postgres 22P02', postgresDialect(null), Object.assign(new Error('invalid input syntax for type integer: "abc"'), { code: '22P02' })],
    ['mssql 245', mssqlDialect, Object.assign(new Error("Conversion failed when converting the nvarchar value 'abc' to data type int."), { code: 'EREQUEST', number: 245 })],
    ['mssql 8114', mssqlDialect, Object.assign(new Error('Error converting data type nvarchar to bigint.'), { code: 'EREQUEST', number: 8114 })],
    ['mssql 8169 (uniqueidentifier), nested', mssqlDialect, Object.assign(new Error('x'), { code: 'EREQUEST', originalError: { info: { number: 8169 } } })],
    ['oracle ORA-01722', oracleDialect, Object.assign(new Error('ORA-01722: invalid number'), { code: 'ORA-01722', errorNum: 1722 })],
    ['oracle ORA-01858', oracleDialect, Object.assign(new Error('ORA-01858: a non-numeric character was found where a numeric was expected'), { code: 'ORA-01858', errorNum: 1858 })],
    ['oracle ORA-01465 (RAW key)', oracleDialect, Object.assign(new Error('ORA-01465: invalid hex number'), { code: 'ORA-01465', errorNum: 1465 })],
  ];
  for (const [name, dialect, err] of cases) {
    test(name, async () => {
      const f = fake(dialect);
      f.driver.all = async () => {
        throw err;
      };
      const store = new SqlUserStore(f.driver, mapping('column'));
      assert.equal(await store.findById('abc'), null);
      // Elsewhere the same error is a failure.
      await assert.rejects(findByLogin(store, 'abc'), StoreError);
    });
  }

  test('other mssql errors are failures', async () => {
    for (const e of [{ number: 208 }, { number: 2627 }, { code: '22P02' }, null, undefined, 'x']) {
      assert.equal(mssqlDialect.isInvalidInput!(e), false, JSON.stringify(e));
    }
    const f = fake(mssqlDialect);
    f.driver.all = async () => {
      throw Object.assign(new Error("Invalid object name 'users'."), { code: 'EREQUEST', number: 208 });
    };
    await assert.rejects(new SqlUserStore(f.driver, mapping('column')).findById('1'), /findById failed \(EREQUEST\)/);
  });
});

describe('mssql dialect', () => {
  test('quoteIdent doubles ]', () => {
    assert.equal(mssqlDialect.quoteIdent('users'), '[users]');
    assert.equal(mssqlDialect.quoteIdent('a]b'), '[a]]b]');
    assert.equal(mssqlDialect.quoteIdent('[x'), '[[x]');
    assert.equal(mssqlDialect.quoteIdent('x]]'), '[x]]]]]');
  });

  test('params are @p1..@pn', () => {
    assert.deepEqual([1, 2, 10].map((n) => mssqlDialect.param(n)), ['@p1', '@p2', '@p10']);
  });

  test('limit puts TOP (n) right after the leading SELECT', () => {
    assert.equal(mssqlDialect.limit('SELECT a FROM t ORDER BY a', 500), 'SELECT TOP (500) a FROM t ORDER BY a');
    assert.equal(mssqlDialect.limit('  select a, (SELECT 1) AS b FROM t', 2), 'SELECT TOP (2) a, (SELECT 1) AS b FROM t');
    assert.equal(mssqlDialect.limit('SELECT DISTINCT a FROM t', 3), 'SELECT DISTINCT TOP (3) a FROM t');
    assert.equal(mssqlDialect.limit('SELECT\n a FROM t', 1), 'SELECT TOP (1) a FROM t');
    assert.throws(() => mssqlDialect.limit('UPDATE t SET a = 1', 2), StoreError);
  });

  test('insertIfAbsent locks the key range (UPDLOCK, HOLDLOCK) so concurrent marks cannot both insert', () => {
    assert.equal(
      mssqlDialect.insertIfAbsent('[m]', ['migrated_at', 'user_id'], ['@p1', '@p2'], 'user_id'),
      'INSERT INTO [m] (migrated_at, user_id) SELECT @p1, @p2 WHERE NOT EXISTS (SELECT 1 FROM [m] WITH (UPDLOCK, HOLDLOCK) WHERE user_id = @p2)',
    );
    assert.throws(() => mssqlDialect.insertIfAbsent('[m]', ['a'], ['@p1'], 'b'), StoreError);
  });

  test('timestamp is bound as a Date; lower() is LOWER()', () => {
    const d = new Date('2024-01-02T03:04:05.678Z');
    assert.equal(mssqlDialect.timestamp(d), d);
    assert.equal(mssqlDialect.lower('u.[email]'), 'LOWER(u.[email])');
  });
});

describe('oracle dialect', () => {
  test('quoteIdent double-quotes (case-sensitive) and refuses a double quote: Oracle has no escape for it', () => {
    assert.equal(oracleDialect.quoteIdent('USERS'), '"USERS"');
    assert.equal(oracleDialect.quoteIdent('users'), '"users"');
    assert.throws(() => oracleDialect.quoteIdent('a"b'), StoreError);
    assert.throws(() => oracleDialect.quoteIdent('a\u0000b'), StoreError);
  });

  test('bind variables are :1..:n; limit is FETCH FIRST n ROWS ONLY after ORDER BY; LOWER()', () => {
    assert.deepEqual([1, 2, 10].map((n) => oracleDialect.param(n)), [':1', ':2', ':10']);
    assert.equal(oracleDialect.limit('SELECT a FROM t ORDER BY a', 500), 'SELECT a FROM t ORDER BY a FETCH FIRST 500 ROWS ONLY');
    assert.equal(oracleDialect.lower('u."EMAIL"'), 'LOWER(u."EMAIL")');
    const d = new Date('2024-01-02T03:04:05.678Z');
    assert.equal(oracleDialect.timestamp(d), d);
  });

  test('insertIfAbsent is a MERGE from dual, each bind used once and in order', () => {
    assert.equal(
      oracleDialect.insertIfAbsent('"M"', ['migrated_at', 'user_id'], [':1', ':2'], 'user_id'),
      'MERGE INTO "M" t USING (SELECT :1 AS migrated_at, :2 AS user_id FROM dual) s ON (t.user_id = s.user_id) WHEN NOT MATCHED THEN INSERT (migrated_at, user_id) VALUES (s.migrated_at, s.user_id)',
    );
    assert.throws(() => oracleDialect.insertIfAbsent('"M"', ['a'], [':1'], 'b'), StoreError);
  });

  test('ORA-00001 is a duplicate key; other errors are not', () => {
    assert.equal(oracleDialect.isDuplicateKey!(Object.assign(new Error('ORA-00001: unique constraint violated'), { code: 'ORA-00001', errorNum: 1 })), true);
    assert.equal(oracleDialect.isDuplicateKey!({ errorNum: 1 }), true);
    for (const e of [{ code: 'ORA-01722', errorNum: 1722 }, { code: 'NJS-500' }, { code: 'ORA-00942' }, { number: 1 }, null, undefined, 'x']) {
      assert.equal(oracleDialect.isDuplicateKey!(e), false, JSON.stringify(e));
    }
  });

  test('other Oracle errors are failures, not invalid input', () => {
    for (const e of [{ code: 'ORA-00942', errorNum: 942 }, { code: 'ORA-00001', errorNum: 1 }, { code: 'NJS-503' }, { code: '22P02' }, { number: 245 }, null, undefined, 'x']) {
      assert.equal(oracleDialect.isInvalidInput!(e), false, JSON.stringify(e));
    }
  });

  test('the connection probe runs SELECT 1 AS ok FROM dual (the other dialects keep SELECT 1 AS ok)', async () => {
    const f = fake(oracleDialect);
    await new SqlUserStore(f.driver, mapping('table')).probe();
    assert.equal(f.calls[0]!.sql, 'SELECT 1 AS ok FROM dual');
    for (const d of [sqliteDialect, postgresDialect(null), mysqlDialect, mssqlDialect]) {
      const g = fake(d);
      await new SqlUserStore(g.driver, mapping('table')).probe();
      assert.equal(g.calls[0]!.sql, 'SELECT 1 AS ok');
    }
  });

  test('ping (readiness) reads the configured mapping and the migration side table, and no row', async () => {
    for (const d of [oracleDialect, sqliteDialect, postgresDialect(null), mysqlDialect, mssqlDialect]) {
      const g = fake(d);
      await new SqlUserStore(g.driver, mapping('table')).ping();
      const sqls = g.calls.map((c) => c.sql);
      assert.equal(sqls.length, 2, sqls.join(' | '));
      assert.match(sqls[0]!, /^SELECT .*password_hash.* FROM .*users.* WHERE \(1 = 0\)/);
      assert.match(sqls[1]!, /^SELECT user_id, migrated_at FROM .* WHERE 1 = 0$/);
    }
  });

  test('a concurrent MERGE that loses the race (ORA-00001) counts as already marked: the winner\'s timestamp is returned', async () => {
    const winner = new Date('2024-05-06T07:08:09.123Z');
    let marked = false;
    const f = fake(
      oracleDialect,
      () => [{ f_id: 42, f_migrated_at: marked ? winner : null }],
      () => {
        marked = true;
        throw Object.assign(new Error('ORA-00001: unique constraint (X.SYS_C001) violated'), { code: 'ORA-00001', errorNum: 1 });
      },
    );
    assert.equal(await new SqlUserStore(f.driver, mapping('table')).markMigrated('42'), winner.toISOString());
  });

  test('a duplicate-key error is still a failure where the dialect does not declare it harmless', async () => {
    const f = fake(
      postgresDialect(null),
      () => [{ f_id: 42 }],
      () => {
        throw Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
      },
    );
    await assert.rejects(new SqlUserStore(f.driver, mapping('table')).markMigrated('42'), /markMigrated failed \(23505\)/);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
