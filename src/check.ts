/**
 * `legacy-gateway check`: validates the config, connects, confirms every configured table and column exists (and
 * whether the export ledger does: only export and status need it), counts users, reports which password schemes a
 * sample of rows uses, reports what the database user may do, and prints the least-privilege GRANTs, the migration
 * and ledger DDL and useful indexes for the DBA.
 */
import type { Writable } from 'node:stream';
import { createStore } from '../adapters/index.js';
import type { SqlUserStore } from '../adapters/sql.js';
import { exportsTable, type Config } from './config.js';
import { gatewayWrites, grantStatements, indexSuggestions, migrationDdl, readTables } from './dba.js';
import { isCleartextScheme, resolveScheme } from './passwords/index.js';

const SAMPLE = 500;

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
        const name = t.split('.').map((p) => `"${p.replaceAll('"', '""')}"`).join('.');
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
      return (await store.introspect('SHOW GRANTS FOR CURRENT_USER()')).map((r) => String(Object.values(r)[0]));
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

export async function runCheck(config: Config, out: Writable): Promise<number> {
  const say = (s = '') => out.write(`${s}\n`);
  let failures = 0;
  const where = config.store.users.table ? `, ${config.store.adapter === 'mongodb' ? 'collection' : 'table'} ${config.store.users.table}` : '';
  say(`config: ok (adapter ${config.store.adapter}${config.store.preset ? `, preset ${config.store.preset}` : ''}${where})`);
  const store = await createStore(config.store);
  try {
    // Stores with a schema are probed item by item (connection first), so that a missing column is named rather
    // than failing the whole readiness ping; the others are pinged.
    const sql = 'probe' in store ? (store as SqlUserStore) : null;
    const report = sql ? await sql.probe() : null;
    try {
      if (report?.[0]?.connection) throw new Error(report[0].error ?? 'error');
      if (!report) await store.ping();
      say('connection: ok');
    } catch (e) {
      say(`connection: FAILED (${(e as Error).message})`);
      return 1;
    }

    if (report) {
      say('\nschema:');
      for (const p of report) {
        if (p.optional && (p.absent || p.error)) {
          // Not needed to serve: a note, never a failure.
          const state = p.absent ? 'absent ' : 'UNUSABLE';
          say(`  ${state} ${p.what}${p.error ? ` (${p.error})` : ''}: needed by \`legacy-gateway export\` (and status's exported count); the DDL is below`);
          continue;
        }
        say(`  ${p.ok ? 'ok     ' : 'MISSING'} ${p.what}${p.error ? ` (${p.error})` : ''}`);
        if (!p.ok) failures++;
      }
    }
    if (failures) {
      say(`\n${failures} configured table(s)/column(s) not found: fix store.users or the preset before serving.`);
    } else {
      try {
        const s = await store.migrationStatus();
        say(`\nusers: ${s.total} (migrated ${s.migrated}${s.exported === null ? '' : `, exported ${s.exported}`}, remaining ${s.remaining})`);
      } catch (e) {
        say(`\nusers: could not be counted (${(e as Error).message})`);
      }
      const schemes = new Map<string, number>();
      let n = 0;
      for await (const u of store.scan()) {
        const r = resolveScheme(u, config.passwords);
        const key = r.scheme ? r.scheme.name : `(none: ${r.reason})`;
        schemes.set(key, (schemes.get(key) ?? 0) + 1);
        if (++n >= SAMPLE) break;
      }
      say(`password schemes in a sample of ${n}:`);
      for (const [k, v] of [...schemes].sort((a, b) => b[1] - a[1])) {
        say(`  ${k}: ${v}${isCleartextScheme(k) ? '   WARNING: stored in clear text' : k.startsWith('(none') ? '   these users cannot be verified' : ''}`);
      }
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
      for (const i of idx) say(`  ${i}`);
    }
    return failures ? 1 : 0;
  } finally {
    await store.close().catch(() => {});
  }
}
