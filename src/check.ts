/**
 * `legacy-gateway check`: validates the config, connects (a failure names the database, the driver's code and a hint:
 * src/dbhints.ts), runs each store.queries query once, confirms every configured table and column exists (reporting
 * the root cause: a missing table once, a missing migration state with "run the DDL below"), counts users, reports
 * the password formats a sample of rows actually has (and the rows a configured scheme will reject), reports what
 * the database user may do (hashes in SHOW GRANTS redacted), and prints the least-privilege GRANTs, the migration and
 * ledger DDL and useful indexes for the DBA.
 */
import type { Writable } from 'node:stream';
import { createStore } from '../adapters/index.js';
import { loginColumns, type SqlUserStore } from '../adapters/sql.js';
import type { LegacyUser, ProbeResult, UserStore } from '../adapters/types.js';
import { exportsTable, type Config } from './config.js';
import { gatewayWrites, grantStatements, indexSuggestions, migrationDdl, readTables } from './dba.js';
import { describeConnectionError, isConnectionError, storeTarget } from './dbhints.js';
import { checkRedis } from './limiter.js';
import { detectScheme, isCleartextScheme, resolveScheme } from './passwords/index.js';
import { schemaVerdict } from './startup.js';

const SAMPLE = 500;

/**
 * The tables holding a login column that are views (where the engine can tell: PostgreSQL, MySQL/MariaDB, SQLite).
 * An index can't be created on a view; check's statements then name the view, and say so.
 */
async function loginViews(config: Config, store: SqlUserStore): Promise<string[]> {
  const query = VIEW_QUERY[config.store.adapter];
  if (!query) return [];
  const out: string[] = [];
  for (const t of new Set(loginColumns(config.store.users).map((c) => c.table))) {
    const dot = t.indexOf('.');
    try {
      const [row] = await store.introspect(...query(t, dot < 0 ? null : t.slice(0, dot), t.slice(dot + 1)));
      // PostgreSQL answers a boolean, MySQL/MariaDB and SQLite 1 or 0.
      if (row && (row.v === true || Number(row.v) === 1)) out.push(t);
    } catch {
      // Not readable here: nothing to say.
    }
  }
  return out;
}

/** Per engine, the statement that tells whether a table (as configured, schema.name or name) is a view: one row, `v`. */
const VIEW_QUERY: Partial<Record<string, (table: string, schema: string | null, name: string) => [string, unknown[]]>> = {
  postgres: (table) => ["SELECT relkind = 'v' AS v FROM pg_class WHERE oid = to_regclass($1)", [pgName(table)]],
  mysql: (_t, schema, name) => ["SELECT TABLE_TYPE = 'VIEW' AS v FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?", [schema, name]],
  sqlite: (_t, schema, name) => [`SELECT type = 'view' AS v FROM "${(schema ?? 'main').replaceAll('"', '""')}".sqlite_master WHERE name = ?`, [name]],
};

/** A configured table name (schema.name or name) quoted for PostgreSQL, as its catalogue functions take it. */
const pgName = (table: string) => table.split('.').map((p) => `"${p.replaceAll('"', '""')}"`).join('.');

type Privileges = { table: string; select: boolean; insert: boolean; update: boolean; delete: boolean };

/**
 * What the connected database user may do on the tables the gateway touches (where the engine can tell); the export
 * ledger only when it exists.
 */
async function privileges(config: Config, store: SqlUserStore, ledger: boolean): Promise<Privileges[] | string[]> {
  const m = config.store.migration;
  const tables = [...readTables(config), ...('table' in m ? [m.table] : []), ...(ledger ? [exportsTable(m)] : [])];
  switch (config.store.adapter) {
    case 'postgres': {
      const out: Privileges[] = [];
      for (const t of tables) {
        const name = pgName(t);
        const [r] = await store.introspect(
          `SELECT has_table_privilege(current_user, $1, 'SELECT') AS s, has_table_privilege(current_user, $1, 'INSERT') AS i,
                  has_table_privilege(current_user, $1, 'UPDATE') AS u, has_table_privilege(current_user, $1, 'DELETE') AS d`,
          [name],
        );
        out.push({ table: t, select: !!r?.s, insert: !!r?.i, update: !!r?.u, delete: !!r?.d });
      }
      return out;
    }
    case 'mysql':
      return (await store.introspect('SHOW GRANTS FOR CURRENT_USER()')).map((r) => redactGrant(String(Object.values(r)[0])));
    case 'mssql': {
      const out: Privileges[] = [];
      for (const t of tables) {
        const rows = await store.introspect(`SELECT permission_name AS p FROM fn_my_permissions(@p1, 'OBJECT')`, [t]);
        const has = (p: string) => rows.some((r) => String(r.p).toUpperCase() === p);
        out.push({ table: t, select: has('SELECT'), insert: has('INSERT'), update: has('UPDATE'), delete: has('DELETE') });
      }
      return out;
    }
    case 'oracle': {
      const out: Privileges[] = [];
      for (const t of tables) {
        const name = t.split('.').pop()!;
        const [own] = await store.introspect('SELECT COUNT(*) AS n FROM user_tables WHERE table_name = :1', [name]);
        const rows = Number(own?.n ?? 0) > 0
          ? [{ p: 'SELECT' }, { p: 'INSERT' }, { p: 'UPDATE' }, { p: 'DELETE' }]
          : await store.introspect("SELECT privilege AS p FROM all_tab_privs WHERE table_name = :1 AND grantee IN (USER, 'PUBLIC')", [name]);
        const has = (p: string) => rows.some((r) => String(r.p).toUpperCase() === p);
        out.push({ table: t, select: has('SELECT'), insert: has('INSERT'), update: has('UPDATE'), delete: has('DELETE') });
      }
      return out;
    }
    case 'sqlite':
      return ['(file permissions only: make the SQLite file readable, and writable only if the migration state lives in it)'];
    default:
      return [`(not reported for store.adapter ${config.store.adapter})`];
  }
}

/**
 * SHOW GRANTS lines without the credentials they may carry: the password hash of `IDENTIFIED BY PASSWORD '*…'`,
 * `IDENTIFIED VIA plugin USING '…'` and `IDENTIFIED WITH plugin AS '…'`.
 */
export function redactGrant(line: string): string {
  return line.replace(/(IDENTIFIED\s+(?:BY\s+PASSWORD|VIA\s+\S+\s+USING|WITH\s+\S+\s+AS)\s+)'(?:[^'\\]|\\.|'')*'/gi, "$1'<redacted>'");
}

/**
 * Password formats in a sample: each row counted under the format its stored value actually has. With a scheme
 * configured (passwords.scheme, or the row's scheme column), rows whose value is not in that scheme's format are
 * counted under their own format and flagged: that scheme will reject them (they verify false).
 */
function sampleFormats(users: LegacyUser[], config: Config): { key: string; count: number; note: string }[] {
  const counts = new Map<string, { count: number; note: string }>();
  for (const u of users) {
    const r = resolveScheme(u, config.passwords);
    let key: string;
    let note = '';
    if (!r.scheme) {
      key = `(none: ${r.reason})`;
      note = '   these users cannot be verified';
    } else if (!r.scheme.detect || r.scheme.detect(u.password!)) {
      key = r.scheme.name;
      if (isCleartextScheme(key)) note = '   WARNING: stored in clear text';
    } else {
      key = detectScheme(u.password!)?.name ?? '(unrecognised format)';
      note = `   WARNING: the configured scheme ${r.scheme.name} will reject these rows (they verify false)`;
    }
    const id = `${key}\u0000${note}`;
    counts.set(id, { count: (counts.get(id)?.count ?? 0) + 1, note });
  }
  return [...counts].map(([id, v]) => ({ key: id.split('\u0000')[0]!, ...v })).sort((a, b) => b.count - a.count);
}

/** A sample of users, or the reason none could be read. */
async function sample(store: UserStore): Promise<{ users: LegacyUser[]; error?: string }> {
  const users: LegacyUser[] = [];
  try {
    for await (const u of store.scan()) {
      users.push(u);
      if (users.length >= SAMPLE) break;
    }
    return { users };
  } catch (e) {
    return { users, error: (e as Error).message };
  }
}

/** The logical columns every configured query must return, and those it should return (mapped in store.users.columns). */
function expectedColumns(config: Config): { required: string[]; mapped: string[] } {
  const mapped = Object.entries(config.store.users.columns).filter(([, v]) => !!v).map(([k]) => k);
  return { required: ['id', 'password'], mapped };
}

/**
 * store.queries: each run once, bound to a login or id from the sample (or a harmless value that names nobody).
 * Returns the logical columns they provide, and the number of failures.
 */
async function checkNamedQueries(
  config: Config,
  store: SqlUserStore,
  first: LegacyUser | undefined,
  say: (s?: string) => void,
): Promise<{ provided: Set<string>; failures: number }> {
  const provided = new Set<string>();
  let failures = 0;
  const queries = (['find_by_login', 'find_by_id'] as const).filter((q) => config.store.queries[q]);
  if (!queries.length) return { provided, failures };
  say('\nnamed queries (store.queries), each run once:');
  const { required, mapped } = expectedColumns(config);
  // Values that name a real row: the sample's first user; else an id read from the users table, and the login the
  // find_by_id query returns for it; else values that name nobody (the query then runs, its columns unseen).
  const id = first?.id ?? (await store.anyId().catch(() => undefined));
  let login = first?.email ?? first?.username;
  for (const q of (['find_by_id', 'find_by_login'] as const).filter((n) => queries.includes(n))) {
    const value = q === 'find_by_login' ? (login ?? 'legacy-gateway-check@example.invalid') : (id ?? '0');
    const real = q === 'find_by_login' ? login !== undefined : id !== undefined;
    try {
      const r = await store.tryNamedQuery(q, value);
      if (!r.first) {
        say(`  ok      ${q}: ran, no row for ${real ? `the sample ${q === 'find_by_login' ? 'login' : 'id'}` : 'a value that names nobody'}: its columns could not be checked`);
        continue;
      }
      const columns = Object.keys(r.first);
      for (const c of columns) provided.add(c);
      if (q === 'find_by_id' && login === undefined) {
        const l = r.first.email ?? r.first.username;
        if (l !== null && l !== undefined) login = String(l);
      }
      const lacking = required.filter((c) => !columns.includes(c));
      const unmapped = mapped.filter((c) => !required.includes(c) && !columns.includes(c));
      if (lacking.length) failures++;
      say(
        `  ${lacking.length ? 'FAILED ' : 'ok     '} ${q}: returns ${columns.join(', ')}` +
          (lacking.length ? `; MISSING ${lacking.join(', ')} (alias the columns to the logical names: id, password, ...)` : '') +
          (unmapped.length ? `; not returned (empty for users found by it): ${unmapped.join(', ')}` : ''),
      );
    } catch (e) {
      failures++;
      say(`  FAILED  ${q}: ${(e as Error).message}`);
    }
  }
  return { provided, failures };
}

/** The connection failure, as an operator reads it: which database, the driver's code and message, a hint. */
function connectionFailure(config: Config, e: unknown): string {
  const cause = (e as { cause?: unknown }).cause ?? e;
  return isConnectionError(cause) ? describeConnectionError(storeTarget(config.store.adapter, config.store.url), cause, config.store.url) : (e as Error).message;
}

function printSchema(report: ProbeResult[], provided: Set<string>, say: (s?: string) => void): number {
  say('\nschema:');
  const verdict = schemaVerdict(report, provided);
  for (const { probe: p, state } of verdict.items) {
    if (state === 'not checked') continue;
    const label = state === 'ok' ? 'ok     ' : state === 'provided' ? 'ok     ' : 'MISSING';
    const why = state === 'provided' ? ' (provided by store.queries)' : p.error ? ` (${p.error})` : '';
    say(`  ${label} ${p.what}${why}`);
  }
  for (const p of report.filter((r) => r.optional)) {
    if (p.absent || p.error) {
      // Not needed to serve: a note, never a failure.
      say(`  ${p.absent ? 'absent ' : 'UNUSABLE'} ${p.what}${p.error ? ` (${p.error})` : ''}: needed by \`legacy-gateway export\` (and status's exported count); the DDL is below`);
    } else say(`  ok      ${p.what}`);
  }
  const missing = verdict.items.filter((i) => i.state === 'MISSING').length;
  const unchecked = verdict.items.filter((i) => i.state === 'not checked').length;
  if (unchecked) say(`  (${unchecked} configured column(s) not checked until the missing table exists)`);
  if (verdict.mapping) say('\nfix store.users (or the preset) to name the tables and columns that exist, before serving.');
  if (verdict.migration) say('\nthe migration state does not exist yet: run the DDL below (the gateway never alters the database itself).');
  return missing;
}

export async function runCheck(config: Config, out: Writable): Promise<number> {
  const say = (s = '') => out.write(`${s}\n`);
  const where = config.store.users.table ? `, ${config.store.adapter === 'mongodb' ? 'collection' : 'table'} ${config.store.users.table}` : '';
  say(`config: ok (adapter ${config.store.adapter}${config.store.preset ? `, preset ${config.store.preset}` : ''}${where})`);
  const redisFailed = await sayRedis(config, say);
  const code = await checkStore(config, say);
  return redisFailed ? 1 : code;
}

/**
 * limits.redis_url: one limiter round trip (checkRedis). The line names the host and port, never the URL (it can
 * carry a password). True when Redis failed.
 */
async function sayRedis(config: Config, say: (s?: string) => void): Promise<boolean> {
  const limits = config.limits;
  if (limits.redis_url === null) return false;
  let where = 'the configured Redis';
  try {
    const u = new URL(limits.redis_url);
    where = `${u.protocol}//${u.hostname}:${u.port || '6379'}`;
  } catch {
    // parseConfig already refused an unparsable URL
  }
  const r = await checkRedis(limits);
  if (r.ok) {
    say(`limiter: ok (Redis at ${where}: PING and one limiter round trip in ${Math.round(r.ms)} ms; policy ${limits.redis.policy})`);
    return false;
  }
  say(`limiter: FAILED (Redis at ${where}: ${r.code}: ${r.hint})`);
  say(
    limits.redis.policy === 'fail_closed'
      ? '  with limits.redis.policy fail_closed the gateway would answer verify and the front doors 503 limiter_unavailable'
      : '  with limits.redis.policy fail_open each replica would count failed logins on its own until Redis answers',
  );
  return true;
}

async function checkStore(config: Config, say: (s?: string) => void): Promise<number> {
  let failures = 0;
  let store: UserStore;
  try {
    store = await createStore(config.store);
  } catch (e) {
    say(`connection: FAILED\n  ${connectionFailure(config, e)}`);
    return 1;
  }
  try {
    // Stores with a schema are probed item by item (connection first), so that a missing column is named rather
    // than failing the whole readiness ping; the others are pinged.
    const sql = 'probe' in store ? (store as SqlUserStore) : null;
    let report: ProbeResult[] | null = null;
    try {
      report = sql ? await sql.probe() : null;
      if (report?.[0]?.connection) throw new Error(report[0].error ?? 'error');
      if (!report) await store.ping();
      say('connection: ok');
    } catch (e) {
      say(`connection: FAILED\n  ${report ? (e as Error).message : connectionFailure(config, e)}`);
      return 1;
    }

    const sampled = await sample(store);
    let provided = new Set<string>();
    if (sql && 'tryNamedQuery' in sql) {
      const named = await checkNamedQueries(config, sql, sampled.users[0], say);
      provided = named.provided;
      failures += named.failures;
    }
    if (report) failures += printSchema(report, provided, say);
    if (!failures) {
      try {
        const s = await store.migrationStatus();
        say(`\nusers: ${s.total} (migrated ${s.migrated}${s.exported === null ? '' : `, exported ${s.exported}`}, remaining ${s.remaining})`);
      } catch (e) {
        say(`\nusers: could not be counted (${(e as Error).message})`);
      }
    }
    if (sampled.error) {
      // With a table or column missing the scan fails for the same reason: said once, above.
      if (!failures) say(`\npassword formats: no sample (${sampled.error})`);
    } else {
      say(`password formats in a sample of ${sampled.users.length}${config.passwords.scheme === 'auto' ? '' : ` (passwords.scheme: ${config.passwords.scheme})`}:`);
      for (const f of sampleFormats(sampled.users, config)) say(`  ${f.key}: ${f.count}${f.note}`);
    }

    if (sql) {
      say('\nwhat this database user may do:');
      try {
        const ledger = report?.find((r) => r.optional);
        const p = await privileges(config, sql, !!ledger && !ledger.absent && !ledger.error);
        const m = config.store.migration;
        const a = config.store.adapter;
        for (const row of p) {
          if (typeof row === 'string') {
            say(`  ${row}`);
            continue;
          }
          // Needed: SELECT everywhere; on the side table INSERT and DELETE (or UPDATE (of one column) on the users table);
          // INSERT on the export ledger; UPDATE too on gateway tables where the idempotent insert needs it.
          const allowed =
            'table' in m && row.table === m.table
              ? gatewayWrites(a, 'side')
              : row.table === exportsTable(m)
                ? gatewayWrites(a, 'ledger')
                : 'column' in m && row.table === config.store.users.table
                  ? ['UPDATE']
                  : [];
          const writes = (['INSERT', 'UPDATE', 'DELETE'] as const).filter((w) => row[w.toLowerCase() as 'insert' | 'update' | 'delete']);
          const extra = writes.filter((w) => !allowed.includes(w));
          say(`  ${row.table}: SELECT ${row.select ? 'yes' : 'NO'}; writes: ${writes.join(', ') || 'none'}${extra.length ? `   MORE THAN NEEDED: ${extra.join(', ')}` : ''}`);
        }
      } catch (e) {
        say(`  could not be read (${(e as Error).message})`);
      }
    }

    say('\nleast-privilege grants (role name is an example):');
    for (const g of grantStatements(config)) say(`  ${g}`);
    say('\nmigration state and export ledger DDL (the gateway never alters the users table\'s structure itself):');
    say(migrationDdl(config).replace(/^/gm, '  '));
    const idx = indexSuggestions(config, sql?.dialect);
    if (idx.length) {
      say('\nindexes for case-insensitive login lookups:');
      for (const v of sql ? await loginViews(config, sql) : []) {
        say(`  -- ${v} is a view, which takes no index: create the statements below on the table it reads, with its column names`);
        say('  --   (a lookup through a simple view uses an index of that table), or point the configuration at that table.');
      }
      for (const i of idx) say(`  ${i}`);
    }
    return failures ? 1 : 0;
  } finally {
    await store.close().catch(() => {});
  }
}
