#!/usr/bin/env node
/** The `legacy-gateway` executable: serve · demo · check · hash identify · status · audit · export · import · reconcile · dev-issuer. */
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
  legacy-gateway dev-issuer [--port 0] [--scopes "..."] [--client ID] [--audience AUD] [--ttl 3600]
                                         DEVELOPMENT ONLY: a local token issuer on loopback, prints an auth: block and a token
  legacy-gateway help [COMMAND]          this text, or a command's options and an example (also: COMMAND --help)

Example:
  legacy-gateway demo
  legacy-gateway check --config gateway.yaml
`;

/** `<command> --help` for the commands main.ts runs itself; operator commands export their own `help`. */
const HELP: Record<string, string> = {
  serve: `legacy-gateway serve — run the gateway

Usage:
  legacy-gateway serve [--config FILE]

Options:
  -c, --config FILE   the YAML configuration (default: $LEGACY_GATEWAY_CONFIG); \${VAR} is read from the environment

Example:
  legacy-gateway serve --config gateway.yaml
`,
  demo: `legacy-gateway demo — try the gateway: a SQLite demo store, a local token issuer, loopback only

Usage:
  legacy-gateway demo [--port 8080] [--dir .demo]

Options:
  --port N     the gateway's port (default 8080)
  --dir DIR    where the demo database is written (default ./.demo)

Example:
  legacy-gateway demo --port 9090
`,
  check: `legacy-gateway check — validate the configuration against the real database before serving

Usage:
  legacy-gateway check [--config FILE]

Validates the configuration, connects, counts users, lists the password schemes seen, and prints the DDL and GRANTs
the gateway needs. Exit 0 when everything is in place.

Options:
  -c, --config FILE   the YAML configuration (default: $LEGACY_GATEWAY_CONFIG)

Example:
  legacy-gateway check --config gateway.yaml
`,
  hash: `legacy-gateway hash identify — name the password scheme(s) a stored value could be

Usage:
  legacy-gateway hash identify VALUE

Exit 0 with one scheme name a line, or 1 with "unknown".

Example:
  legacy-gateway hash identify '$2y$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy'
`,
};

/** Operator commands: each module parses its own flags and exports run(args, io). */
const OPERATIONS: Record<string, () => Promise<{ run(args: string[], io: CliIO): Promise<number> }>> = {
  status: () => import('./operations/status.js'),
  audit: () => import('./operations/audit.js'),
  export: () => import('./operations/export.js'),
  import: () => import('./operations/import.js'),
  reconcile: () => import('./operations/reconcile.js'),
  'dev-issuer': () => import('./operations/dev-issuer.js'),
};

/** --help or -h among a command's arguments (before a `--`). */
function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** The help of one command, or undefined for an unknown one. */
async function commandHelp(cmd: string): Promise<string | undefined> {
  const operation = OPERATIONS[cmd];
  if (operation) return ((await operation()) as { help?: string }).help ?? USAGE;
  return HELP[cmd];
}

async function main(argv: string[]): Promise<number> {
  // `help COMMAND` is `COMMAND --help`.
  const [cmd, ...rest] = argv[0] === 'help' && argv[1] !== undefined ? [argv[1], '--help'] : argv;
  if (cmd !== undefined && Object.hasOwn({ ...OPERATIONS, ...HELP }, cmd) && wantsHelp(rest)) {
    process.stdout.write((await commandHelp(cmd))!);
    return 0;
  }
  const operation = cmd ? OPERATIONS[cmd] : undefined;
  if (operation) {
    try {
      return await (await operation()).run(rest, processIO);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      process.stderr.write(`${cmd}: ${e.message}\n(legacy-gateway ${cmd} --help lists its options)\n`);
      return 2;
    }
  }
  if (cmd !== undefined && !Object.hasOwn(HELP, cmd) && !['help', '--help', '-h'].includes(cmd)) {
    process.stderr.write(`unknown command: ${cmd}\n\n${USAGE}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, port: { type: 'string' }, dir: { type: 'string' } },
      allowPositionals: true,
    });
  } catch (e) {
    process.stderr.write(`${cmd}: ${(e as Error).message}\n(legacy-gateway ${cmd} --help lists its options)\n`);
    return 2;
  }
  const { values, positionals } = parsed;
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
      // After a load, the memory V8 grew for it is given back once the process is idle (src/idlegc.ts).
      (await import('./idlegc.js')).collectWhenIdle({ logger });
      // Graceful: idle keep-alive connections close at once, in-flight requests finish, the store closes;
      // all of it bounded by server.shutdown_grace_ms.
      onShutdownSignal(() => running.close(), config.server.shutdown_grace_ms, logger);
      // SIGHUP: a renewed certificate (cert-manager, certbot) is picked up without a restart or a dropped connection.
      if (config.server.tls) process.on('SIGHUP', () => void running.reloadTls());
      return -1;
    }
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      const port = values.port === undefined ? 8080 : /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN;
      if (!(port <= 65535)) {
        process.stderr.write(`demo: --port must be a port number (0-65535), not "${values.port}"\n`);
        return 2;
      }
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

// A reader that goes away early (`legacy-gateway status | head`) is not an error: stop quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
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
