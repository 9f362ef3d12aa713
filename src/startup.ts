/**
 * The start-up check: the store must match the configuration before the gateway serves a request.
 * A reachable store with a missing table or column (the migration side table, typically) would otherwise make
 * every call a 503 while /readyz said ready. Such a gateway refuses to start, naming each problem and printing the
 * DDL to run. A store that can't be reached at all does not stop the start: /readyz stays 503 until it answers.
 */
import type { UserStore } from '../adapters/types.js';
import type { Config } from './config.js';
import { migrationStatements } from './dba.js';
import type { Logger } from './logger.js';

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export async function checkStoreAtStartup(config: Config, store: UserStore, logger: Logger): Promise<void> {
  if (!store.probe) return;
  const report = await store.probe();
  if (report.some((p) => p.connection)) {
    logger.warn({ error: report[0]?.error }, 'the legacy store is unreachable at start-up; /readyz answers 503 until it answers');
    return;
  }
  const missing = report.filter((p) => !p.ok);
  if (missing.length === 0) return;
  const lines = missing.map((p) => `  - ${p.what}: not found (${p.error ?? 'error'})`);
  const side = missing.some((p) => p.what.startsWith('migration '));
  throw new StartupError(
    [
      'the legacy store does not match the configuration:',
      ...lines,
      side
        ? `Create the migration state with this DDL (the gateway never alters the database itself), then start again:\n${migrationStatements(config)[0]!.replace(/^/gm, '  ')}\n(\`legacy-gateway check\` also prints the export ledger's table, which \`legacy-gateway export\` needs.)`
        : 'Fix store.users (or the preset) to name tables and columns that exist; `legacy-gateway check` prints the full report.',
    ].join('\n'),
  );
}
