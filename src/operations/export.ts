/**
 * `legacy-gateway export --target auth0|kratos|okta|keycloak --out DIR [--max-bytes 500000] [--only-importable-hashes]
 *  [--force] [--json]`
 *
 * Streams every user of the store (never all of them in memory), skips the migrated ones, and writes the target IdP's
 * bulk-import files, each of at most --max-bytes bytes with no email, username or user id twice in one file:
 *   auth0     users-0001.json       a JSON array of Auth0 user-import records
 *   kratos    identities-0001.json  a JSON array of Admin API create-identity bodies (`kratos import identities`)
 *   okta      users-0001.ndjson     one Users API create-user body per line (POST /api/v1/users?activate=false)
 *   keycloak  users-0001.json       a realm partial-import document {"ifResourceExists":"SKIP","users":[...]}
 * What is particular to a target (record, hash mapping, file framing) lives in its own module (auth0/, kratos/, okta/,
 * keycloak/); the streaming, splitting, CSV reports and ledger here are shared. Beside the files:
 *   needs-password-reset.csv  user_id,email,reason   exported without a password (a hash the target can't take, and
 *                                                    no way to verify it through the gateway either)
 *   migration-hook.csv        user_id,email,reason   kratos and okta only: exported with the IdP's password migration
 *                                                    hook flag; they verify through the gateway's door at first login
 *   held-back.csv             user_id,email,reason   with --only-importable-hashes: not exported, they keep migrating at login
 *   problems.csv              user_id,email,code,field,blocking,message   what the IdP would refuse (blocking: not exported)
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
import type { LegacyUser, UserStore } from '../../adapters/types.js';
import { ConfigError, type Config } from '../config.js';
import { serialiseRecord, toAuth0User, type RecordProblem } from './auth0/record.js';
import { loadConfig, parseFlags, UsageError, withStore, type CliIO } from './cli.js';
import { keycloakTarget } from './keycloak/target.js';
import { kratosTarget } from './kratos/target.js';
import { oktaTarget } from './okta/target.js';
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
const HOOK_CSV = 'migration-hook.csv';
const PROBLEMS_CSV = 'problems.csv';
/** What a previous export left in DIR (--force removes these, and only these). */
const OWN_FILE =
  /^((users|identities)-\d{4,}\.(json|ndjson)(\.tmp)?|needs-password-reset\.csv|migration-hook\.csv|held-back\.csv|problems\.csv|manifest\.json)$/;
/** An import was run from this directory: its state refers to the files there. */
const IMPORT_FILES = ['import-state.json', 'import-report.json'];

export type TargetName = 'auth0' | 'kratos' | 'okta' | 'keycloak';
export const TARGET_NAMES: readonly TargetName[] = ['auth0', 'kratos', 'okta', 'keycloak'];

/** How one file holds its records: open + records joined by sep + close. */
export interface FileLayout {
  /** users-0001.json: `${prefix}-0001.${ext}` */
  prefix: string;
  ext: 'json' | 'ndjson';
  open: string;
  sep: string;
  close: string;
}

/** A JSON array: "[\n" + records joined by ",\n" + "\n]\n" (Auth0's and Kratos's files). */
export const JSON_ARRAY: Pick<FileLayout, 'open' | 'sep' | 'close'> = { open: '[\n', sep: ',\n', close: '\n]\n' };

/** The password part of a mapping: importable as a hash, or why not (a stable reason code, see auth0/hash.ts). */
export type PasswordMapping = { ok: true; scheme: string } | { ok: false; scheme?: string; reason: string };

/** One user mapped for a target. */
export interface TargetMapping {
  /** The import record, or null when a blocking problem keeps the user out. */
  record: object | null;
  /** The id the IdP (and the CSVs) know the user by: the profile's user_id. */
  userId: string;
  email: string | undefined;
  /** Values that must not repeat within one file (e.g. `email:x`, `username:y`). */
  keys: string[];
  problems: RecordProblem[];
  password: PasswordMapping;
}

/** What is particular to one IdP: its record and hash mapping, its file layout, its limits. */
export interface ExportTarget {
  name: TargetName;
  /** For messages: "Auth0". */
  label: string;
  layout: FileLayout;
  /** The largest --max-bytes the IdP's import takes (100,000,000 where the IdP documents no file limit). */
  maxFileBytes: number;
  map(user: LegacyUser, config: Pick<Config, 'profile' | 'passwords'>): TargetMapping;
  /**
   * Targets whose import can flag a user for the IdP's password migration hook (Kratos, Okta): a user whose hash the
   * IdP can't take but the gateway can verify is exported with the flag (the record this returns) and listed in
   * migration-hook.csv instead of needs-password-reset.csv.
   */
  withMigrationHook?(record: object): object;
  /** How to serialise a record (default: JSON.stringify with bigints as numbers or strings). */
  serialise?(record: object): string;
}

/** The Auth0 target: its record, hash mapping and files are the ones auth0/ has always written. */
const auth0Target: ExportTarget = {
  name: 'auth0',
  label: 'Auth0',
  layout: { prefix: 'users', ext: 'json', ...JSON_ARRAY },
  maxFileBytes: DEFAULT_MAX_BYTES,
  map(user, config) {
    const { record, problems, password } = toAuth0User(user, config);
    const userId = record?.user_id ?? `${config.profile.user_id_prefix}${user.id}`;
    const email = record?.email ?? user.email?.trim().toLowerCase();
    const keys = record ? [`id:${record.user_id}`, `email:${record.email}`, ...(record.username ? [`username:${record.username}`] : [])] : [];
    return { record, userId, email, keys, problems, password: password.ok ? { ok: true, scheme: password.scheme } : password };
  },
  serialise: (record) => serialiseRecord(record as Parameters<typeof serialiseRecord>[0]),
};

export const TARGETS: Readonly<Record<TargetName, ExportTarget>> = {
  auth0: auth0Target,
  kratos: kratosTarget,
  okta: oktaTarget,
  keycloak: keycloakTarget,
};

/**
 * Reasons after which the gateway itself can still verify the password (the IdP merely can't take the hash): such a
 * user can log in through the IdP's password migration hook. The others (no password, unknown scheme, unusable,
 * missing salt or key, malformed) fail at the gateway too: only a reset helps.
 */
export function verifiableByGateway(reason: string): boolean {
  return reason === 'cleartext' || /^unsupported_(scheme|variant|params):/.test(reason);
}

/** JSON text of a record; bigints (metadata from a driver) as numbers when safe, else strings. */
export function serialiseJson(record: object): string {
  return JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v));
}

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
  target: TargetName;
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
    /** kratos and okta only: exported flagged for the IdP's password migration hook (migration-hook.csv). */
    with_migration_hook?: number;
    /** --only-importable-hashes: not exported, listed in held-back.csv. */
    held_back: number;
    /** Not exported: the IdP would refuse the record (problems.csv, blocking = yes). */
    refused: number;
  };
  /** Exported users by the legacy scheme of their hash. */
  schemes: Record<string, number>;
  /** Why passwords could not be imported as hashes (needs-password-reset.csv, migration-hook.csv, held-back.csv), by reason. */
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
  if (flags.target === undefined) throw new UsageError(`--target is required (${TARGET_NAMES.join(', ')})`);
  if (!(TARGET_NAMES as readonly string[]).includes(flags.target)) {
    throw new UsageError(`--target ${flags.target}: not a target (${TARGET_NAMES.join(', ')})`);
  }
  const target = TARGETS[flags.target as TargetName];
  if (!flags.out) throw new UsageError('--out DIR is required');
  let maxBytes = DEFAULT_MAX_BYTES;
  if (flags['max-bytes'] !== undefined) {
    const raw = flags['max-bytes'];
    maxBytes = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
    if (!(maxBytes >= MIN_MAX_BYTES && maxBytes <= target.maxFileBytes)) {
      const why = target.maxFileBytes === DEFAULT_MAX_BYTES ? ` (${target.label}'s file limit)` : '';
      throw new UsageError(`--max-bytes must be a whole number from ${MIN_MAX_BYTES} to ${target.maxFileBytes}${why}`);
    }
  }
  return {
    target,
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
  private rows: { csv: CsvFile; fields: string[] }[] = [];
  readonly files: ExportedFile[] = [];

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly layout: FileLayout,
    private readonly onFile: (ids: string[]) => Promise<void>,
  ) {}

  /** Largest record that fits a file on its own. */
  get maxRecordBytes(): number {
    return this.maxBytes - Buffer.byteLength(this.layout.open) - Buffer.byteLength(this.layout.close);
  }

  /** `row` goes to `csv` once the record's file is written (a user is listed only when its file exists). */
  async add(id: string, keys: string[], json: string, row?: { csv: CsvFile; fields: string[] }): Promise<void> {
    const { open, sep, close } = this.layout;
    const size = Buffer.byteLength(json);
    if (this.records.length > 0 && (this.bytes + sep.length + size > this.maxBytes || keys.some((k) => this.keys.has(k)))) await this.flush();
    this.bytes += this.records.length === 0 ? Buffer.byteLength(open) + size + Buffer.byteLength(close) : sep.length + size;
    this.records.push({ id, json });
    for (const k of keys) this.keys.add(k);
    if (row) this.rows.push(row);
  }

  async flush(): Promise<void> {
    if (this.records.length === 0) return;
    const { prefix, ext, open, sep, close } = this.layout;
    const name = `${prefix}-${String(this.files.length + 1).padStart(4, '0')}.${ext}`;
    const text = open + this.records.map((r) => r.json).join(sep) + close;
    const file = path.join(this.dir, name);
    await writeFile(`${file}.tmp`, text, { flag: 'wx' });
    await rename(`${file}.tmp`, file);
    this.files.push({ name, users: this.records.length, bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') });
    for (const row of this.rows) await row.csv.write(row.fields);
    const ids = this.records.map((r) => r.id);
    this.records = [];
    this.keys.clear();
    this.rows = [];
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
  return exportUsers(auth0Target, store, config, options, progress);
}

/** exportAuth0 for any target. */
export async function exportUsers(
  target: ExportTarget,
  store: UserStore,
  config: Pick<Config, 'profile' | 'passwords'>,
  options: ExportOptions,
  progress: Progress,
): Promise<ExportSummary> {
  const started = new Date();
  const summary: ExportSummary = {
    target: target.name,
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
  if (target.withMigrationHook) c.with_migration_hook = 0;
  const ledger = new Ledger(store);
  summary.ledger = ledger.state;
  const at = (f: string) => path.join(options.out, f);
  const reset = new CsvFile(at(RESET_CSV), ['user_id', 'email', 'reason']);
  const hook = new CsvFile(at(HOOK_CSV), ['user_id', 'email', 'reason']);
  const held = new CsvFile(at(HELD_CSV), ['user_id', 'email', 'reason']);
  const problems = new CsvFile(at(PROBLEMS_CSV), ['user_id', 'email', 'code', 'field', 'blocking', 'message']);
  const writer = new FileWriter(options.out, options.maxBytes, target.layout, (ids) => ledger.record(ids));
  const serialise = target.serialise ?? serialiseJson;
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
      const { record: mapped, userId, email, keys, problems: found, password } = target.map(user, config);
      // A hash the IdP can't take, that the gateway can verify: the IdP's migration hook (where it has one) asks the gateway.
      const viaHook = !password.ok && target.withMigrationHook !== undefined && verifiableByGateway(password.reason);
      const record = mapped && viaHook ? target.withMigrationHook!(mapped) : mapped;
      const json = record ? serialise(record) : '';
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
      const row = password.ok ? undefined : { csv: viaHook ? hook : reset, fields: [userId, email ?? '', password.reason] };
      await writer.add(user.id, keys, json, row);
      c.exported++;
      if (password.ok) {
        c.with_password_hash++;
        bump(summary.schemes, password.scheme);
      } else if (viaHook) {
        c.with_migration_hook!++;
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
    await Promise.all([reset.close(), hook.close(), held.close(), problems.close()]);
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
  const idp = TARGETS[s.target].label;
  const hooked = c.with_migration_hook === undefined ? '' : `, ${n(c.with_migration_hook)} through the migration hook${c.with_migration_hook ? ` (${HOOK_CSV})` : ''}`;
  const out = [
    `export (${s.target}): ${s.files.length} file(s) in ${s.out}${s.complete ? '' : ' — INCOMPLETE'}`,
    `  exported          ${n(c.exported)} user(s): ${n(c.with_password_hash)} with their password hash${hooked}, ${n(c.without_password)} without${c.without_password ? ` (${RESET_CSV}: they must reset their password)` : ''}`,
  ];
  if (s.options.only_importable_hashes) out.push(`  held back         ${n(c.held_back)} user(s) whose hash ${idp} can't take (${HELD_CSV}): they keep migrating at login`);
  if (c.refused) out.push(`  not exported      ${n(c.refused)} user(s) ${idp} would refuse (${PROBLEMS_CSV}, blocking = yes)`);
  out.push(`  already migrated  ${n(c.migrated)} user(s), skipped`);
  if (Object.keys(s.schemes).length) out.push(`  hashes by scheme: ${list(s.schemes)}`);
  if (Object.keys(s.passwords_not_importable).length) out.push(`  passwords ${idp} can't import: ${list(s.passwords_not_importable)}`);
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
  const { target, options, force, json, config: configFlag } = parseOptions(args);
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
    summary = await withStore(config, (store) => exportUsers(target, store, config, options, progress));
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
  legacy-gateway export --target auth0|kratos|okta|keycloak --out DIR [--config FILE] [--max-bytes 500000]
                        [--only-importable-hashes] [--force] [--json]

Writes the IdP's import files into DIR, with needs-password-reset.csv, migration-hook.csv (kratos, okta),
held-back.csv, problems.csv and manifest.json; records the exported users so that status counts them.
  auth0     users-0001.json, ...       Auth0 bulk user-import files (JSON arrays)
  kratos    identities-0001.json, ...  JSON arrays of identities for \`kratos import identities\` / POST /admin/identities
  okta      users-0001.ndjson, ...     one body per line for POST /api/v1/users?activate=false
  keycloak  users-0001.json, ...       realm partial-import documents ({"users": [...]})

Options:
  -c, --config FILE          the gateway's configuration (default: $LEGACY_GATEWAY_CONFIG)
  --target NAME              the IdP the files are for: auth0, kratos, okta or keycloak
  --out DIR                  where to write the files
  --max-bytes N              the largest file, in bytes (default 500000, Auth0's limit; up to 100000000 for the others)
  --only-importable-hashes   leave out users whose hash the IdP can't import (they keep migrating at login)
  --force                    remove a previous export's files from DIR first (DIR must otherwise be empty)
  --json                     print the manifest as JSON

Example:
  legacy-gateway export --config gateway.yaml --target auth0 --out ./export
  legacy-gateway export --config gateway.yaml --target kratos --out ./export-kratos
`;

