#!/usr/bin/env node
/** The `legacy-gateway` executable: serve · demo · check · hash identify · status · audit · export · import · reconcile. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, configPathFrom, loadConfigFile } from './config.js';
import { createLogger } from './logger.js';
import { processIO, UsageError, type CliIO } from './operations/cli.js';

const USAGE = `legacy-gateway — token-protected API in front of a legacy user store

Usage:
  legacy-gateway serve --config FILE     run the gateway (or set LEGACY_GATEWAY_CONFIG)
  legacy-gateway demo [--port 8080]      SQLite demo store, local token issuer, loopback only
  legacy-gateway check --config FILE     validate config, connect, count users, list schemes seen, print DDL/GRANTs
  legacy-gateway hash identify VALUE     name the password scheme(s) a stored value could be
  legacy-gateway status [--json] [--html FILE]
                                         migrated, exported, remaining, per day, recently active; decommission checklist
  legacy-gateway audit [--json] [--require-username]
                                         every user that would fail to migrate or import; exit 1 when blockers exist
  legacy-gateway export --target auth0 --out DIR [--max-bytes 500000] [--only-importable-hashes] [--force] [--json]
                                         bulk-import files for the users not migrated
  legacy-gateway import --target auth0 --files DIR [--upsert] [--json] [--retry-unknown] [--poll-interval-ms N]
                                         submit export files as Auth0 import jobs, poll, write a report; resumable
  legacy-gateway reconcile --from FILE [--format ndjson|csv] [--dry-run] [--report FILE] [--json]
                                         mark migrated the users an Auth0 export (NDJSON/CSV) already has
  legacy-gateway help
`;

/** Operator commands: each module parses its own flags and exports run(args, io). */
const OPERATIONS: Record<string, () => Promise<{ run(args: string[], io: CliIO): Promise<number> }>> = {
  status: () => import('./operations/status.js'),
  audit: () => import('./operations/audit.js'),
  export: () => import('./operations/export.js'),
  import: () => import('./operations/import.js'),
  reconcile: () => import('./operations/reconcile.js'),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const operation = cmd ? OPERATIONS[cmd] : undefined;
  if (operation) {
    try {
      return await (await operation()).run(rest, processIO);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      process.stderr.write(`${cmd}: ${e.message}\n\n${USAGE}`);
      return 2;
    }
  }
  const { values, positionals } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, port: { type: 'string' }, dir: { type: 'string' } },
    allowPositionals: true,
  });
  switch (cmd) {
    case 'serve': {
      const file = configPathFrom(values.config);
      if (!file) {
        process.stderr.write('serve needs --config FILE (or LEGACY_GATEWAY_CONFIG)\n');
        return 2;
      }
      const config = loadConfigFile(file);
      const logger = createLogger(config.log.level);
      const { onShutdownSignal, startServer } = await import('./server.js');
      const running = await startServer(config, logger);
      // Graceful: idle keep-alive connections close at once, in-flight requests finish, the store closes;
      // all of it bounded by server.shutdown_grace_ms.
      onShutdownSignal(() => running.close(), config.server.shutdown_grace_ms, logger);
      return -1;
    }
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      const port = values.port ? Number(values.port) : 8080;
      await runDemo(createLogger('warn'), port, values.dir ?? path.resolve('.demo'));
      return -1;
    }
    case 'check': {
      const file = configPathFrom(values.config);
      if (!file) {
        process.stderr.write('check needs --config FILE\n');
        return 2;
      }
      const { runCheck } = await import('./check.js');
      return runCheck(loadConfigFile(file), process.stdout);
    }
    case 'hash': {
      const [sub, value] = positionals;
      if (sub !== 'identify' || value === undefined) {
        process.stderr.write('usage: legacy-gateway hash identify VALUE\n');
        return 2;
      }
      const { identify } = await import('./passwords/index.js');
      const names = identify(value);
      process.stdout.write(names.length ? `${names.join('\n')}\n` : 'unknown: no registered scheme recognises this value\n');
      return names.length ? 0 : 1;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command: ${cmd}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof ConfigError) process.stderr.write(`${e.message}\n`);
    else process.stderr.write(`legacy-gateway: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
