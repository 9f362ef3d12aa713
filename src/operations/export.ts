/**
 * `legacy-gateway export --target auth0 --out DIR [--max-bytes 500000] [--only-importable-hashes] [--force] [--json]`
 *
 * Streams every user of the store (never all of them in memory), skips the migrated ones, and writes Auth0 bulk-import
 * files: DIR/users-0001.json, ... each a JSON array of at most --max-bytes bytes with no email, username or user_id twice
 * in one file. Beside them:
 *   needs-password-reset.csv  user_id,email,reason   exported without a password (a hash Auth0 can't take)
 *   held-back.csv             user_id,email,reason   with --only-importable-hashes: not exported, they keep migrating at login
 *   problems.csv              user_id,email,code,field,blocking,message   what Auth0 would refuse (blocking: not exported)
 *   manifest.json             the files (bytes, users, sha256), counts, options, times; the same object --json prints
 * Each file is written under a temporary name and renamed when complete; its users are then recorded in the store's
 * export ledger (markExported), so `status` counts them as exported. No hash ever reaches a log line, a CSV or an error.
 *
 * Exit codes: 0 written, 1 failure (store, disk), 2 usage.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { UserStore } from '../../adapters/types.js';
import { ConfigError, type Config } from '../config.js';
import { serialiseRecord, toAuth0User, type RecordProblem } from './auth0/record.js';
import { loadConfig, parseFlags, UsageError, withStore, type CliIO } from './cli.js';
import { startProgress, type Progress } from './progress.js';

export const DEFAULT_MAX_BYTES = 500_000;
const MIN_MAX_BYTES = 1024;
/** Users recorded in the ledger per markExported call, and calls at once (each takes a pool connection). */
const LEDGER_BATCH = 500;
const LEDGER_WRITERS = 3;
/** Users read ahead of the one being turned into a record (two of the SQL stores' scan pages). */
const READ_AHEAD = 1000;
const MANIFEST = 'manifest.json';
const RESET_CSV = 'needs-password-reset.csv';
const HELD_CSV = 'held-back.csv';
const PROBLEMS_CSV = 'problems.csv';
/** What a previous export left in DIR (--force removes these, and only these). */
const OWN_FILE = /^(users-\d{4,}\.json(\.tmp)?|needs-password-reset\.csv|held-back\.csv|problems\.csv|manifest\.json)$/;
/** An import was run from this directory: its state refers to the files there. */
const IMPORT_FILES = ['import-state.json', 'import-report.json'];

// "[\n" + records joined by ",\n" + "\n]\n"
const ARRAY_OPEN = '[\n';
const ARRAY_SEP = ',\n';
const ARRAY_CLOSE = '\n]\n';

export interface ExportOptions {
  out: string;
  maxBytes: number;
  onlyImportableHashes: boolean;
}

export interface ExportedFile {
  name: string;
  users: number;
  bytes: number;
  sha256: string;
}

export interface ExportSummary {
  target: 'auth0';
  out: string;
  complete: boolean;
  /** Set when complete is false: what stopped the export. */
  error?: string;
  started_at: string;
  finished_at: string;
  options: { max_bytes: number; only_importable_hashes: boolean };
  files: ExportedFile[];
  counts: {
    /** Users read from the store. */
    scanned: number;
    /** Already migrated: not exported. */
    migrated: number;
    /** Written to a users file. */
    exported: number;
    with_password_hash: number;
    /** Exported without a password: listed in needs-password-reset.csv. */
    without_password: number;
    /** --only-importable-hashes: not exported, listed in held-back.csv. */
    held_back: number;
    /** Not exported: Auth0 would refuse the record (problems.csv, blocking = yes). */
    refused: number;
  };
  /** Exported users by the legacy scheme of their hash. */
  schemes: Record<string, number>;
  /** Why passwords could not be imported (needs-password-reset.csv and held-back.csv), by reason code. */
  passwords_not_importable: Record<string, number>;
  /** Every problem found, by code. */
  problems: Record<string, number>;
  ledger: {
    /** recorded: status counts these users as exported; unsupported / failed: it can't. */
    status: 'recorded' | 'unsupported' | 'failed';
    recorded: number;
    message?: string;
  };
}

function parseOptions(args: string[]) {
  const flags = parseFlags(args, {
    target: { type: 'string' },
    out: { type: 'string' },
    'max-bytes': { type: 'string' },
    'only-importable-hashes': { type: 'boolean' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (flags.target === undefined) throw new UsageError('--target is required (auth0)');
  if (flags.target !== 'auth0') throw new UsageError(`--target ${flags.target}: only auth0 is supported`);
  if (!flags.out) throw new UsageError('--out DIR is required');
  let maxBytes = DEFAULT_MAX_BYTES;
  if (flags['max-bytes'] !== undefined) {
    const raw = flags['max-bytes'];
    maxBytes = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
    if (!(maxBytes >= MIN_MAX_BYTES && maxBytes <= DEFAULT_MAX_BYTES)) {
      throw new UsageError(`--max-bytes must be a whole number from ${MIN_MAX_BYTES} to ${DEFAULT_MAX_BYTES} (Auth0's file limit)`);
    }
  }
  return {
    options: { out: path.resolve(flags.out), maxBytes, onlyImportableHashes: flags['only-importable-hashes'] === true } satisfies ExportOptions,
    force: flags.force === true,
    json: flags.json === true,
    config: flags.config,
  };
}

/**
 * DIR must be empty or absent. With --force, the files of a previous export are removed (and said so); anything else
 * is left alone. A directory an import ran from is never reused: its state describes the files there.
 */
async function prepareDir(dir: string, force: boolean, io: CliIO): Promise<void> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new UsageError(`--out ${dir}: exists and is not a directory`);
    entries = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await mkdir(dir, { recursive: true });
    return;
  }
  if (entries.length === 0) return;
  if (!force) throw new UsageError(`--out ${dir}: not empty (${entries.length} entries); choose an empty directory, or --force to replace a previous export there`);
  const imported = IMPORT_FILES.filter((f) => entries.includes(f));
  if (imported.length > 0) {
    throw new UsageError(`--out ${dir}: an import was run from this directory (${imported.join(', ')}); export into a new directory`);
  }
  const own = entries.filter((f) => OWN_FILE.test(f));
  for (const f of own) await unlink(path.join(dir, f));
  const others = entries.length - own.length;
  io.stderr.write(`export: --force: removed ${own.length} file(s) of a previous export from ${dir}${others ? `; left ${others} other entr${others === 1 ? 'y' : 'ies'} untouched` : ''}\n`);
}

/** One CSV field (RFC 4180). */
function csv(v: string | number | boolean | undefined): string {
  const s = v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A CSV file written line by line, respecting the stream's backpressure. */
class CsvFile {
  private stream: WriteStream | null = null;
  rows = 0;
  constructor(
    readonly file: string,
    private readonly header: string[],
  ) {}

  async write(fields: (string | number | boolean | undefined)[]): Promise<void> {
    if (!this.stream) {
      this.stream = createWriteStream(this.file, { flags: 'wx' });
      this.stream.on('error', () => {}); // surfaced by close()
      this.stream.write(`${this.header.join(',')}\n`);
    }
    this.rows++;
    if (!this.stream.write(`${fields.map(csv).join(',')}\n`)) await new Promise<void>((r) => this.stream!.once('drain', () => r()));
  }

  close(): Promise<void> {
    const s = this.stream;
    if (!s) return Promise.resolve();
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      s.end(() => resolve());
    });
  }
}

interface Pending {
  id: string;
  json: string;
}

/**
 * The current users file: records are kept (as JSON text) until the next one would not fit or would repeat an email,
 * username or user_id; then the file is written, renamed into place, and its users recorded in the ledger.
 */
class FileWriter {
  private records: Pending[] = [];
  private bytes = 0;
  private keys = new Set<string>();
  /** CSV rows that belong to users of the current file (written once the file is). */
  private resetRows: string[][] = [];
  readonly files: ExportedFile[] = [];

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly onFile: (ids: string[]) => Promise<void>,
    private readonly reset: CsvFile,
  ) {}

  /** Largest record that fits a file on its own. */
  get maxRecordBytes(): number {
    return this.maxBytes - ARRAY_OPEN.length - ARRAY_CLOSE.length;
  }

  async add(id: string, keys: string[], json: string, resetRow?: string[]): Promise<void> {
    const size = Buffer.byteLength(json);
    if (this.records.length > 0 && (this.bytes + ARRAY_SEP.length + size > this.maxBytes || keys.some((k) => this.keys.has(k)))) await this.flush();
    this.bytes += this.records.length === 0 ? ARRAY_OPEN.length + size + ARRAY_CLOSE.length : ARRAY_SEP.length + size;
    this.records.push({ id, json });
    for (const k of keys) this.keys.add(k);
    if (resetRow) this.resetRows.push(resetRow);
  }

  async flush(): Promise<void> {
    if (this.records.length === 0) return;
    const name = `users-${String(this.files.length + 1).padStart(4, '0')}.json`;
    const text = ARRAY_OPEN + this.records.map((r) => r.json).join(ARRAY_SEP) + ARRAY_CLOSE;
    const file = path.join(this.dir, name);
    await writeFile(`${file}.tmp`, text, { flag: 'wx' });
    await rename(`${file}.tmp`, file);
    this.files.push({ name, users: this.records.length, bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') });
    for (const row of this.resetRows) await this.reset.write(row);
    const ids = this.records.map((r) => r.id);
    this.records = [];
    this.keys.clear();
    this.resetRows = [];
    this.bytes = 0;
    await this.onFile(ids);
  }
}

/**
 * The export ledger: markExported in batches; its absence or first failure is remembered, never fatal. One file's write
 * runs while the scan goes on; the next file's waits for it (at most one in flight, in file order).
 */
class Ledger {
  readonly state: ExportSummary['ledger'];
  private readonly inFlight = new Set<Promise<void>>();
  constructor(private readonly store: UserStore) {
    this.state = store.markExported
      ? { status: 'recorded', recorded: 0 }
      : { status: 'unsupported', recorded: 0, message: 'this store keeps no export ledger' };
  }

  unavailable(message: string): void {
    if (this.state.status === 'recorded') Object.assign(this.state, { status: 'unsupported', message });
  }

  async record(ids: string[]): Promise<void> {
    while (this.inFlight.size >= LEDGER_WRITERS) await Promise.race(this.inFlight);
    const w = this.write(ids).finally(() => this.inFlight.delete(w));
    this.inFlight.add(w);
  }

  /** Wait for the writes in flight. */
  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  private async write(ids: string[]): Promise<void> {
    if (this.state.status !== 'recorded') return;
    try {
      for (let i = 0; i < ids.length; i += LEDGER_BATCH) {
        const batch = ids.slice(i, i + LEDGER_BATCH);
        await this.store.markExported!(batch);
        this.state.recorded += batch.length;
      }
    } catch (e) {
      this.state.status = 'failed';
      this.state.message = e instanceof Error && e.name === 'StoreError' ? e.message : 'the export ledger could not be written';
    }
  }
}

/**
 * Iterate `source` while it fetches ahead, at most `max` items: the store's next page is read while this page's users
 * are turned into records. Stops the source when the consumer stops early.
 */
export async function* readAhead<T>(source: AsyncIterable<T>, max: number): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  const buffer: T[] = [];
  let head = 0;
  let finished = false;
  let stopped = false;
  let failure: { error: unknown } | null = null;
  let wakeConsumer: (() => void) | null = null;
  let wakePump: (() => void) | null = null;
  const wake = (w: (() => void) | null) => w?.();
  const pump = (async () => {
    try {
      while (!stopped) {
        if (buffer.length - head >= max) {
          await new Promise<void>((r) => (wakePump = r));
          continue;
        }
        const r = await it.next();
        if (r.done) break;
        buffer.push(r.value);
        wake(wakeConsumer);
      }
      if (stopped) await it.return?.();
    } catch (error) {
      failure = { error };
    } finally {
      finished = true;
      wake(wakeConsumer);
    }
  })();
  try {
    for (;;) {
      if (head < buffer.length) {
        const v = buffer[head++]!;
        if (head > max) {
          buffer.splice(0, head); // drop what was consumed, now and then
          head = 0;
        }
        wake(wakePump);
        yield v;
      } else if (finished) {
        // (set by the pump: TypeScript does not follow assignments made in another function)
        if (failure) throw (failure as { error: unknown }).error;
        return;
      } else {
        await new Promise<void>((r) => (wakeConsumer = r));
      }
    }
  } finally {
    stopped = true;
    wake(wakePump);
    await pump;
  }
}

function bump(m: Record<string, number>, key: string): void {
  m[key] = (m[key] ?? 0) + 1;
}

/**
 * Stream the store into the export directory. A store or disk failure stops it: the summary then says complete: false,
 * the error, and the files written (and recorded) before it.
 */
export async function exportAuth0(
  store: UserStore,
  config: Pick<Config, 'profile' | 'passwords'>,
  options: ExportOptions,
  progress: Progress,
): Promise<ExportSummary> {
  const started = new Date();
  const summary: ExportSummary = {
    target: 'auth0',
    out: options.out,
    complete: false,
    started_at: started.toISOString(),
    finished_at: started.toISOString(),
    options: { max_bytes: options.maxBytes, only_importable_hashes: options.onlyImportableHashes },
    files: [],
    counts: { scanned: 0, migrated: 0, exported: 0, with_password_hash: 0, without_password: 0, held_back: 0, refused: 0 },
    schemes: {},
    passwords_not_importable: {},
    problems: {},
    ledger: { status: 'recorded', recorded: 0 },
  };
  const c = summary.counts;
  const ledger = new Ledger(store);
  summary.ledger = ledger.state;
  const at = (f: string) => path.join(options.out, f);
  const reset = new CsvFile(at(RESET_CSV), ['user_id', 'email', 'reason']);
  const held = new CsvFile(at(HELD_CSV), ['user_id', 'email', 'reason']);
  const problems = new CsvFile(at(PROBLEMS_CSV), ['user_id', 'email', 'code', 'field', 'blocking', 'message']);
  const writer = new FileWriter(options.out, options.maxBytes, (ids) => ledger.record(ids), reset);
  summary.files = writer.files;
  try {
    // The total for the progress bar; and a store whose status has no exported count keeps no ledger.
    const status = await store.migrationStatus().catch(() => null);
    if (status) progress.setTotal(status.total);
    if (status?.exported === null) ledger.unavailable('this store has no export ledger (for a SQL store: its ledger table is missing)');
    for await (const user of readAhead(store.scan(), READ_AHEAD)) {
      c.scanned++;
      progress.tick();
      if (user.migratedAt) {
        c.migrated++;
        continue;
      }
      const { record, problems: found, password } = toAuth0User(user, config);
      const userId = record?.user_id ?? `${config.profile.user_id_prefix}${user.id}`;
      const email = record?.email ?? user.email?.trim().toLowerCase();
      const json = record ? serialiseRecord(record) : '';
      if (record && Buffer.byteLength(json) > writer.maxRecordBytes) {
        found.push({ code: 'record_too_large', field: '', message: `the record is over ${writer.maxRecordBytes} bytes, more than one file can hold`, blocking: true });
      }
      for (const p of found) await reportProblem(problems, summary, userId, email, p);
      if (!record || found.some((p) => p.blocking)) {
        c.refused++;
        continue;
      }
      if (!password.ok) {
        bump(summary.passwords_not_importable, password.reason);
        if (options.onlyImportableHashes) {
          c.held_back++;
          await held.write([userId, email, password.reason]);
          continue;
        }
      }
      const keys = [`id:${record.user_id}`, `email:${record.email}`, ...(record.username ? [`username:${record.username}`] : [])];
      await writer.add(user.id, keys, json, password.ok ? undefined : [userId, email ?? '', password.reason]);
      c.exported++;
      if (password.ok) {
        c.with_password_hash++;
        bump(summary.schemes, password.scheme);
      } else {
        c.without_password++;
      }
    }
    await writer.flush();
    summary.complete = true;
  } catch (e) {
    summary.error = describeError(e);
  } finally {
    await ledger.drain();
    await Promise.all([reset.close(), held.close(), problems.close()]);
    summary.finished_at = new Date().toISOString();
  }
  return summary;
}

async function reportProblem(file: CsvFile, summary: ExportSummary, userId: string, email: string | undefined, p: RecordProblem): Promise<void> {
  bump(summary.problems, p.code);
  await file.write([userId, email, p.code, p.field, p.blocking ? 'yes' : 'no', p.message]);
}

function humanSummary(s: ExportSummary): string {
  const c = s.counts;
  const n = (x: number) => x.toLocaleString('en-US');
  const list = (m: Record<string, number>) =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(', ');
  const out = [
    `export (auth0): ${s.files.length} file(s) in ${s.out}${s.complete ? '' : ' — INCOMPLETE'}`,
    `  exported          ${n(c.exported)} user(s): ${n(c.with_password_hash)} with their password hash, ${n(c.without_password)} without${c.without_password ? ` (${RESET_CSV}: they must reset their password)` : ''}`,
  ];
  if (s.options.only_importable_hashes) out.push(`  held back         ${n(c.held_back)} user(s) whose hash Auth0 can't take (${HELD_CSV}): they keep migrating at login`);
  if (c.refused) out.push(`  not exported      ${n(c.refused)} user(s) Auth0 would refuse (${PROBLEMS_CSV}, blocking = yes)`);
  out.push(`  already migrated  ${n(c.migrated)} user(s), skipped`);
  if (Object.keys(s.schemes).length) out.push(`  hashes by scheme: ${list(s.schemes)}`);
  if (Object.keys(s.passwords_not_importable).length) out.push(`  passwords Auth0 can't import: ${list(s.passwords_not_importable)}`);
  if (Object.keys(s.problems).length) out.push(`  problems (${PROBLEMS_CSV}): ${list(s.problems)}`);
  if (s.ledger.status === 'recorded') {
    out.push(`  ledger: ${n(s.ledger.recorded)} user(s) recorded as exported; status counts them`);
  } else {
    out.push(`  ledger: NOT recorded (${s.ledger.message}); status can't count these users as exported`);
  }
  if (s.error) out.push(`  stopped: ${s.error}`);
  return `${out.join('\n')}\n`;
}

/** What an error may say: a store's own message (no values), a file system code, or nothing specific. */
function describeError(e: unknown): string {
  if (e instanceof Error && e.name === 'StoreError') return e.message;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string') return `${code} while writing the export files`;
  return `unexpected ${e instanceof Error ? e.name : 'error'}`;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { options, force, json, config: configFlag } = parseOptions(args);
  let config: Config;
  try {
    config = loadConfig(configFlag, io);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    io.stderr.write(`${e.message}\n`);
    return 1;
  }
  await prepareDir(options.out, force, io);
  const progress = startProgress('export', { stream: io.stderr });
  let summary: ExportSummary;
  try {
    summary = await withStore(config, (store) => exportAuth0(store, config, options, progress));
  } catch (e) {
    io.stderr.write(`export: failed: ${describeError(e)}\n`); // the store could not be opened
    return 1;
  } finally {
    progress.stop();
  }
  await writeFile(path.join(options.out, MANIFEST), `${JSON.stringify(summary, null, 2)}\n`);
  io.stdout.write(json ? `${JSON.stringify(summary)}\n` : humanSummary(summary));
  if (!summary.complete) io.stderr.write(`export: failed: ${summary.error}; ${MANIFEST} (complete: false) lists the files written before it\n`);
  return summary.complete ? 0 : 1;
}

/** `legacy-gateway export --help`. */
export const help = `legacy-gateway export — bulk-import files for the users not migrated yet

Usage:
  legacy-gateway export --target auth0 --out DIR [--config FILE] [--max-bytes 500000] [--only-importable-hashes]
                        [--force] [--json]

Writes DIR/users-0001.json, ... (Auth0 bulk-import files), needs-password-reset.csv, held-back.csv, problems.csv
and manifest.json; records the exported users so that status counts them.

Options:
  -c, --config FILE          the gateway's configuration (default: $LEGACY_GATEWAY_CONFIG)
  --target auth0             the IdP the files are for (only auth0)
  --out DIR                  where to write the files
  --max-bytes N              the largest file, in bytes (default 500000, Auth0's limit)
  --only-importable-hashes   leave out users whose hash the IdP can't import (they keep migrating at login)
  --force                    remove a previous export's files from DIR first (DIR must otherwise be empty)
  --json                     print the manifest as JSON

Example:
  legacy-gateway export --config gateway.yaml --target auth0 --out ./export
`;
