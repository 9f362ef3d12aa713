/**
 * The start-up check: the store must match the configuration before the gateway serves a request.
 * A reachable store with a missing table or column (the migration side table, typically) would otherwise make
 * every call a 503 while /readyz said ready. Such a gateway refuses to start, naming the root cause (a missing table
 * rather than each of its columns) and, when the migration state is what is missing, printing the DDL to run.
 * A store that can't be reached at all does not stop the start: /readyz stays 503 until it answers.
 */
import type { ProbeResult, UserStore } from '../adapters/types.js';
import type { Config } from './config.js';
import { migrationStatements } from './dba.js';
import type { Logger } from './logger.js';

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export type ItemState = 'ok' | 'MISSING' | 'not checked' | 'provided';

export interface SchemaVerdict {
  /** Every required item with its state: a column is 'not checked' when a table it is read from is missing. */
  items: { probe: ProbeResult; state: ItemState }[];
  /** The migration state (side table or column) is missing: the fix is the DDL. */
  migration: boolean;
  /** A configured table or column is missing: the fix is store.users (or the preset). */
  mapping: boolean;
}

const isTable = (what: string) => what.startsWith('table ') || what.startsWith('joined table ');
const isMigration = (what: string) => what.startsWith('migration ');
/** The logical key of a `columns.<key> (...)` item. */
const columnKey = (what: string) => /^columns\.(\w+) /.exec(what)?.[1];

/**
 * The root cause of a probe report. A missing users or joined table makes every column probe fail (they all read
 * through the joins): only the table is reported, its columns are 'not checked'. `provided`: logical columns that
 * store.queries return (check runs them), which the generated queries' columns need not have.
 */
export function schemaVerdict(report: ProbeResult[], provided: ReadonlySet<string> = new Set()): SchemaVerdict {
  const required = report.filter((p) => !p.optional);
  const tableMissing = required.some((p) => !p.ok && isTable(p.what));
  const items = required.map((probe) => {
    const key = columnKey(probe.what);
    const state: ItemState = probe.ok
      ? 'ok'
      : isTable(probe.what) || (isMigration(probe.what) && probe.what.startsWith('migration table '))
        ? 'MISSING'
        : tableMissing
          ? 'not checked'
          : key && provided.has(key)
            ? 'provided'
            : 'MISSING';
    return { probe, state };
  });
  const missing = items.filter((i) => i.state === 'MISSING');
  return { items, migration: missing.some((i) => isMigration(i.probe.what)), mapping: missing.some((i) => !isMigration(i.probe.what)) };
}

export async function checkStoreAtStartup(config: Config, store: UserStore, logger: Logger): Promise<void> {
  if (!store.probe) return;
  const report = await store.probe();
  if (report.some((p) => p.connection)) {
    logger.warn({ error: report[0]?.error }, 'the legacy store is unreachable at start-up; /readyz answers 503 until it answers');
    return;
  }
  const verdict = schemaVerdict(report);
  const missing = verdict.items.filter((i) => i.state === 'MISSING');
  if (missing.length === 0) return;
  const lines = missing.map((i) => `  - ${i.probe.what}: not found (${i.probe.error ?? 'error'})`);
  const unchecked = verdict.items.filter((i) => i.state === 'not checked').length;
  if (unchecked) lines.push(`  (${unchecked} configured column(s) not checked until the missing table exists)`);
  throw new StartupError(
    [
      'the legacy store does not match the configuration:',
      ...lines,
      ...(verdict.mapping ? ['Fix store.users (or the preset) to name tables and columns that exist; `legacy-gateway check` prints the full report.'] : []),
      ...(verdict.migration
        ? [`Create the migration state with this DDL (the gateway never alters the database itself), then start again:\n${migrationStatements(config)[0]!.replace(/^/gm, '  ')}\n(\`legacy-gateway check\` also prints the export ledger's table, which \`legacy-gateway export\` needs.)`]
        : []),
    ].join('\n'),
  );
}
