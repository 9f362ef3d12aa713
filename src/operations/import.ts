/**
 * `legacy-gateway import --target auth0 --files DIR`: submits the files `legacy-gateway export` wrote (users-NNNN.json,
 * each a JSON array of Auth0 user records) as Auth0 bulk-import jobs (POST /api/v2/jobs/users-imports), at most two
 * at a time (Auth0's limit), polls each job, downloads its per-user errors at once (Auth0 deletes job data after 24 h)
 * and writes DIR/import-report.json. Resumable: DIR/import-state.json remembers every job, so a re-run after an
 * interruption continues the jobs already submitted and never submits a file twice.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, parseFlags, UsageError, type CliIO } from './cli.js';
import { startProgress, type Progress } from './progress.js';
import { describeBody, MgmtClient, MgmtError, type MgmtTarget } from './auth0/mgmt-client.js';
import {
  acquireLock,
  loadState,
  saveState,
  StateConflict,
  writeFileAtomic,
  type FileState,
  type ImportState,
  type JobSummary,
} from './auth0/import-state.js';

/** Auth0's documented file limit ("500KB", unit unstated): the strict reading. */
export const MAX_FILE_BYTES = 500_000;
/** Auth0 runs at most two import jobs per tenant at once. */
export const MAX_JOBS = 2;
const FILE_NAME = /^users-\d+\.json$/;
const IMPORTS_PATH = '/api/v2/jobs/users-imports';
/** Statuses after which nothing more happens to a file. */
const FINISHED = new Set(['completed', 'failed', 'expired']);

export interface UserError {
  user: unknown;
  errors: { code?: string; message?: string; path?: string }[];
}

/** What an error entry echoes of a user, minus anything secret: password hashes and MFA enrolment secrets. */
export function withoutSecrets(user: unknown): unknown {
  if (!user || typeof user !== 'object' || Array.isArray(user)) return user;
  const { custom_password_hash: _c, password_hash: _p, mfa_factors: _m, ...rest } = user as Record<string, unknown>;
  return rest;
}

function cleanErrors(body: unknown): UserError[] {
  if (!Array.isArray(body)) return [];
  return body.map((entry) => {
    const e = (entry ?? {}) as { user?: unknown; errors?: unknown };
    const errors = Array.isArray(e.errors) ? e.errors : [];
    return {
      user: withoutSecrets(e.user),
      errors: errors.map((x) => {
        const o = (x ?? {}) as Record<string, unknown>;
        const out: UserError['errors'][number] = {};
        for (const k of ['code', 'message', 'path'] as const) if (typeof o[k] === 'string') out[k] = o[k] as string;
        return out;
      }),
    };
  });
}

function summaryFrom(body: unknown): JobSummary | undefined {
  const s = (body as { summary?: Record<string, unknown> } | undefined)?.summary;
  if (!s || typeof s !== 'object') return undefined;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return { inserted: n(s.inserted), updated: n(s.updated), failed: n(s.failed), total: n(s.total) };
}

export interface ImportOptions {
  dir: string;
  target: MgmtTarget;
  upsert: boolean;
  retryUnknown: boolean;
  pollIntervalMs: number;
  progress: Progress;
}

export interface ImportOutcome {
  state: ImportState;
  /** File names in report order. */
  order: string[];
  /** The failure that stopped the run early, if any. */
  fatal?: MgmtError;
  tokensFetched: number;
}

interface Context extends ImportOptions {
  state: ImportState;
  client: MgmtClient;
  fatal?: MgmtError;
  /** Serialises state writes from the two workers. */
  save(): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

/** The job's external_id: the file's name and the start of its content hash, stable for one content. */
const externalId = (name: string, sha: string) => `${name.replace(/\.json$/, '')}-${sha.slice(0, 16)}`;

/** The export files in DIR, in name order, with their content hash. */
function scanFiles(dir: string): { name: string; sha256: string; bytes: number }[] {
  return readdirSync(dir)
    .filter((n) => FILE_NAME.test(n))
    .sort()
    .map((name) => {
      const buf = readFileSync(path.join(dir, name));
      return { name, sha256: sha256(buf), bytes: buf.length };
    });
}

/**
 * What the exporter's manifest.json says against what is on disk: an export that stopped early, a file changed or
 * missing since it was written. Warnings only: the files present are imported as they are.
 */
export function manifestWarnings(dir: string): string[] {
  let m: { complete?: unknown; error?: unknown; files?: unknown };
  try {
    m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as typeof m;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? [] : ['manifest.json is not readable JSON: the users files are imported as found'];
  }
  const warnings: string[] = [];
  if (m.complete === false) warnings.push(`manifest.json says the export did not complete (${typeof m.error === 'string' ? m.error : 'no reason given'}): only the files it finished are imported`);
  const onDisk = new Map(scanFiles(dir).map((f) => [f.name, f.sha256]));
  for (const f of Array.isArray(m.files) ? (m.files as { name?: unknown; sha256?: unknown }[]) : []) {
    if (typeof f.name !== 'string') continue;
    const sha = onDisk.get(f.name);
    if (sha === undefined) warnings.push(`${f.name} is listed in manifest.json but missing`);
    else if (typeof f.sha256 === 'string' && f.sha256 !== sha) warnings.push(`${f.name} changed since the export wrote it`);
  }
  return warnings;
}

/** Bring the state in line with the files on disk; returns the files to work on, those with live jobs first. */
function reconcileFiles(ctx: Context): string[] {
  const onDisk = scanFiles(ctx.dir);
  const names = new Set(onDisk.map((f) => f.name));
  for (const f of onDisk) {
    const st = ctx.state.files[f.name];
    if (!st || st.status === 'new' || st.status === 'rejected') {
      // Never sent (or refused before any job existed): take the file as it is now.
      ctx.state.files[f.name] = { sha256: f.sha256, bytes: f.bytes, external_id: externalId(f.name, f.sha256), status: st?.status ?? 'new', ...(st?.problem ? { problem: st.problem } : {}) };
    } else if (st.sha256 !== f.sha256) {
      st.problem = `${f.name} changed after it was submitted (job ${st.job_id ?? 'unknown'}); the new content was NOT submitted: export into a new directory to import it`;
    }
  }
  for (const [name, st] of Object.entries(ctx.state.files)) {
    // A file that never got a job and is gone from disk is forgotten; one with a job is still followed.
    if (!names.has(name) && (st.status === 'new' || st.status === 'rejected')) delete ctx.state.files[name];
  }
  const all = Object.keys(ctx.state.files).sort();
  return [...all.filter((n) => ctx.state.files[n]!.status === 'submitted'), ...all.filter((n) => ctx.state.files[n]!.status !== 'submitted')];
}

/** A file Auth0 would refuse anyway, checked before spending a job on it. */
function localProblem(buf: Buffer): string | undefined {
  if (buf.length > MAX_FILE_BYTES) return `${buf.length} bytes, over Auth0's ${MAX_FILE_BYTES}-byte file limit: re-export with a smaller --max-bytes`;
  let users: unknown;
  try {
    users = JSON.parse(buf.toString('utf8'));
  } catch {
    return 'not valid JSON';
  }
  if (!Array.isArray(users)) return 'not a JSON array of users';
  if (users.length === 0) return 'an empty array: nothing to import';
  return undefined;
}

async function submit(ctx: Context, name: string, st: FileState): Promise<void> {
  const buf = readFileSync(path.join(ctx.dir, name));
  const sha = sha256(buf);
  // Changed since the scan: the job is named after what is really sent.
  if (sha !== st.sha256) Object.assign(st, { sha256: sha, bytes: buf.length, external_id: externalId(name, sha) });
  const problem = localProblem(buf);
  if (problem) {
    Object.assign(st, { status: 'rejected', problem });
    ctx.save();
    return;
  }
  // Recorded before the request: if the run dies before Auth0's answer is saved, the next run knows it can't tell.
  Object.assign(st, { status: 'submitting', problem: undefined });
  ctx.save();
  const form = new FormData();
  form.append('users', new Blob([buf], { type: 'application/json' }), name);
  form.append('connection_id', ctx.target.connection_id);
  form.append('upsert', String(ctx.upsert));
  form.append('external_id', st.external_id);
  form.append('send_completion_email', 'false');
  let r;
  try {
    r = await ctx.client.request('POST', IMPORTS_PATH, { form, idempotent: false });
  } catch (e) {
    if (e instanceof MgmtError && e.kind === 'ambiguous') {
      Object.assign(st, { status: 'unknown', problem: `${e.message}; check the tenant's jobs before re-running with --retry-unknown` });
      ctx.save();
      return;
    }
    // Refused or never sent: no job exists.
    st.status = 'new';
    ctx.save();
    throw e;
  }
  const job = r.body as { id?: unknown } | undefined;
  if (r.status >= 200 && r.status < 300 && typeof job?.id === 'string' && job.id) {
    Object.assign(st, { status: 'submitted', job_id: job.id, submitted_at: new Date().toISOString() });
  } else if (r.status >= 200 && r.status < 300) {
    Object.assign(st, { status: 'unknown', problem: `Auth0 accepted the file but its answer has no job id (${r.status}); check the tenant's jobs before re-running with --retry-unknown` });
  } else if (r.status === 413) {
    Object.assign(st, { status: 'rejected', problem: `Auth0 refused the file as too large (413 ${describeBody(r.body)}): re-export with a smaller --max-bytes` });
  } else if (r.status === 400) {
    Object.assign(st, { status: 'rejected', problem: `Auth0 refused the request (400 ${describeBody(r.body)})` });
  } else {
    Object.assign(st, { status: 'rejected', problem: `unexpected answer to ${IMPORTS_PATH} (${r.status} ${describeBody(r.body)})` });
  }
  ctx.save();
}

/** Fetch the job's per-user errors and save them (stripped of hashes) before Auth0 deletes them. */
async function downloadErrors(ctx: Context, name: string, st: FileState): Promise<void> {
  const r = await ctx.client.request('GET', `/api/v2/jobs/${encodeURIComponent(st.job_id!)}/errors`, { idempotent: true });
  if (r.status === 404) {
    st.problem = `the per-user errors of job ${st.job_id} are no longer available (Auth0 keeps job data 24 h)`;
    return;
  }
  if (r.status !== 200 && r.status !== 204) {
    throw new MgmtError(`unexpected answer to GET /api/v2/jobs/{id}/errors (${r.status} ${describeBody(r.body)})`, 'protocol', r.status);
  }
  // A documented array of {user, errors}; anything else (no body, the job itself) means no per-user errors.
  const errors = cleanErrors(r.body);
  const rel = path.join('import-errors', name);
  mkdirSync(path.join(ctx.dir, 'import-errors'), { recursive: true });
  writeFileAtomic(path.join(ctx.dir, rel), `${JSON.stringify(errors, null, 1)}\n`);
  Object.assign(st, { errors_file: rel, errors_count: errors.length });
}

/** Poll a submitted job until it finishes, then collect its summary and errors. */
async function follow(ctx: Context, name: string, st: FileState): Promise<void> {
  for (;;) {
    if (ctx.fatal) return;
    const r = await ctx.client.request('GET', `/api/v2/jobs/${encodeURIComponent(st.job_id!)}`, { idempotent: true });
    const status = (r.body as { status?: unknown } | undefined)?.status;
    if (r.status === 404 || (r.status === 200 && status === 'expired')) {
      Object.assign(st, { status: 'expired', finished_at: new Date().toISOString(), problem: `Auth0 no longer has job ${st.job_id} (job data is deleted after 24 h): its result and errors are lost` });
      ctx.save();
      return;
    }
    if (r.status !== 200 || typeof status !== 'string') {
      throw new MgmtError(`unexpected answer to GET /api/v2/jobs/{id} (${r.status} ${describeBody(r.body)})`, 'protocol', r.status);
    }
    if (status === 'completed' || status === 'failed') {
      await downloadErrors(ctx, name, st);
      const summary = summaryFrom(r.body);
      Object.assign(st, { status, finished_at: new Date().toISOString(), ...(summary ? { summary } : {}) });
      if (status === 'failed') st.problem ??= 'the job failed (a file-level error, or it ran over 2 hours)';
      ctx.save();
      return;
    }
    await sleep(ctx.pollIntervalMs);
  }
}

async function processFile(ctx: Context, name: string): Promise<void> {
  const st = ctx.state.files[name]!;
  if (FINISHED.has(st.status)) return;
  if (st.status === 'submitting' || st.status === 'unknown') {
    if (!ctx.retryUnknown) {
      st.status = 'unknown';
      st.problem ??= 'the previous run stopped while submitting this file: Auth0 may or may not have a job for it. Check the tenant (Dashboard > Monitoring > Logs, or the connection\'s users), then re-run with --retry-unknown to submit it again';
      ctx.save();
      return;
    }
    st.status = 'new';
  }
  if (st.status === 'new' || st.status === 'rejected') await submit(ctx, name, st);
  if (st.status === 'submitted') await follow(ctx, name, st);
}

/** The import itself, without the command line around it. */
export async function runImport(options: ImportOptions): Promise<ImportOutcome> {
  const { dir, target, upsert } = options;
  const state = loadState(dir, { target: 'auth0', domain: target.domain, connection_id: target.connection_id, upsert });
  const client = new MgmtClient(target, { backoffBaseMs: Math.min(1000, options.pollIntervalMs) });
  const ctx: Context = { ...options, state, client, save: () => saveState(dir, state) };
  const order = reconcileFiles(ctx);
  ctx.save();
  const progress = options.progress;
  progress.setTotal(order.length);
  progress.tick(order.filter((n) => FINISHED.has(state.files[n]!.status)).length);
  const queue = order.filter((n) => !FINISHED.has(state.files[n]!.status));
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined && !ctx.fatal; name = queue.shift()) {
      try {
        await processFile(ctx, name);
      } catch (e) {
        if (!(e instanceof MgmtError)) throw e;
        ctx.fatal ??= e;
        return;
      }
      progress.tick();
    }
  };
  // One file per worker at a time, so never more than MAX_JOBS jobs of ours are pending or processing.
  await Promise.all(Array.from({ length: MAX_JOBS }, worker));
  progress.stop();
  const outcome: ImportOutcome = { state, order: Object.keys(state.files).sort(), tokensFetched: client.tokensFetched };
  if (ctx.fatal) outcome.fatal = ctx.fatal;
  return outcome;
}

export interface ReportTotals {
  files: number;
  completed: number;
  failed_jobs: number;
  /** Files not finished: not yet submitted, submitted and not done, refused, or in an unknown state. */
  unfinished: number;
  inserted: number;
  updated: number;
  failed: number;
  total: number;
  error_codes: Record<string, number>;
}

export interface FileLine {
  file: string;
  status: string;
  job_id: string | null;
  external_id: string;
  inserted: number;
  updated: number;
  failed: number;
  total: number;
  errors: number;
  problem: string | null;
}

function fileLine(name: string, st: FileState): FileLine {
  const s = st.summary ?? { inserted: 0, updated: 0, failed: 0, total: 0 };
  return {
    file: name,
    status: st.status,
    job_id: st.job_id ?? null,
    external_id: st.external_id,
    inserted: s.inserted,
    updated: s.updated,
    failed: s.failed,
    total: s.total,
    errors: st.errors_count ?? 0,
    problem: st.problem ?? null,
  };
}

/**
 * DIR/import-report.json, written one file's errors at a time (the totals come last, once counted) and renamed into
 * place when complete.
 */
export function writeReport(dir: string, outcome: ImportOutcome): { file: string; totals: ReportTotals; lines: FileLine[] } {
  const { state, order } = outcome;
  const file = path.join(dir, 'import-report.json');
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  const totals: ReportTotals = { files: order.length, completed: 0, failed_jobs: 0, unfinished: 0, inserted: 0, updated: 0, failed: 0, total: 0, error_codes: {} };
  const lines: FileLine[] = [];
  try {
    const head = { target: state.target, domain: state.domain, connection_id: state.connection_id, upsert: state.upsert, generated_at: new Date().toISOString() };
    writeSync(fd, `${JSON.stringify(head, null, 2).slice(0, -2)},\n  "files": [`);
    order.forEach((name, i) => {
      const st = state.files[name]!;
      const line = fileLine(name, st);
      lines.push(line);
      if (st.status === 'completed') totals.completed++;
      else if (st.status === 'failed') totals.failed_jobs++;
      else if (st.status !== 'expired') totals.unfinished++;
      for (const k of ['inserted', 'updated', 'failed', 'total'] as const) totals[k] += line[k];
      let errors: UserError[] = [];
      if (st.errors_file && existsSync(path.join(dir, st.errors_file))) {
        errors = JSON.parse(readFileSync(path.join(dir, st.errors_file), 'utf8')) as UserError[];
      }
      for (const e of errors) for (const x of e.errors) if (x.code) totals.error_codes[x.code] = (totals.error_codes[x.code] ?? 0) + 1;
      writeSync(fd, `${i ? ',' : ''}\n    ${JSON.stringify({ ...line, errors })}`);
    });
    writeSync(fd, `\n  ],\n  "totals": ${JSON.stringify(totals)}\n}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return { file, totals, lines };
}

function humanSummary(report: ReturnType<typeof writeReport>, state: ImportState): string {
  const out = [`import into Auth0 connection ${state.connection_id} (${state.domain}), upsert ${state.upsert}: ${report.lines.length} file(s)`];
  const width = Math.max(...report.lines.map((l) => l.file.length), 4);
  for (const l of report.lines) {
    const counts = l.job_id && FINISHED.has(l.status) ? `inserted ${l.inserted}, updated ${l.updated}, failed ${l.failed} of ${l.total}` : '';
    out.push(`  ${l.file.padEnd(width)}  ${(l.job_id ?? '-').padEnd(24)}  ${l.status.padEnd(10)}  ${counts}`.trimEnd());
    if (l.problem) out.push(`      ${l.problem}`);
  }
  const t = report.totals;
  const codes = Object.entries(t.error_codes).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`);
  out.push(`total: inserted ${t.inserted}, updated ${t.updated}, failed ${t.failed} of ${t.total}${codes.length ? ` (${codes.join(', ')})` : ''}`);
  out.push(`files: ${t.completed} completed, ${t.failed_jobs} failed, ${t.unfinished} unfinished`);
  out.push(`report: ${report.file}`);
  return `${out.join('\n')}\n`;
}

const FLAGS = {
  target: { type: 'string' },
  files: { type: 'string' },
  upsert: { type: 'boolean' },
  json: { type: 'boolean' },
  'retry-unknown': { type: 'boolean' },
  'poll-interval-ms': { type: 'string' },
} as const;

export async function run(args: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, FLAGS);
  if (flags.target !== 'auth0') throw new UsageError(flags.target ? `unknown --target ${flags.target} (only auth0 can be imported)` : 'needs --target auth0');
  if (!flags.files) throw new UsageError('needs --files DIR (a directory written by legacy-gateway export)');
  const dir = path.resolve(flags.files);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--files ${flags.files}: no such directory`);
  if (!readdirSync(dir).some((n) => FILE_NAME.test(n)) && !existsSync(path.join(dir, 'import-state.json'))) {
    throw new UsageError(`--files ${flags.files}: no users-NNNN.json files (write them with legacy-gateway export --target auth0)`);
  }
  const pollIntervalMs = flags['poll-interval-ms'] === undefined ? 5000 : Number(flags['poll-interval-ms']);
  if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 10 || pollIntervalMs > 600_000) throw new UsageError('--poll-interval-ms must be an integer from 10 to 600000');
  const config = loadConfig(flags.config, io);
  const target = config.targets.auth0;
  if (!target) throw new UsageError('the configuration has no targets.auth0 (domain, client_id, client_secret, connection_id)');

  let release: () => void;
  try {
    release = acquireLock(dir);
  } catch (e) {
    if (!(e instanceof StateConflict)) throw e;
    io.stderr.write(`import: ${e.message}\n`);
    return 1;
  }
  try {
    const warnings = manifestWarnings(dir);
    for (const w of warnings) io.stderr.write(`import: warning: ${w}\n`);
    const progress = startProgress('import: files', { stream: io.stderr });
    let outcome: ImportOutcome;
    try {
      outcome = await runImport({ dir, target, upsert: flags.upsert === true, retryUnknown: flags['retry-unknown'] === true, pollIntervalMs, progress });
    } catch (e) {
      progress.stop();
      if (!(e instanceof StateConflict)) throw e;
      io.stderr.write(`import: ${e.message}\n`);
      return 2;
    }
    const report = writeReport(dir, outcome);
    if (flags.json) {
      const complete = report.totals.unfinished === 0 && !outcome.fatal;
      io.stdout.write(`${JSON.stringify({ report: report.file, complete, error: outcome.fatal?.message ?? null, warnings, totals: report.totals, files: report.lines }, null, 2)}\n`);
    } else {
      io.stdout.write(humanSummary(report, outcome.state));
    }
    if (outcome.fatal) {
      io.stderr.write(`import: stopped: ${outcome.fatal.message}\nimport: the state is saved in ${path.join(dir, 'import-state.json')}; run the same command again to resume (submitted files are never submitted twice)\n`);
      return 1;
    }
    const clean = report.lines.every((l) => l.status === 'completed' && l.failed === 0 && !l.problem);
    return clean ? 0 : 1;
  } finally {
    release();
  }
}

/** `legacy-gateway import --help`. */
export const help = `legacy-gateway import — submit export files as Auth0 bulk-import jobs

Usage:
  legacy-gateway import --target auth0 --files DIR [--config FILE] [--upsert] [--json] [--retry-unknown]
                        [--poll-interval-ms 5000]

Submits DIR/users-NNNN.json (written by export), at most two jobs at a time, polls them, downloads their errors and
writes DIR/import-report.json. Resumable: a re-run continues the jobs already submitted, never submits a file twice.
Needs targets.auth0 in the configuration.

Options:
  -c, --config FILE        the gateway's configuration (default: $LEGACY_GATEWAY_CONFIG)
  --target auth0           the IdP to import into (only auth0)
  --files DIR              the directory export wrote
  --upsert                 update users the connection already has instead of failing them
  --json                   print the report as JSON
  --retry-unknown          submit again a file whose earlier submission's fate is unknown (check the tenant first)
  --poll-interval-ms N     how often to poll a job (default 5000)

Example:
  legacy-gateway import --config gateway.yaml --target auth0 --files ./export
`;
