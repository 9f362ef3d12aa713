/**
 * What the DBA runs: the migration column or side table, the export ledger, the least-privilege grants, and indexes
 * that make case-insensitive login lookups fast. Printed by `legacy-gateway check`; the gateway never runs DDL itself.
 */
import { mssqlDialect } from '../adapters/mssql.js';
import { mysqlDialect } from '../adapters/mysql.js';
import { oracleDialect } from '../adapters/oracle.js';
import { postgresDialect } from '../adapters/postgres.js';
import { loginColumns, type Dialect } from '../adapters/sql.js';
import { sqliteDialect } from '../adapters/sqlite.js';
import { exportsTable, type Config } from './config.js';
import { storeTarget } from './dbhints.js';

type SqlAdapter = 'sqlite' | 'postgres' | 'mysql' | 'mssql' | 'oracle';

const QUOTE: Record<SqlAdapter, (p: string) => string> = {
  sqlite: (p) => `"${p.replaceAll('"', '""')}"`,
  postgres: (p) => `"${p.replaceAll('"', '""')}"`,
  mysql: (p) => `\`${p.replaceAll('`', '``')}\``,
  mssql: (p) => `[${p.replaceAll(']', ']]')}]`,
  // Quoted, so case-sensitive: names as the data dictionary has them (USERS, EMAIL for unquoted DDL).
  oracle: (p) => `"${p}"`,
};

const TYPES: Record<SqlAdapter, { id: string; ts: string; tail: string }> = {
  sqlite: { id: 'TEXT', ts: 'TEXT', tail: '' },
  postgres: { id: 'varchar(255)', ts: 'timestamptz', tail: '' },
  mysql: { id: 'VARCHAR(255)', ts: 'DATETIME(3)', tail: ' ENGINE=InnoDB' },
  mssql: { id: 'NVARCHAR(255)', ts: 'DATETIME2(3)', tail: '' },
  oracle: { id: 'VARCHAR2(255)', ts: 'TIMESTAMP WITH TIME ZONE', tail: '' },
};

/** Validated to be present for every relational adapter (src/config.ts). */
function usersTable(config: Config): string {
  return config.store.users.table ?? '';
}

function isSql(a: string): a is SqlAdapter {
  return a in QUOTE;
}

function qualify(a: SqlAdapter, name: string): string {
  return name.split('.').map(QUOTE[a]).join('.');
}

/** Tables the gateway reads: the users table and every joined table. */
export function readTables(config: Config): string[] {
  return [usersTable(config), ...config.store.users.joins.map((j) => j.table)];
}

/** A gateway-owned table keyed by the user id: the migration side table, the export ledger. */
function gatewayTable(a: SqlAdapter, name: string, time: string): string {
  const t = TYPES[a];
  return `CREATE TABLE ${qualify(a, name)} (\n  user_id ${t.id} NOT NULL PRIMARY KEY,\n  ${time} ${t.ts} NOT NULL\n)${t.tail};`;
}

/**
 * The DDL, one statement per element (each ending in ";"): the migration column or side table, then the export
 * ledger (which users `legacy-gateway export` wrote to a file; only export and status use it).
 */
export function migrationStatements(config: Config): string[] {
  const a = config.store.adapter;
  if (!isSql(a)) return [`-- store.adapter ${a}: no SQL DDL`];
  const m = config.store.migration;
  const ledger = gatewayTable(a, exportsTable(m), 'exported_at');
  if ('column' in m) {
    const add = a === 'mssql' || a === 'oracle' ? 'ADD' : 'ADD COLUMN';
    return [`ALTER TABLE ${qualify(a, usersTable(config))} ${add} ${QUOTE[a](m.column)} ${TYPES[a].ts} NULL;`, ledger];
  }
  return [gatewayTable(a, m.table, 'migrated_at'), ledger];
}

/** migrationStatements as one text, as check prints it. */
export function migrationDdl(config: Config): string {
  return migrationStatements(config).join('\n');
}

/**
 * The writes the gateway makes to a table it owns: INSERT, DELETE (the side table's un-mark), and UPDATE where the
 * idempotent insert needs it (MySQL's INSERT ... ON DUPLICATE KEY UPDATE, Oracle's MERGE).
 */
export function gatewayWrites(adapter: string, table: 'side' | 'ledger'): string[] {
  return ['INSERT', ...(adapter === 'mysql' || adapter === 'oracle' ? ['UPDATE'] : []), ...(table === 'side' ? ['DELETE'] : [])];
}

/** Least privilege: SELECT on what is read; writes only to the migration column or side table, and the export ledger. */
export function grantStatements(config: Config, role = 'legacy_gateway'): string[] {
  const a = config.store.adapter;
  if (!isSql(a) || a === 'sqlite') return [`-- store.adapter ${a}: file or service permissions, no GRANTs`];
  // An Oracle user or role created without quotes is stored in upper case: leave the name unquoted to match it.
  const who = a === 'mysql' ? `'${role}'@'%'` : a === 'oracle' ? role : QUOTE[a](role);
  // MySQL/MariaDB: a GRANT on a bare table name needs a current database (ERROR 1046 when pasted into a client
  // without one), so tables are qualified with the database from store.url. Others stay schema-relative.
  const db = a === 'mysql' ? storeTarget(a, config.store.url).database : undefined;
  const qualified = (adapter: SqlAdapter, name: string) => (db && !name.includes('.') ? `${QUOTE[adapter](db)}.` : '') + qualify(adapter, name);
  const out = readTables(config).map((t) => `GRANT SELECT ON ${qualified(a, t)} TO ${who};`);
  const m = config.store.migration;
  if ('column' in m) {
    const users = qualified(a, usersTable(config));
    const col = QUOTE[a](m.column);
    out.push(a === 'mssql' ? `GRANT UPDATE ON ${users} (${col}) TO ${who};` : `GRANT UPDATE (${col}) ON ${users} TO ${who};`);
  } else {
    out.push(`GRANT ${['SELECT', ...gatewayWrites(a, 'side')].join(', ')} ON ${qualified(a, m.table)} TO ${who};`);
  }
  out.push(`GRANT ${['SELECT', ...gatewayWrites(a, 'ledger')].join(', ')} ON ${qualified(a, exportsTable(m))} TO ${who};`);
  return out;
}

/**
 * Without a connection, what each adapter's dialect does when it knows nothing about the server: PostgreSQL without
 * ICU folding, MySQL without column collations. `check` passes the connected store's own dialect instead.
 */
const OFFLINE: Record<SqlAdapter, Dialect> = {
  sqlite: sqliteDialect,
  postgres: postgresDialect(null),
  mysql: mysqlDialect,
  mssql: mssqlDialect,
  oracle: oracleDialect,
};

/**
 * Indexes for the login lookups: for each login column (email, username; a joined table's too), exactly what the
 * dialect says serves the expression the gateway compares (Dialect.loginKey / loginIndex, one decision for both),
 * or a note that lookups on it scan. Pass the connected store's dialect (check does): the decision depends on the
 * server (PostgreSQL's ICU folding, MySQL/MariaDB column collations).
 */
export function indexSuggestions(config: Config, dialect?: Dialect): string[] {
  const a = config.store.adapter;
  if (!isSql(a)) return [];
  const d = dialect ?? OFFLINE[a];
  const out: string[] = [];
  for (const col of loginColumns(config.store.users)) out.push(...d.loginIndex(qualify(a, col.table), QUOTE[a](col.column), col));
  // A note that applies to both columns is printed once.
  return out.filter((line, i) => !line.startsWith('--') || out.indexOf(line) === i);
}
