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
  /** The placeholder of a value compared with a login key or the id, where it differs from p (Dialect.keyParam). */
  k?(n: number): string;
  lower(expr: string): string;
  limit(select: string, n: number): string;
  insertIfAbsent(table: string): string;
  /** The export ledger's insert-if-absent of `rows` rows (two bound values each: user id, time; or two arrays). */
  ledgerInsert(table: string, rows: number): string;
  /** The ledger's rows are bound as one array per column. */
  arrays?: boolean;
  /** A timestamp's UTC day as 'YYYY-MM-DD' text. */
  day(expr: string): string;
  /** A stored time compared as an instant. */
  instant(expr: string): string;
  /** A "no such table" error of the engine's driver. */
  missingTable: unknown;
  /** The users key as text, for the side-table join on its primary key. */
  idAsText(expr: string): string;
  /** How the users key is read (the select list's f_id), where it is not the column itself. */
  idValue?(expr: string): string;
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
    // +? for a login key or the id: keeps the value out of STAT4's plan estimates (no re-compiling per binding).
    k: () => '+?',
    lower: (e) => `lg_lower(${e})`,
    limit: (s, n) => `${s} LIMIT ${n}`,
    insertIfAbsent: (t) => `INSERT INTO ${t} (user_id, migrated_at) VALUES (?, ?) ON CONFLICT(user_id) DO NOTHING`,
    ledgerInsert: (t, n) => `INSERT INTO ${t} (user_id, exported_at) VALUES ${Array(n).fill('(?, ?)').join(', ')} ON CONFLICT(user_id) DO NOTHING`,
    day: (e) => `strftime('%Y-%m-%d', ${e})`,
    instant: (e) => `julianday(${e})`,
    missingTable: Object.assign(new Error('no such table: legacy_gateway_exports'), { code: 'SQLITE_ERROR' }),
    dateParam: false,
    numbered: false,
  },
  postgres: {
    idAsText: (e) => `(CAST(${e} AS text) COLLATE "default")`,
    idValue: (e) => `CAST(${e} AS text)`,
    dialect: postgresDialect(null),
    q: (s) => `"${s}"`,
    p: (n) => `$${n}`,
    lower: (e) => `lower(${e})`,
    limit: (s, n) => `${s} LIMIT ${n}`,
    insertIfAbsent: (t) => `INSERT INTO ${t} (user_id, migrated_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`,
    ledgerInsert: (t) => `INSERT INTO ${t} (user_id, exported_at) SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT (user_id) DO NOTHING`,
    arrays: true,
    day: (e) => `to_char(CAST(${e} AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
    instant: (e) => e,
    missingTable: Object.assign(new Error('relation "legacy_gateway_exports" does not exist'), { code: '42P01' }),
    dateParam: false,
    numbered: true,
  },
  'postgres (ICU folding)': {
    idAsText: (e) => `(CAST(${e} AS text) COLLATE "default")`,
    idValue: (e) => `CAST(${e} AS text)`,
    dialect: postgresDialect('und-x-icu'),
    q: (s) => `"${s}"`,
    p: (n) => `$${n}`,
    lower: (e) => `lower(${e} COLLATE "und-x-icu")`,
    limit: (s, n) => `${s} LIMIT ${n}`,
    insertIfAbsent: (t) => `INSERT INTO ${t} (user_id, migrated_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`,
    ledgerInsert: (t) => `INSERT INTO ${t} (user_id, exported_at) SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT (user_id) DO NOTHING`,
    arrays: true,
    day: (e) => `to_char(CAST(${e} AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
    instant: (e) => e,
    missingTable: Object.assign(new Error('relation "legacy_gateway_exports" does not exist'), { code: '42P01' }),
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
    ledgerInsert: (t, n) => `INSERT INTO ${t} (user_id, exported_at) VALUES ${Array(n).fill('(?, ?)').join(', ')} ON DUPLICATE KEY UPDATE user_id = user_id`,
    day: (e) => `DATE_FORMAT(${e}, '%Y-%m-%d')`,
    instant: (e) => e,
    missingTable: Object.assign(new Error("Table 'db.legacy_gateway_exports' doesn't exist"), { code: 'ER_NO_SUCH_TABLE', errno: 1146 }),
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
    ledgerInsert: (t, n) =>
      `INSERT INTO ${t} (user_id, exported_at) SELECT s.user_id, s.exported_at FROM (VALUES ${Array.from({ length: n }, (_, i) => `(@p${2 * i + 1}, @p${2 * i + 2})`).join(', ')}) AS s (user_id, exported_at)` +
      ` WHERE NOT EXISTS (SELECT 1 FROM ${t} lg_t WITH (UPDLOCK, HOLDLOCK) WHERE lg_t.user_id = s.user_id)`,
    day: (e) => `CONVERT(char(10), ${e}, 23)`,
    instant: (e) => e,
    missingTable: Object.assign(new Error("Invalid object name 'legacy_gateway_exports'."), { code: 'EREQUEST', number: 208 }),
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
    ledgerInsert: (t, n) =>
      `MERGE INTO ${t} t USING (${Array.from({ length: n }, (_, i) => `SELECT :${2 * i + 1} AS user_id, :${2 * i + 2} AS exported_at FROM dual`).join(' UNION ALL ')}) s ON (t.user_id = s.user_id)` +
      ' WHEN NOT MATCHED THEN INSERT (user_id, exported_at) VALUES (s.user_id, s.exported_at)',
    day: (e) => `TO_CHAR(SYS_EXTRACT_UTC(${e}), 'YYYY-MM-DD')`,
    instant: (e) => e,
    missingTable: Object.assign(new Error('ORA-00942: table or view does not exist'), { code: 'ORA-00942', errorNum: 942 }),
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
  const k = x.k ?? p;
  /** The SELECT list for mapping() in the given mode. */
  const selectList = (mode: Mode) =>
    [
      `${x.idValue ? x.idValue(`u.${q('id')}`) : `u.${q('id')}`} AS ${q('f_id')}`,
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
        limit(`SELECT ${selectList('column')} FROM ${q('users')} u WHERE (${lower(`u.${q('email')}`)} = ${k(1)} OR ${lower(`u.${q('username')}`)} = ${k(2)})`, CANDIDATE_LIMIT),
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
          `SELECT ${selectList('column')} FROM ${q('users')} u WHERE (${lower(`u.${q('email')}`)} = ${k(1)} OR ${lower(`u.${q('username')}`)} = ${k(2)}) AND ${filterSql(3)}`,
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
      assert.match(c!.sql, new RegExp(`WHERE \\(${escapeRe(lower(`u.${q('login_name')}`))} = ${escapeRe(k(1))}\\)`));
      assert.ok(!c!.sql.includes(q('email')));
      assert.deepEqual(c!.params, ['bob']);
    });

    test('findById: primary key bound, filters applied, only an exact canonical id matches', async () => {
      const f = fake(x.dialect, (_sql, params) => [{ f_id: params[0] === 'zq-id-42' ? 'zq-id-42' : 42 }]);
      const store = new SqlUserStore(f.driver, mapping('column', { filter: FILTERS }));
      assert.equal((await store.findById('zq-id-42'))?.id, 'zq-id-42');
      const [c] = f.calls;
      assert.equal(c!.sql, limit(`SELECT ${selectList('column')} FROM ${q('users')} u WHERE (u.${q('id')} = ${k(1)}) AND ${filterSql(2)}`, 2));
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
        assert.equal(r.sql, limit(`SELECT ${selectList('table')} FROM ${q('users')} u${markJoin()} WHERE (u.${q('id')} = ${k(1)})`, 2));
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
        limit(`SELECT ${selectList('table')} FROM ${q('users')} u${markJoin()} WHERE (${lower(`u.${q('email')}`)} = ${k(1)} OR ${lower(`u.${q('username')}`)} = ${k(2)})`, CANDIDATE_LIMIT),
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

    const ledgerProbe = `SELECT user_id, exported_at FROM ${q('legacy_gateway_exports')} WHERE 1 = 0`;
    const ledgerJoin = ` LEFT JOIN ${q('legacy_gateway_exports')} ${q('lg_export')} ON ${q('lg_export')}.user_id = ${x.idAsText(`u.${q('id')}`)}`;

    test('migrationStatus: the ledger probed, then one aggregate statement grouped by the mark\'s UTC day; filters applied', async () => {
      const f = fake(x.dialect, (sql) =>
        sql === ledgerProbe
          ? []
          : [
              { mark_day: '2024-03-03', total: 1, migrated: '1', exported: 0 },
              { mark_day: null, total: '9', migrated: 0, exported: '3' },
              { mark_day: '2023-12-31', total: 2, migrated: 2, exported: '0' },
            ],
      );
      const store = new SqlUserStore(f.driver, mapping('column', { filter: FILTERS }));
      assert.deepEqual(await store.migrationStatus(), {
        total: 12,
        migrated: 3,
        exported: 3,
        remaining: 6,
        perDay: [
          { day: '2023-12-31', count: 2 },
          { day: '2024-03-03', count: 1 },
        ],
        activeRemaining: null,
      });
      assert.equal(f.calls.length, 2);
      assert.equal(f.calls[0]!.sql, ledgerProbe);
      const mark = `u.${q('migrated_at')}`;
      const day = x.day(mark);
      assert.equal(
        f.calls[1]!.sql,
        `SELECT ${day} AS mark_day, COUNT(*) AS total, COUNT(${mark}) AS migrated, COUNT(CASE WHEN ${mark} IS NULL THEN ${q('lg_export')}.user_id END) AS exported` +
          ` FROM ${q('users')} u${ledgerJoin} WHERE ${filterSql(1)} GROUP BY ${day}`,
      );
      assert.deepEqual(f.calls[1]!.params, ['zq-filter-shop', 'zq-filter-robot']);
      assertPlaceholders(x, f.calls[1]!);
    });

    test('migrationStatus, side table, last_login mapped: the mark and the ledger row joined; the cut-offs bound, before the filters', async () => {
      const f = fake(x.dialect, (sql) => (sql === ledgerProbe ? [] : [{ mark_day: null, total: 5, migrated: 0, exported: 1, active30: '1', active90: 2 }]));
      const store = new SqlUserStore(f.driver, mapping('table', { filter: FILTERS, columns: { id: 'id', email: 'email', password: 'password_hash', last_login: 'seen_at' } }));
      const before = Date.now();
      const s = await store.migrationStatus();
      assert.deepEqual(s, { total: 5, migrated: 0, exported: 1, remaining: 4, perDay: [], activeRemaining: { days30: 1, days90: 2 } });
      const mark = `${q('lg_mark')}.user_id`;
      const day = x.day(`${q('lg_mark')}.migrated_at`);
      const remaining = `${mark} IS NULL AND ${q('lg_export')}.user_id IS NULL`;
      const seen = x.instant(`u.${q('seen_at')}`);
      assert.equal(
        f.calls[1]!.sql,
        `SELECT ${day} AS mark_day, COUNT(*) AS total, COUNT(${mark}) AS migrated, COUNT(CASE WHEN ${mark} IS NULL THEN ${q('lg_export')}.user_id END) AS exported,` +
          ` COUNT(CASE WHEN ${remaining} AND ${seen} >= ${x.instant(p(1))} THEN 1 END) AS active30,` +
          ` COUNT(CASE WHEN ${remaining} AND ${seen} >= ${x.instant(p(2))} THEN 1 END) AS active90` +
          ` FROM ${q('users')} u${markJoin()}${ledgerJoin} WHERE ${filterSql(3)} GROUP BY ${day}`,
      );
      const [c30, c90, ...filters] = f.calls[1]!.params;
      assert.deepEqual(filters, ['zq-filter-shop', 'zq-filter-robot']);
      assert.equal(c30 instanceof Date, x.dateParam);
      const ms = (v: unknown) => new Date(v as string | Date).getTime();
      assert.ok(Math.abs(ms(c30) - (before - 30 * 86_400_000)) < 5000, String(c30));
      assert.ok(Math.abs(ms(c90) - (before - 90 * 86_400_000)) < 5000, String(c90));
      assertPlaceholders(x, f.calls[1]!);
      // The user row carries lastLogin (ISO 8601) from the same column.
      assert.ok(f.calls.length === 2);
    });

    test('migrationStatus without the ledger table (the engine\'s "no such table"): exported null, no join; other probe errors fail', async () => {
      const f = fake(x.dialect, (sql) => {
        if (sql === ledgerProbe) throw x.missingTable;
        return [{ mark_day: null, total: 4, migrated: 0 }, { mark_day: '2024-01-01', total: 3, migrated: 3 }];
      });
      const store = new SqlUserStore(f.driver, mapping('column'));
      assert.deepEqual(await store.migrationStatus(), { total: 7, migrated: 3, exported: null, remaining: 4, perDay: [{ day: '2024-01-01', count: 3 }], activeRemaining: null });
      assert.ok(!f.calls[1]!.sql.includes('lg_export') && !f.calls[1]!.sql.includes('AS exported'), f.calls[1]!.sql);
      // A connection failure (or a ledger without its columns) is a failure, never "no ledger".
      const down = fake(x.dialect, () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      });
      await assert.rejects(new SqlUserStore(down.driver, mapping('column')).migrationStatus(), (e: Error) => e instanceof StoreError && e.message === 'migrationStatus failed (ECONNREFUSED)');
    });

    test('markExported: insert-if-absent, 500 rows a statement (or bound arrays), every value bound, duplicates dropped, keys in order', async () => {
      const f = fake(x.dialect);
      const store = new SqlUserStore(f.driver, mapping('column'));
      const ids = Array.from({ length: 1000 }, (_, i) => `zq-id-${String(999 - i).padStart(4, '0')}`);
      await store.markExported([...ids, ids[0]!, "zq-'); DROP TABLE users; --"]);
      const runs = f.calls.filter((c) => c.kind === 'run');
      // Each statement's user ids and times: two arrays (PostgreSQL's unnest), or a pair of values per row.
      const column = (r: Call, n: 0 | 1) => (x.arrays ? (r.params[n] as unknown[]) : r.params.filter((_, i) => i % 2 === n));
      // 500 rows a statement; bound arrays have no parameter limit: one statement (one commit) for up to 10,000.
      assert.deepEqual(runs.map((r) => column(r, 0).length), x.arrays ? [1001] : [500, 500, 1]);
      const ledger = q('legacy_gateway_exports');
      assert.equal(runs[0]!.sql, x.ledgerInsert(ledger, 500));
      assert.equal(runs.at(-1)!.sql, x.ledgerInsert(ledger, 1));
      for (const r of runs) assertPlaceholders(x, r);
      const written = runs.flatMap((r) => column(r, 0));
      assert.deepEqual([...written].sort(), [...new Set([...ids, "zq-'); DROP TABLE users; --"])].sort());
      assert.deepEqual(column(runs[0]!, 0), [...column(runs[0]!, 0)].sort(), 'each statement\'s keys in order');
      const stamps = new Set(runs.flatMap((r) => column(r, 1).map((v) => new Date(v as string | Date).getTime())));
      assert.equal(stamps.size, 1, 'one time for the whole call');
      assert.equal(column(runs[0]!, 1)[0] instanceof Date, x.dateParam);
      assertNotSpliced(f.calls, ['zq-id', 'DROP TABLE']);
      f.calls.length = 0;
      await store.markExported([]);
      assert.equal(f.calls.length, 0);
    });

    test('markExported without the ledger table says so; other errors are StoreErrors with the driver code only', async () => {
      const f = fake(x.dialect, () => [], () => {
        throw x.missingTable;
      });
      await assert.rejects(new SqlUserStore(f.driver, mapping('table')).markExported(['1']), (e: Error) => e instanceof StoreError && /^markExported failed: the export ledger table legacy_gateway_exports does not exist/.test(e.message));
      const g = fake(x.dialect, () => [], () => {
        throw Object.assign(new Error("value 'zq-secret' too long"), { code: 'EWHATEVER' });
      });
      await assert.rejects(new SqlUserStore(g.driver, mapping('table')).markExported(['zq-secret']), (e: Error) => e instanceof StoreError && e.message === 'markExported failed (EWHATEVER)');
    });

    test('probe reports the export ledger as optional: present, absent (never a failure), or unusable', async () => {
      const probe = async (ledger: () => Row[]) => {
        const f = fake(x.dialect, (sql) => (sql === ledgerProbe ? ledger() : []));
        return (await new SqlUserStore(f.driver, mapping('table')).probe()).find((r) => r.what === 'export ledger table legacy_gateway_exports');
      };
      assert.deepEqual(await probe(() => []), { what: 'export ledger table legacy_gateway_exports', ok: true, optional: true });
      assert.deepEqual(await probe(() => {
        throw x.missingTable;
      }), { what: 'export ledger table legacy_gateway_exports', ok: true, optional: true, absent: true });
      const broken = await probe(() => {
        throw Object.assign(new Error('no column exported_at'), { code: 'ECOLUMN' });
      });
      assert.deepEqual(broken, { what: 'export ledger table legacy_gateway_exports', ok: true, optional: true, error: 'ECOLUMN' });
    });

    test('columns.last_login: selected like the other columns, mapped to ISO 8601 (a non-time is absent)', async () => {
      const cols = { id: 'id', email: 'email', password: 'password_hash', last_login: 'seen_at' };
      const f = fake(x.dialect, (_sql, params) => [
        { f_id: params[0], f_last_login: params[0] === '1' ? new Date('2024-05-06T07:08:09.123Z') : params[0] === '2' ? '2024-05-06 07:08:09' : 1714979289 },
      ]);
      const store = new SqlUserStore(f.driver, mapping('column', { columns: cols }));
      assert.equal((await store.findById('1'))?.lastLogin, '2024-05-06T07:08:09.123Z');
      assert.equal((await store.findById('2'))?.lastLogin, '2024-05-06T07:08:09.000Z');
      assert.equal((await store.findById('3'))?.lastLogin, undefined, 'epoch seconds and milliseconds can\'t be told apart');
      assert.ok(f.calls[0]!.sql.includes(`u.${q('seen_at')} AS ${q('f_last_login')}`), f.calls[0]!.sql);
      const g = fake(x.dialect);
      await new SqlUserStore(g.driver, mapping('column', { columns: cols })).ping();
      assert.ok(g.calls[0]!.sql.includes(`u.${q('seen_at')} AS ${q('f_last_login')}`), 'ping covers it');
      assert.ok(!g.calls.some((c) => c.sql.includes('legacy_gateway_exports')), 'ping never reads the ledger');
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

    test('joins: JOIN / LEFT JOIN with quoted aliases; columns, filters and metadata from joined tables; login columns in two tables are a UNION ALL of one SELECT each', async () => {
      // The same user from both parts (its email and its username are both the login): one candidate, not two.
      const f = fake(x.dialect, () => [{ f_id: 'A1', f_email: 'a@x', a_0: 'gold' }, { f_id: 'A1', f_email: 'a@x', a_0: 'gold' }]);
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
      // An OR across aspnet_Membership and aspnet_Users could use neither table's index: each column is a part of its own.
      assert.equal(f.calls.length, 1, 'one statement');
      const parts = c!.sql.split(' UNION ALL ');
      assert.equal(parts.length, 2, c!.sql);
      assert.ok(parts[0]!.startsWith('SELECT * FROM (SELECT ') && parts[0]!.endsWith(`) ${q('lg_part0')}`), parts[0]);
      assert.ok(parts[1]!.startsWith('SELECT * FROM (SELECT ') && parts[1]!.endsWith(`) ${q('lg_part1')}`), parts[1]);
      assert.ok(parts[0]!.includes(`WHERE (${lower(`${q('m')}.${q('Email')}`)} = ${k(1)}) AND (${q('m')}.${q('IsApproved')} = ${p(2)})`), parts[0]);
      assert.ok(parts[1]!.includes(`WHERE (${lower(`u.${q('UserName')}`)} = ${k(3)}) AND (${q('m')}.${q('IsApproved')} = ${p(4)})`), parts[1]);
      for (const part of parts) assert.ok(part.includes(` ${from} WHERE `), part);
      assert.deepEqual(c!.params, ['a@x', true, 'a@x', true]);
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
    assert.equal(
      mssqlDialect.insertIfAbsent('[x]', ['user_id', 'exported_at'], [['@p1', '@p2'], ['@p3', '@p4']], 'user_id'),
      'INSERT INTO [x] (user_id, exported_at) SELECT s.user_id, s.exported_at FROM (VALUES (@p1, @p2), (@p3, @p4)) AS s (user_id, exported_at) WHERE NOT EXISTS (SELECT 1 FROM [x] lg_t WITH (UPDLOCK, HOLDLOCK) WHERE lg_t.user_id = s.user_id)',
    );
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
    assert.equal(
      oracleDialect.insertIfAbsent('"X"', ['user_id', 'exported_at'], [[':1', ':2'], [':3', ':4']], 'user_id'),
      'MERGE INTO "X" t USING (SELECT :1 AS user_id, :2 AS exported_at FROM dual UNION ALL SELECT :3 AS user_id, :4 AS exported_at FROM dual) s ON (t.user_id = s.user_id) WHEN NOT MATCHED THEN INSERT (user_id, exported_at) VALUES (s.user_id, s.exported_at)',
    );
  });

  test('markExported: a MERGE that loses a race to a concurrent export (ORA-00001) is run again; a third loss fails', async () => {
    let failures = 2;
    const f = fake(oracleDialect, () => [], () => {
      if (failures-- > 0) throw Object.assign(new Error('ORA-00001: unique constraint violated'), { code: 'ORA-00001', errorNum: 1 });
    });
    await new SqlUserStore(f.driver, mapping('table')).markExported(['1', '2']);
    assert.equal(f.calls.filter((c) => c.kind === 'run').length, 3);
    failures = 3;
    await assert.rejects(new SqlUserStore(f.driver, mapping('table')).markExported(['1']), /markExported failed \(ORA-00001\)/);
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
