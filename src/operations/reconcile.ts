/**
 * `legacy-gateway reconcile --from FILE`: reads an Auth0 user export (the NDJSON or CSV file a users-exports job
 * produces, gzipped or not), and marks migrated in the legacy store every user Auth0 already has. A user migrated
 * through a password reset never runs the login script, and an interrupted post-login Action leaves a user migrated
 * in Auth0 but unmarked here: this closes those gaps. Idempotent (a second run marks nothing and says so), streaming
 * (one record at a time, whatever the file's size), and a malformed line is reported with its line number, never fatal.
 *
 * A user the custom database connection created has the user_id `auth0|<the id the login script returned>`, which is
 * the legacy primary key behind the configured profile.user_id_prefix; any other user_id (another connection's
 * provider, or no such prefix) is skipped. Users Auth0 has but the legacy store doesn't are reported.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { UserStore } from '../../adapters/types.js';
import { legacyIdFrom } from '../profile.js';
import { loadConfig, parseFlags, UsageError, withStore, type CliIO } from './cli.js';
import { startProgress } from './progress.js';

export type Format = 'ndjson' | 'csv';

/** One record of the export: the user's Auth0 id and email, or why the line could not be read. */
export interface ExportRecord {
  line: number;
  userId?: string;
  email?: string;
  error?: string;
}

/** A line or field longer than this is malformed (an unterminated quote, a binary file): memory stays bounded. */
const MAX_LINE = 1 << 20;
const BATCH = 16;
const SAMPLE = 20;

/** Lines of a text stream, numbered from 1, each at most MAX_LINE characters (longer ones come back as `tooLong`). */
async function* numberedLines(chunks: AsyncIterable<string>): AsyncGenerator<{ line: number; text: string; tooLong?: boolean }> {
  let buf = '';
  let line = 0;
  let skipping = false;
  for await (const chunk of chunks) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      line++;
      if (skipping) skipping = false;
      else yield { line, text };
    }
    if (buf.length > MAX_LINE && !skipping) {
      yield { line: line + 1, text: '', tooLong: true };
      skipping = true;
    }
    if (skipping) buf = '';
  }
  if (buf.length > 0 && !skipping) yield { line: line + 1, text: buf.replace(/\r$/, '') };
}

function short(e: unknown): string {
  return String((e as Error).message ?? e).split('\n')[0]!.slice(0, 120);
}

/** Auth0's JSON export: one user object per line. */
export async function* ndjsonRecords(chunks: AsyncIterable<string>): AsyncGenerator<ExportRecord> {
  for await (const { line, text, tooLong } of numberedLines(chunks)) {
    if (tooLong) {
      yield { line, error: `longer than ${MAX_LINE} characters` };
      continue;
    }
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      yield { line, error: `not valid JSON (${short(e)})` };
      continue;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      yield { line, error: 'not a JSON object' };
      continue;
    }
    const v = value as { user_id?: unknown; email?: unknown };
    if (typeof v.user_id !== 'string' || v.user_id === '') {
      yield { line, error: 'no user_id' };
      continue;
    }
    yield { line, userId: v.user_id, ...(typeof v.email === 'string' ? { email: v.email } : {}) };
  }
}

/**
 * RFC 4180 rows (quoted fields may hold commas, quotes and newlines), with the line each row starts on. Auth0 escapes
 * CSV exports against formula injection by putting a `'` before every string; it is removed here.
 */
async function* csvRows(chunks: AsyncIterable<string>): AsyncGenerator<{ line: number; fields: string[]; error?: string }> {
  let field = '';
  let fields: string[] = [];
  let state: 'start' | 'plain' | 'quoted' | 'quote' | 'skip' = 'start';
  let line = 1;
  let rowLine = 1;
  let error: string | undefined;
  const unescape = (f: string) => (f.startsWith("'") ? f.slice(1) : f);
  const endField = () => {
    fields.push(unescape(field));
    field = '';
    state = 'start';
  };
  function* endRow(): Generator<{ line: number; fields: string[]; error?: string }> {
    endField();
    const blank = fields.length === 1 && fields[0] === '' && !error;
    if (!blank) yield { line: rowLine, fields, ...(error ? { error } : {}) };
    fields = [];
    error = undefined;
    rowLine = line;
  }
  for await (const chunk of chunks) {
    for (const c of chunk) {
      if (c === '\n') line++;
      switch (state) {
        case 'skip':
          if (c === '\n') {
            state = 'start';
            fields = [];
            field = '';
            error = undefined;
            rowLine = line;
          }
          continue;
        case 'quoted':
          if (c === '"') state = 'quote';
          else field += c;
          break;
        case 'quote':
          if (c === '"') {
            field += '"';
            state = 'quoted';
          } else if (c === ',') endField();
          else if (c === '\n') yield* endRow();
          else if (c !== '\r') {
            error ??= 'text after a closing quote';
            field += c;
            state = 'plain';
          }
          break;
        default:
          // start or plain
          if (c === ',') endField();
          else if (c === '\n') yield* endRow();
          else if (c === '"' && state === 'start') state = 'quoted';
          else if (c !== '\r') {
            if (c === '"') error ??= 'a quote inside an unquoted field';
            field += c;
            state = 'plain';
          }
      }
      if (field.length > MAX_LINE) {
        yield { line: rowLine, fields: [], error: `a field longer than ${MAX_LINE} characters (an unterminated quote?)` };
        state = 'skip';
        field = '';
      }
    }
  }
  if (state === 'quoted') yield { line: rowLine, fields: [], error: 'unterminated quoted field' };
  else if (state !== 'skip' && (field !== '' || fields.length > 0)) yield* endRow();
}

/** Auth0's CSV export: a header row naming the exported fields (user_id required), then one user per row. */
export async function* csvRecords(chunks: AsyncIterable<string>): AsyncGenerator<ExportRecord> {
  let header: string[] | undefined;
  let idCol = -1;
  let emailCol = -1;
  for await (const row of csvRows(chunks)) {
    if (!header) {
      header = row.fields.map((h) => h.trim().toLowerCase());
      idCol = header.indexOf('user_id');
      emailCol = header.indexOf('email');
      if (row.error || idCol < 0) throw new UsageError(`the CSV header (line ${row.line}) has no user_id column: export the user_id field`);
      continue;
    }
    if (row.error) yield { line: row.line, error: row.error };
    else if (row.fields.length !== header.length) yield { line: row.line, error: `${row.fields.length} fields where the header has ${header.length}` };
    else if (!row.fields[idCol]) yield { line: row.line, error: 'empty user_id' };
    else yield { line: row.line, userId: row.fields[idCol]!, ...(emailCol >= 0 && row.fields[emailCol] ? { email: row.fields[emailCol]! } : {}) };
  }
}

/** The legacy id behind an Auth0 user_id, or why it isn't one of the legacy connection's users. */
export function legacyIdOf(auth0UserId: string, userIdPrefix: string): { id: string } | { skip: string } {
  const bar = auth0UserId.indexOf('|');
  const provider = bar < 0 ? '' : auth0UserId.slice(0, bar);
  if (provider !== 'auth0') return { skip: `provider ${provider || '(none)'}: not a database connection user` };
  const id = legacyIdFrom(auth0UserId.slice(bar + 1), userIdPrefix);
  if (id === null) return { skip: `no user_id prefix "${userIdPrefix}": created by another database connection or in Auth0` };
  if (id === '') return { skip: 'empty legacy id' };
  return { id };
}

/** The file as decoded text chunks (gunzipped when it is gzip), and its format. */
async function openExport(file: string, forced: Format | undefined): Promise<{ format: Format; chunks: AsyncIterable<string> }> {
  const magic = Buffer.alloc(2);
  let bytesRead = 0;
  try {
    const fh = await open(file, 'r');
    try {
      ({ bytesRead } = await fh.read(magic, 0, 2, 0));
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new UsageError(`--from ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const gz = bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  const raw = createReadStream(file);
  const stream = gz ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (e) => stream.destroy(e));
  stream.setEncoding('utf8');
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<string>;
  let first = await iterator.next().catch((e: Error) => {
    throw new UsageError(`--from ${file}: cannot read (${gz ? 'not a valid gzip file: ' : ''}${short(e)})`);
  });
  if (!first.done) first = { done: false, value: first.value.replace(/^\uFEFF/, '') };
  const ext = path.extname(file.replace(/\.gz$/i, '')).toLowerCase();
  let format = forced;
  if (!format && ext === '.csv') format = 'csv';
  if (!format && ['.json', '.ndjson', '.jsonl'].includes(ext)) format = 'ndjson';
  format ??= !first.done && first.value.trimStart().startsWith('{') ? 'ndjson' : 'csv';
  async function* chunks(): AsyncGenerator<string> {
    if (first.done) return;
    yield first.value;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) yield r.value;
  }
  return { format, chunks: chunks() };
}

export type Outcome = 'marked' | 'would_mark' | 'already_marked' | 'absent' | 'skipped' | 'malformed';

export interface ReportRow {
  line: number;
  status: Outcome;
  auth0_user_id: string;
  legacy_id: string;
  email: string;
  detail: string;
}

const REPORT_COLUMNS = ['line', 'status', 'auth0_user_id', 'legacy_id', 'email', 'detail'] as const;

/** A CSV cell: always quoted, and a leading = + - @ neutralised so a spreadsheet never runs it as a formula. */
function csvCell(v: string | number): string {
  const s = String(v);
  return `"${(/^[=+\-@\t\r]/.test(s) ? `'${s}` : s).replaceAll('"', '""')}"`;
}

/** The --report file: CSV, a JSON array or NDJSON by extension, written as rows come (never held in memory). */
class ReportWriter {
  private out: WriteStream;
  private rows = 0;
  constructor(
    readonly file: string,
    private readonly kind: 'csv' | 'json' | 'ndjson',
  ) {
    this.out = createWriteStream(file, { mode: 0o600 });
    if (kind === 'csv') this.out.write(`${REPORT_COLUMNS.join(',')}\n`);
    if (kind === 'json') this.out.write('[');
  }

  static kindOf(file: string): 'csv' | 'json' | 'ndjson' {
    const ext = path.extname(file).toLowerCase();
    if (ext === '.csv') return 'csv';
    if (ext === '.json') return 'json';
    if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
    throw new UsageError('--report FILE must end in .csv, .json or .ndjson');
  }

  async write(row: ReportRow): Promise<void> {
    let text: string;
    if (this.kind === 'csv') text = `${REPORT_COLUMNS.map((k) => csvCell(row[k])).join(',')}\n`;
    else if (this.kind === 'json') text = `${this.rows ? ',' : ''}\n${JSON.stringify(row)}`;
    else text = `${JSON.stringify(row)}\n`;
    this.rows++;
    if (!this.out.write(text)) await new Promise<void>((r) => this.out.once('drain', () => r()));
  }

  async close(): Promise<void> {
    if (this.kind === 'json') this.out.write(`${this.rows ? '\n' : ''}]\n`);
    await new Promise<void>((resolve, reject) => this.out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
}

export interface ReconcileCounts {
  records: number;
  marked: number;
  would_mark: number;
  already_marked: number;
  absent: number;
  skipped: number;
  malformed: number;
}

export interface ReconcileResult {
  counts: ReconcileCounts;
  /** The first few of each kind, for the summary (the report file has them all). */
  samples: { absent: ReportRow[]; skipped: ReportRow[]; malformed: ReportRow[]; would_mark: ReportRow[] };
}

async function outcomeOf(store: UserStore, rec: ExportRecord, prefix: string, dryRun: boolean): Promise<ReportRow> {
  const row: ReportRow = { line: rec.line, status: 'malformed', auth0_user_id: rec.userId ?? '', legacy_id: '', email: rec.email ?? '', detail: rec.error ?? '' };
  if (rec.error || !rec.userId) return row;
  const legacy = legacyIdOf(rec.userId, prefix);
  if ('skip' in legacy) return { ...row, status: 'skipped', detail: legacy.skip };
  row.legacy_id = legacy.id;
  const user = await store.findById(legacy.id);
  if (!user) return { ...row, status: 'absent', detail: 'not in the legacy store' };
  if (user.migratedAt) return { ...row, status: 'already_marked', detail: user.migratedAt };
  if (dryRun) return { ...row, status: 'would_mark', detail: '' };
  const at = await store.markMigrated(legacy.id);
  if (!at) return { ...row, status: 'absent', detail: 'not in the legacy store' };
  return { ...row, status: 'marked', detail: at };
}

/** Read the export, mark (or, dry run, count) its legacy users, stream the notable rows to `report`. */
export async function reconcile(
  store: UserStore,
  records: AsyncIterable<ExportRecord>,
  options: { prefix: string; dryRun: boolean; report?: ReportWriter | undefined; tick?: (n: number) => void },
): Promise<ReconcileResult> {
  const counts: ReconcileCounts = { records: 0, marked: 0, would_mark: 0, already_marked: 0, absent: 0, skipped: 0, malformed: 0 };
  const samples: ReconcileResult['samples'] = { absent: [], skipped: [], malformed: [], would_mark: [] };
  let batch: ExportRecord[] = [];
  const flush = async () => {
    // A few lookups at a time (bounded by the store's pool), results kept in file order.
    const rows = await Promise.all(batch.map((r) => outcomeOf(store, r, options.prefix, options.dryRun)));
    for (const row of rows) {
      counts.records++;
      counts[row.status]++;
      if (row.status !== 'marked' && row.status !== 'already_marked' && samples[row.status].length < SAMPLE) samples[row.status].push(row);
      if (row.status !== 'already_marked') await options.report?.write(row);
    }
    options.tick?.(rows.length);
    batch = [];
  };
  for await (const rec of records) {
    batch.push(rec);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return { counts, samples };
}

function describeRow(r: ReportRow): string {
  if (r.status === 'malformed') return `line ${r.line}: ${r.detail}`;
  const who = `${r.auth0_user_id}${r.email ? ` <${r.email}>` : ''}`;
  return r.status === 'skipped' ? `line ${r.line}: ${who}: ${r.detail}` : `line ${r.line}: ${who}`;
}

function humanSummary(file: string, format: Format, dryRun: boolean, result: ReconcileResult, report: string | undefined): string {
  const c = result.counts;
  const out = [`reconcile ${file} (${format})${dryRun ? ' — dry run, nothing written' : ''}: ${c.records} record(s)`];
  const rows: [string, number][] = [
    dryRun ? ['would mark migrated', c.would_mark] : ['newly marked migrated', c.marked],
    ['already marked', c.already_marked],
    ['absent from the legacy store', c.absent],
    ['skipped (not legacy users)', c.skipped],
    ['malformed lines', c.malformed],
  ];
  for (const [label, count] of rows) out.push(`  ${`${label}:`.padEnd(30)} ${count}`);
  const list = (title: string, rows: ReportRow[], total: number) => {
    if (!rows.length) return;
    out.push(`${title}${total > rows.length ? ` (first ${rows.length} of ${total})` : ''}:`);
    for (const r of rows) out.push(`  ${describeRow(r)}`);
  };
  list('malformed', result.samples.malformed, c.malformed);
  list('absent from the legacy store', result.samples.absent, c.absent);
  list('skipped', result.samples.skipped, c.skipped);
  if (dryRun) list('would mark', result.samples.would_mark, c.would_mark);
  if (c.marked + c.would_mark === 0) out.push('nothing to change: every legacy user read from the file is already marked migrated (or absent)');
  const legacy = c.records - c.skipped - c.malformed;
  if (c.records > 0 && c.absent === legacy && legacy > 0) out.push('none of these users is in the legacy store: check profile.user_id_prefix and that the export is of the right connection');
  if (c.records > 0 && c.skipped === c.records) out.push('every user was skipped: check profile.user_id_prefix and that the export is of the legacy connection');
  if (report) out.push(`report: ${report}`);
  else if (c.absent + c.skipped + c.malformed > SAMPLE) out.push('use --report FILE (.csv, .json or .ndjson) for the full list');
  return `${out.join('\n')}\n`;
}

const FLAGS = {
  from: { type: 'string' },
  format: { type: 'string' },
  'dry-run': { type: 'boolean' },
  report: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function run(args: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, FLAGS);
  if (!flags.from) throw new UsageError('needs --from FILE (an Auth0 user export: NDJSON or CSV, optionally .gz)');
  if (flags.format !== undefined && flags.format !== 'ndjson' && flags.format !== 'csv') throw new UsageError('--format must be ndjson or csv');
  const reportKind = flags.report ? ReportWriter.kindOf(flags.report) : undefined;
  const config = loadConfig(flags.config, io);
  const dryRun = flags['dry-run'] === true;
  const { format, chunks } = await openExport(flags.from, flags.format as Format | undefined);
  const records = format === 'csv' ? csvRecords(chunks) : ndjsonRecords(chunks);
  const report = flags.report && reportKind ? new ReportWriter(path.resolve(flags.report), reportKind) : undefined;
  const progress = startProgress('reconcile: users', { stream: io.stderr });
  let result: ReconcileResult | undefined;
  let failure: unknown;
  try {
    result = await withStore(config, (store) => reconcile(store, records, { prefix: config.profile.user_id_prefix, dryRun, report, tick: (n) => progress.tick(n) }));
  } catch (e) {
    failure = e;
  } finally {
    progress.stop();
    await report?.close().catch(() => {});
  }
  if (failure instanceof UsageError) throw failure;
  if (!result) {
    io.stderr.write(`reconcile: stopped: ${short(failure)}\nreconcile: marks already written are kept; running the command again is safe (it is idempotent)\n`);
    return 1;
  }
  if (flags.json) {
    const { counts, samples } = result;
    const changed = counts.marked > 0;
    io.stdout.write(`${JSON.stringify({ from: path.resolve(flags.from), format, dry_run: dryRun, changed, counts, samples, report: report?.file ?? null }, null, 2)}\n`);
  } else {
    io.stdout.write(humanSummary(flags.from, format, dryRun, result, report?.file));
  }
  return result.counts.malformed > 0 ? 1 : 0;
}

/** `legacy-gateway reconcile --help`. */
export const help = `legacy-gateway reconcile — mark migrated the users the IdP already has

Usage:
  legacy-gateway reconcile --from FILE [--config FILE] [--format ndjson|csv] [--dry-run] [--report FILE] [--json]

Reads an Auth0 user export (NDJSON or CSV, gzipped or not) and marks migrated every legacy user it contains.
Idempotent; a malformed line is reported with its number, never fatal.

Options:
  -c, --config FILE        the gateway's configuration (default: $LEGACY_GATEWAY_CONFIG)
  --from FILE              the Auth0 export
  --format ndjson|csv      the export's format (default: from the file name)
  --dry-run                report what would be marked, mark nothing
  --report FILE            write each record's outcome (.csv, .json or .ndjson)
  --json                   print the summary as JSON

Example:
  legacy-gateway reconcile --config gateway.yaml --from auth0-users.json.gz --dry-run
`;
