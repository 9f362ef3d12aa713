/** `legacy-gateway check`: config, connection, user count, schemes seen in a sample, and the DBA's DDL. */
import type { Writable } from 'node:stream';
import { createStore } from '../adapters/index.js';
import type { Config } from './config.js';
import { resolveScheme } from './passwords/index.js';

const SAMPLE = 500;

export function migrationDdl(config: Config): string {
  const m = config.store.migration;
  const t = config.store.users.table;
  if ('column' in m) return `ALTER TABLE ${t} ADD COLUMN ${m.column} TIMESTAMP NULL;`;
  return `CREATE TABLE ${m.table} (\n  user_id VARCHAR(255) PRIMARY KEY,\n  migrated_at VARCHAR(40) NOT NULL\n);`;
}

export async function runCheck(config: Config, out: Writable): Promise<number> {
  out.write(`config: ok (adapter ${config.store.adapter}, table ${config.store.users.table})\n`);
  const store = await createStore(config.store);
  try {
    await store.ping();
    out.write('connection: ok\n');
    const status = await store.migrationStatus();
    out.write(`users: ${status.total} (migrated ${status.migrated}, remaining ${status.remaining})\n`);
    const schemes = new Map<string, number>();
    let n = 0;
    for await (const u of store.scan()) {
      const r = resolveScheme(u, config.passwords);
      const key = r.scheme ? r.scheme.name : `(none: ${r.reason})`;
      schemes.set(key, (schemes.get(key) ?? 0) + 1);
      if (++n >= SAMPLE) break;
    }
    out.write(`password schemes in a sample of ${n}:\n`);
    for (const [k, v] of [...schemes].sort((a, b) => b[1] - a[1])) out.write(`  ${k}: ${v}\n`);
    out.write(`\nmigration state DDL for the DBA (the gateway never alters the users table itself):\n${migrationDdl(config)}\n`);
    return 0;
  } catch (e) {
    out.write(`connection: FAILED (${(e as Error).message})\n`);
    return 1;
  } finally {
    await store.close().catch(() => {});
  }
}
