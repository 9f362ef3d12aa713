/**
 * A second, private MariaDB server for one test file: its own temporary data directory, its own free port on
 * 127.0.0.1, its own socket and pid file, started with --no-defaults (nothing from /etc/mysql) and with the
 * server's compiled-in default sql_mode plus the extra modes asked for (NO_BACKSLASH_ESCAPES, typically).
 *
 * Every wait is bounded; a server that can't be installed or started fails with the reason and the tail of its
 * error log. stop() shuts it down (SIGTERM, then SIGKILL after a bound) and removes the data directory; it is
 * idempotent, and the process's 'exit' handler kills a server a failed test left running.
 *
 * The binaries are looked up on PATH and in /usr/sbin, /usr/bin, /usr/local/sbin, /usr/local/bin (or given by
 * TEST_MARIADBD / TEST_MARIADB_INSTALL_DB). privateMariadbAvailability() answers like databases.ts's availability():
 * false when the server can be started here, a skip reason otherwise, and it throws when databases are required.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { env } from './databases.js';

/** MariaDB 10.11's compiled-in default, used only when `mariadbd --verbose --help` does not print one. */
const FALLBACK_SQL_MODE = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION';
const INSTALL_TIMEOUT_MS = 90_000;
const START_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 20_000;

export interface MariadbServer {
  /** mysql://root@127.0.0.1:<port>/ (no database). */
  url: string;
  port: number;
  /** The sql_mode the server reports for new sessions (@@GLOBAL.sql_mode). */
  sqlMode: string;
  dir: string;
  /** mysql://root@127.0.0.1:<port>/<database> */
  urlFor(database: string): string;
  /** Shut the server down and remove its directory. Idempotent; never throws. */
  stop(): Promise<void>;
}

const SEARCH = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/usr/local/mysql/bin'];

function findBinary(override: string | undefined, names: string[]): string | null {
  if (override) return existsSync(override) ? override : null;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SEARCH];
  for (const name of names) {
    for (const d of dirs) {
      const p = path.join(d, name);
      if (existsSync(p)) return p;
    }
  }
  return null;
}

function binaries(): { server: string; install: string } | string {
  const server = findBinary(process.env.TEST_MARIADBD, ['mariadbd', 'mysqld']);
  const install = findBinary(process.env.TEST_MARIADB_INSTALL_DB, ['mariadb-install-db', 'mysql_install_db']);
  if (!server) return 'no MariaDB server binary (mariadbd / mysqld) found; set TEST_MARIADBD';
  if (!install) return 'no mariadb-install-db / mysql_install_db found; set TEST_MARIADB_INSTALL_DB';
  return { server, install };
}

/** false when a private server can be started here; a skip reason otherwise. Throws when databases are required. */
export function privateMariadbAvailability(): string | false {
  const b = binaries();
  if (typeof b === 'object') return false;
  const reason = `private MariaDB server not available: ${b}`;
  if (env.requireDatabases) throw new Error(`required database suite cannot run: ${reason}`);
  return reason;
}

function run(file: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

/** A port that was free on 127.0.0.1 a moment ago (the server's bind is retried if another process takes it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function defaultSqlMode(server: string): Promise<string> {
  try {
    const { stdout } = await run(server, ['--no-defaults', '--user=root', '--verbose', '--help'], 30_000);
    const m = /^sql-mode\s+(\S+)\s*$/m.exec(stdout);
    if (m && /^[A-Z_,]+$/.test(m[1]!)) return m[1]!;
  } catch {
    // Fall back to the documented default below.
  }
  return FALLBACK_SQL_MODE;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(exited(child)), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Install and start a private server. extraSqlModes are added to the server's default sql_mode
 * (e.g. ['NO_BACKSLASH_ESCAPES']).
 */
export async function startMariadbServer(opts: { extraSqlModes?: string[]; startTimeoutMs?: number } = {}): Promise<MariadbServer> {
  const b = binaries();
  if (typeof b === 'string') throw new Error(`cannot start a private MariaDB server: ${b}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-mariadb-'));
  const datadir = path.join(dir, 'data');
  const errorLog = path.join(dir, 'error.log');
  let child: ChildProcess | null = null;
  let stopped = false;

  const killNow = () => {
    if (child && !exited(child)) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A test process that dies without running its after() hooks must not leave a server (and its files) behind.
  process.once('exit', killNow);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      if (child && !exited(child)) {
        child.kill('SIGTERM'); // mariadbd shuts down cleanly on SIGTERM
        if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5_000);
        }
      }
    } catch {
      // fall through to the removal
    } finally {
      process.removeListener('exit', killNow);
      rmSync(dir, { recursive: true, force: true });
    }
  };

  try {
    try {
      await run(
        b.install,
        ['--no-defaults', `--datadir=${datadir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'],
        INSTALL_TIMEOUT_MS,
      );
    } catch (e) {
      const err = e as { message?: string; stdout?: string; stderr?: string };
      throw new Error(`mariadb-install-db failed: ${err.message}\n${(err.stderr || err.stdout || '').slice(-2000)}`);
    }
    const sqlMode = [...new Set([...(await defaultSqlMode(b.server)).split(','), ...(opts.extraSqlModes ?? [])].filter(Boolean))].join(',');
    const deadline = Date.now() + (opts.startTimeoutMs ?? START_TIMEOUT_MS);
    let lastError = '';
    // A port picked free can be taken before the server binds it: try a few.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const c = spawn(
        b.server,
        [
          '--no-defaults',
          `--datadir=${datadir}`,
          '--user=root',
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--socket=${path.join(dir, 'mysqld.sock')}`,
          `--pid-file=${path.join(dir, 'mysqld.pid')}`,
          `--log-error=${errorLog}`,
          '--skip-name-resolve',
          '--innodb-buffer-pool-size=32M',
          '--character-set-server=utf8mb4',
          '--collation-server=utf8mb4_general_ci',
          `--sql-mode=${sqlMode}`,
        ],
        { stdio: 'ignore' },
      );
      child = c;
      c.unref();
      c.on('error', (e) => {
        lastError = e.message;
      });
      const url = `mysql://root@127.0.0.1:${port}/`;
      while (Date.now() < deadline && !exited(c)) {
        try {
          const conn = await mysql.createConnection({ uri: url, connectTimeout: 1000 });
          try {
            const [rows] = await conn.query('SELECT @@GLOBAL.sql_mode AS m');
            const mode = String((rows as { m: unknown }[])[0]?.m ?? '');
            return {
              url,
              port,
              sqlMode: mode,
              dir,
              urlFor: (database) => `mysql://root@127.0.0.1:${port}/${database}`,
              stop,
            };
          } finally {
            await conn.end().catch(() => {});
          }
        } catch (e) {
          lastError = (e as Error).message;
          await sleep(200);
        }
      }
      if (!exited(c)) break; // still running but not answering within the bound: give up
      if (!/bind|address already in use|Can't start server/i.test(tail(errorLog, 10))) break;
    }
    const c = child as ChildProcess | null;
    const why =
      c && exited(c)
        ? `exited (code ${c.exitCode ?? 'none'}, signal ${c.signalCode ?? 'none'}) before answering`
        : `did not answer within ${opts.startTimeoutMs ?? START_TIMEOUT_MS} ms`;
    throw new Error(
      `private MariaDB server ${why} (last error: ${lastError})\n` +
        `error log (${errorLog}):\n${tail(errorLog)}`,
    );
  } catch (e) {
    await stop();
    throw e;
  }
}
