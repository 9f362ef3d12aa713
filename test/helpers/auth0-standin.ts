/**
 * A local stand-in for the parts of the Auth0 Management API that `legacy-gateway import` uses, built from Auth0's
 * documented endpoints and sample payloads (the bulk-import guide, the users-imports / jobs / jobs-errors API pages,
 * the user-import JSON schema): Auth0 itself can't be reached from the test machines.
 *
 *   POST /oauth/token                    client_credentials (JSON or form) → {access_token, token_type, expires_in}
 *   POST /api/v2/jobs/users-imports      multipart: users (file), connection_id, upsert, external_id,
 *                                        send_completion_email → 201 {status: "pending", type: "users_import", id, ...}
 *   GET  /api/v2/jobs/{id}               pending → processing (percentage_done, time_left_seconds) → completed
 *                                        (summary, location) | failed | expired
 *   GET  /api/v2/jobs/{id}/errors        [{user (hashes "*****"), errors: [{code, message, path}]}]
 *
 * Documented behaviour reproduced: at most 2 active import jobs per tenant (3rd → 429 with the documented message),
 * files over 500,000 bytes refused, every user validated against the saved user-import schema, a duplicate inside a
 * file is DUPLICATED_USER ("A user with this email was already provided."), upsert matches on email, a job that runs
 * over 2 h fails, job data is gone after 24 h, error codes from the documented list.
 * Marked "inference" below: details the documentation does not give (exact 401/404/413 bodies, the message for a user
 * that already exists, which code a schema keyword outside the documented list maps to).
 *
 * Everything the client sends is recorded so that tests can assert on it; failures (429s with headers, revoked
 * tokens, a job request that is accepted but never answered) are injected on demand.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = (addFormatsModule.default ?? addFormatsModule) as unknown as typeof addFormatsModule.default;

const SCHEMA = 'test/fixtures/auth0/auth0-users-import.schema.json';
/** The saved schema: from the working directory (the repository root), else next to this file compiled or not. */
export const SCHEMA_FILE =
  [path.resolve(process.cwd(), SCHEMA), fileURLToPath(new URL(`../../../${SCHEMA}`, import.meta.url)), fileURLToPath(new URL(`../../${SCHEMA}`, import.meta.url))].find((f) => existsSync(f)) ??
  path.resolve(process.cwd(), SCHEMA);

export interface StandinOptions {
  domain?: string;
  clientId?: string;
  clientSecret?: string;
  /** Scopes granted to the client's tokens (default create:users read:users). */
  scopes?: string[];
  /** Connections that exist (default one: con_standin00000001). */
  connections?: string[];
  tokenLifetimeS?: number;
  /** How long a new job stays pending, then processing (defaults 40 ms, 120 ms). */
  pendingMs?: number;
  processingMs?: number;
  maxFileBytes?: number;
  maxActiveJobs?: number;
  jobDataTtlMs?: number;
  jobTimeoutMs?: number;
}

export type Route = 'token' | 'create' | 'job' | 'errors';

export interface Injected {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface Submission {
  job_id: string;
  /** The multipart text fields exactly as sent. */
  fields: Record<string, string>;
  file_name: string;
  bytes: number;
  sha256: string;
  at: number;
}

export interface RequestLog {
  method: string;
  path: string;
  status: number;
  at: number;
}

interface JobUserError {
  user: unknown;
  errors: { code: string; message: string; path: string }[];
}

interface Job {
  id: string;
  connection_id: string;
  external_id: string | undefined;
  upsert: boolean;
  send_completion_email: boolean;
  created: number;
  file: Buffer;
  /** A job not submitted through HTTP (another importer on the same tenant). */
  foreign: boolean;
  final?: { status: 'completed' | 'failed'; summary: { failed: number; updated: number; inserted: number; total: number }; errors: JobUserError[] };
}

const TOO_MANY_JOBS = {
  statusCode: 429,
  error: 'Too Many Requests',
  message: 'There are 2 active import users jobs, please wait until some of them are finished and try again',
};

/** JSON-schema keyword → Auth0's documented job error code (NOT_PASSED for keywords the list has no code for: inference). */
const CODES: Record<string, string> = {
  required: 'OBJECT_REQUIRED',
  type: 'INVALID_TYPE',
  enum: 'ENUM_MISMATCH',
  format: 'FORMAT',
  maxLength: 'MAX_LENGTH',
  minLength: 'MIN_LENGTH',
  pattern: 'PATTERN',
  maximum: 'MAXIMUM',
  minimum: 'MINIMUM',
  maxItems: 'ARRAY_LENGTH_LONG',
  minItems: 'ARRAY_LENGTH_SHORT',
  anyOf: 'ANY_OF_MISSING',
  not: 'NOT_PASSED',
};

function dotted(instancePath: string): string {
  return instancePath
    .split('/')
    .filter(Boolean)
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i ? `.${p}` : p))
    .join('');
}

function schemaErrors(validate: ValidateFunction, user: unknown): JobUserError['errors'] {
  if (validate(user)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => {
    let p = dotted(e.instancePath);
    if (e.keyword === 'required') p = [p, (e.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.');
    if (e.keyword === 'additionalProperties') p = [p, (e.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join('.');
    // The documented example: a format error's path is Auth0's internal one, not the file's.
    if (p === 'email' && e.keyword === 'format') p = 'identities[0].profileData.email';
    return { code: CODES[e.keyword] ?? 'NOT_PASSED', message: `Error in ${p || 'user'} property - ${e.message ?? 'invalid'}`, path: p };
  });
}

/** A user as /errors echoes it: password hashes replaced by "*****" (the documented sample). */
function redacted(user: unknown): unknown {
  if (!user || typeof user !== 'object' || Array.isArray(user)) return user;
  const u = { ...(user as Record<string, unknown>) };
  const c = u.custom_password_hash as { algorithm?: unknown } | undefined;
  if (c && typeof c === 'object') u.custom_password_hash = { algorithm: c.algorithm, hash: { value: '*****' } };
  if (typeof u.password_hash === 'string') u.password_hash = '*****';
  return u;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

export class Auth0Standin {
  readonly domain: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly connections: string[];
  url = '';
  /** Accepted job requests (each created a job), in order. */
  readonly submissions: Submission[] = [];
  /** Every request with the status it got. */
  readonly requests: RequestLog[] = [];
  /** Imported users per connection, by lower-cased email. */
  readonly users = new Map<string, Map<string, Record<string, unknown>>>();
  /** Per connection: user_id and lower-cased username → email key (what makes a new user clash with one imported). */
  private readonly taken = new Map<string, Set<string>>();
  /** GET /errors calls per job id. */
  readonly errorDownloads = new Map<string, number>();
  tokensIssued = 0;
  /** The most jobs submitted by the client that were active (pending or processing) at the same time. */
  peakActiveJobs = 0;
  /** Job requests refused because 2 jobs were active. */
  tooManyJobsRefusals = 0;
  private readonly o: Required<Omit<StandinOptions, 'domain' | 'clientId' | 'clientSecret' | 'connections'>>;
  private readonly validate: ValidateFunction;
  private readonly jobs = new Map<string, Job>();
  private readonly tokens = new Map<string, number>();
  private readonly injected = new Map<Route, Injected[]>();
  private offset = 0;
  private holding = false;
  private hangCreates = 0;
  private server: Server | undefined;

  constructor(options: StandinOptions = {}) {
    this.domain = options.domain ?? 'tenant.standin.test';
    this.clientId = options.clientId ?? 'standin-client';
    this.clientSecret = options.clientSecret ?? 'standin-secret-value';
    this.connections = options.connections ?? ['con_standin00000001'];
    this.o = {
      scopes: options.scopes ?? ['create:users', 'read:users'],
      tokenLifetimeS: options.tokenLifetimeS ?? 86_400,
      pendingMs: options.pendingMs ?? 40,
      processingMs: options.processingMs ?? 120,
      maxFileBytes: options.maxFileBytes ?? 500_000,
      maxActiveJobs: options.maxActiveJobs ?? 2,
      jobDataTtlMs: options.jobDataTtlMs ?? 24 * 3600_000,
      jobTimeoutMs: options.jobTimeoutMs ?? 2 * 3600_000,
    };
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    this.validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) send(res, 500, { statusCode: 500, error: 'Internal Server Error', message: 'stand-in failure' });
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  now(): number {
    return Date.now() + this.offset;
  }

  /** Move the stand-in's clock forward (job timeouts, token expiry, 24 h job-data deletion). */
  advance(ms: number): void {
    this.offset += ms;
  }

  /** The next `count` requests to `route` get this answer instead. */
  inject(route: Route, count: number, answer: Injected): void {
    const list = this.injected.get(route) ?? [];
    for (let i = 0; i < count; i++) list.push(answer);
    this.injected.set(route, list);
  }

  /** Jobs stay pending/processing until release(). */
  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
  }

  /** The next `count` job requests create their job but are never answered (the client dies waiting). */
  hangNextCreates(count: number): void {
    this.hangCreates += count;
  }

  /** Every token issued so far is refused from now on (as after a signing-key rotation). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  /** An import job on the same tenant that this client did not submit. */
  addForeignJob(file: unknown[] = []): string {
    return this.createJob({ connection_id: this.connections[0]!, upsert: false, send_completion_email: false, external_id: undefined }, Buffer.from(JSON.stringify(file)), true).id;
  }

  /** Submissions whose multipart external_id is this one. */
  submissionsOf(externalId: string): Submission[] {
    return this.submissions.filter((s) => s.fields.external_id === externalId);
  }

  connectionUsers(connection = this.connections[0]!): Map<string, Record<string, unknown>> {
    let m = this.users.get(connection);
    if (!m) this.users.set(connection, (m = new Map()));
    return m;
  }

  // ---------------------------------------------------------------------------------------------------------------

  private createJob(f: { connection_id: string; upsert: boolean; send_completion_email: boolean; external_id: string | undefined }, file: Buffer, foreign = false): Job {
    const job: Job = { id: `job_${randomBytes(8).toString('hex')}`, ...f, created: this.now(), file, foreign };
    this.jobs.set(job.id, job);
    const ours = [...this.jobs.values()].filter((j) => !j.foreign && this.isActive(j)).length;
    this.peakActiveJobs = Math.max(this.peakActiveJobs, ours);
    return job;
  }

  private status(job: Job): 'pending' | 'processing' | 'completed' | 'failed' | 'expired' {
    const age = this.now() - job.created;
    if (age >= this.o.jobDataTtlMs) return 'expired';
    if (job.final) return job.final.status;
    if (age >= this.o.jobTimeoutMs) {
      job.final = { status: 'failed', summary: { failed: 0, updated: 0, inserted: 0, total: 0 }, errors: [] };
      return 'failed';
    }
    if (age < this.o.pendingMs) return 'pending';
    if (this.holding || age < this.o.pendingMs + this.o.processingMs) return 'processing';
    this.finish(job);
    return job.final!.status;
  }

  private isActive(job: Job): boolean {
    const s = this.status(job);
    return s === 'pending' || s === 'processing';
  }

  /** Run the import: validate every user, refuse duplicates, insert or (upsert) update. */
  private finish(job: Job): void {
    let users: unknown;
    try {
      users = JSON.parse(job.file.toString('utf8'));
    } catch {
      users = undefined;
    }
    if (!Array.isArray(users)) {
      // A file-level error: the job fails.
      job.final = { status: 'failed', summary: { failed: 0, updated: 0, inserted: 0, total: 0 }, errors: [] };
      return;
    }
    const store = this.connectionUsers(job.connection_id);
    const seen = { email: new Set<string>(), username: new Set<string>(), user_id: new Set<string>() };
    const summary = { failed: 0, updated: 0, inserted: 0, total: users.length };
    const errors: JobUserError[] = [];
    const fail = (user: unknown, list: JobUserError['errors']) => {
      summary.failed++;
      errors.push({ user: redacted(user), errors: list });
    };
    for (const user of users) {
      if (!this.connections.includes(job.connection_id)) {
        fail(user, [{ code: 'CONNECTION_NOT_FOUND', message: `Connection ${job.connection_id} not found`, path: '' }]);
        continue;
      }
      const invalid = schemaErrors(this.validate, user);
      if (invalid.length) {
        fail(user, invalid);
        continue;
      }
      const u = user as Record<string, unknown>;
      const keys = { email: String(u.email).toLowerCase(), username: typeof u.username === 'string' ? u.username.toLowerCase() : undefined, user_id: typeof u.user_id === 'string' ? u.user_id : undefined };
      const dup = (['email', 'username', 'user_id'] as const).find((k) => keys[k] !== undefined && seen[k].has(keys[k]!));
      for (const k of ['email', 'username', 'user_id'] as const) if (keys[k] !== undefined) seen[k].add(keys[k]!);
      if (dup) {
        fail(user, [{ code: 'DUPLICATED_USER', message: `A user with this ${dup} was already provided.`, path: dup }]);
        continue;
      }
      const existing = store.get(keys.email);
      let taken = this.taken.get(job.connection_id);
      if (!taken) this.taken.set(job.connection_id, (taken = new Set()));
      const clash = (keys.user_id !== undefined && taken.has(`id:${keys.user_id}`)) || (keys.username !== undefined && taken.has(`name:${keys.username}`));
      if (existing && job.upsert) {
        store.set(keys.email, { ...existing, ...u });
        summary.updated++;
      } else if (existing || clash) {
        // Inference: the documented code for a user the connection already has; the wording is the stand-in's.
        fail(user, [{ code: 'DUPLICATED_USER', message: 'The user already exists.', path: existing ? 'email' : 'user_id' }]);
      } else {
        store.set(keys.email, u);
        if (keys.user_id !== undefined) taken.add(`id:${keys.user_id}`);
        if (keys.username !== undefined) taken.add(`name:${keys.username}`);
        summary.inserted++;
      }
    }
    job.final = { status: 'completed', summary, errors };
  }

  private jobBody(job: Job): Record<string, unknown> {
    const status = this.status(job);
    const body: Record<string, unknown> = {
      status,
      type: 'users_import',
      created_at: new Date(job.created).toISOString(),
      id: job.id,
      connection_id: job.connection_id,
      ...(job.external_id !== undefined ? { external_id: job.external_id } : {}),
    };
    if (status === 'processing') {
      const done = Math.min(99, Math.floor(((this.now() - job.created - this.o.pendingMs) / this.o.processingMs) * 100));
      Object.assign(body, { percentage_done: Math.max(0, done), time_left_seconds: 0 });
    }
    if (status === 'completed') body.location = `https://${this.domain}/EXAMPLE`;
    if (status === 'completed' || status === 'failed') body.summary = { ...job.final!.summary };
    return body;
  }

  private rateHeaders(): Record<string, string> {
    return { 'x-ratelimit-limit': '50', 'x-ratelimit-remaining': '49', 'x-ratelimit-reset': String(Math.ceil(this.now() / 1000) + 1) };
  }

  private takeInjected(route: Route): Injected | undefined {
    return this.injected.get(route)?.shift();
  }

  private async readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > limit) {
        req.resume();
        return null;
      }
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** 401/403 as the API answers them, or the granted scopes. (Bodies: inference, after Auth0's hapi-style errors.) */
  private authorize(req: IncomingMessage, res: ServerResponse, needAnyOf: string[]): boolean {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const expires = m ? this.tokens.get(m[1]!) : undefined;
    if (!m || expires === undefined) {
      send(res, 401, { statusCode: 401, error: 'Unauthorized', message: m ? 'Invalid token' : 'Missing authentication' });
      return false;
    }
    if (this.now() >= expires) {
      send(res, 401, { statusCode: 401, error: 'Unauthorized', message: 'Expired token received for JSON Web Token validation' });
      return false;
    }
    if (!needAnyOf.some((s) => this.o.scopes.includes(s))) {
      send(res, 403, { statusCode: 403, error: 'Forbidden', message: `Insufficient scope, expected any of: ${needAnyOf.join(',')}`, errorCode: 'insufficient_scope' });
      return false;
    }
    return true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const log: RequestLog = { method: req.method ?? '', path: url.pathname, status: 0, at: this.now() };
    this.requests.push(log);
    res.on('finish', () => (log.status = res.statusCode));
    const jobMatch = /^\/api\/v2\/jobs\/([^/]+)(\/errors)?$/.exec(url.pathname);
    let route: Route | undefined;
    if (req.method === 'POST' && url.pathname === '/oauth/token') route = 'token';
    else if (req.method === 'POST' && url.pathname === '/api/v2/jobs/users-imports') route = 'create';
    else if (req.method === 'GET' && jobMatch) route = jobMatch[2] ? 'errors' : 'job';
    if (!route) {
      send(res, 404, { statusCode: 404, error: 'Not Found', message: 'Not Found' });
      return;
    }
    const injected = this.takeInjected(route);
    if (injected) {
      req.resume();
      const body = injected.body ?? (injected.status === 429 ? { statusCode: 429, error: 'Too Many Requests', message: 'Global limit has been reached', errorCode: 'too_many_requests' } : { statusCode: injected.status, error: 'Error', message: 'injected' });
      send(res, injected.status, body, injected.headers);
      return;
    }
    if (route === 'token') return this.token(req, res);
    if (route === 'create') return this.create(req, res);
    req.resume();
    if (!this.authorize(req, res, ['create:users', 'read:users'])) return;
    const job = this.jobs.get(decodeURIComponent(jobMatch![1]!));
    if (!job || (route === 'errors' && this.status(job) === 'expired')) {
      // Inference: the body of a 404 for a job the tenant doesn't have (or whose data was deleted).
      send(res, 404, { statusCode: 404, error: 'Not Found', message: 'The job does not exist.', errorCode: 'inexistent_job' }, this.rateHeaders());
      return;
    }
    if (route === 'job') {
      send(res, 200, this.jobBody(job), this.rateHeaders());
      return;
    }
    this.errorDownloads.set(job.id, (this.errorDownloads.get(job.id) ?? 0) + 1);
    this.status(job);
    send(res, 200, job.final?.errors ?? [], this.rateHeaders());
  }

  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = (await this.readBody(req, 64 * 1024))?.toString('utf8') ?? '';
    let p: Record<string, unknown>;
    try {
      p = (req.headers['content-type'] ?? '').includes('application/json') ? (JSON.parse(raw) as Record<string, unknown>) : Object.fromEntries(new URLSearchParams(raw));
    } catch {
      send(res, 400, { error: 'invalid_request', error_description: 'Invalid request body' });
      return;
    }
    if (p.grant_type !== 'client_credentials') {
      send(res, 400, { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${String(p.grant_type)}` });
      return;
    }
    if (p.client_id !== this.clientId || p.client_secret !== this.clientSecret) {
      send(res, 401, { error: 'access_denied', error_description: 'Unauthorized' });
      return;
    }
    if (p.audience !== `https://${this.domain}/api/v2/`) {
      send(res, 403, { error: 'access_denied', error_description: `Service not enabled within domain: ${String(p.audience)}` });
      return;
    }
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, this.now() + this.o.tokenLifetimeS * 1000);
    this.tokensIssued++;
    send(res, 200, { access_token: token, token_type: 'Bearer', expires_in: this.o.tokenLifetimeS });
  }

  private async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorize(req, res, ['create:users'])) {
      req.resume();
      return;
    }
    const bad = (message: string) => send(res, 400, { statusCode: 400, error: 'Bad Request', message, errorCode: 'invalid_body' }, this.rateHeaders());
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.startsWith('multipart/form-data')) {
      req.resume();
      bad('Payload validation error: the request must be multipart/form-data');
      return;
    }
    const tooLarge = () =>
      // Inference: hapi's wording for a payload over the route's limit.
      send(res, 413, { statusCode: 413, error: 'Request Entity Too Large', message: `Payload content length greater than maximum allowed: ${this.o.maxFileBytes}` }, this.rateHeaders());
    const raw = await this.readBody(req, this.o.maxFileBytes + 64 * 1024);
    if (!raw) return tooLarge();
    let form: FormData;
    try {
      form = await new Request('http://standin/', { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(raw) }).formData();
    } catch {
      bad('Payload validation error: malformed multipart body');
      return;
    }
    const users = form.get('users');
    if (!(users instanceof Blob)) return bad("Payload validation error: 'Missing required property: users'.");
    const fields: Record<string, string> = {};
    for (const [k, v] of form) if (typeof v === 'string') fields[k] = v;
    if (!fields.connection_id) return bad("Payload validation error: 'Missing required property: connection_id'.");
    for (const k of ['upsert', 'send_completion_email']) {
      if (fields[k] !== undefined && fields[k] !== 'true' && fields[k] !== 'false') return bad(`Payload validation error: '${k}' must be a boolean`);
    }
    if (users.size > this.o.maxFileBytes) return tooLarge();
    const active = [...this.jobs.values()].filter((j) => this.isActive(j)).length;
    if (active >= this.o.maxActiveJobs) {
      this.tooManyJobsRefusals++;
      send(res, 429, TOO_MANY_JOBS, this.rateHeaders());
      return;
    }
    const file = Buffer.from(await users.arrayBuffer());
    const job = this.createJob(
      { connection_id: fields.connection_id, upsert: fields.upsert === 'true', send_completion_email: fields.send_completion_email !== 'false', external_id: fields.external_id },
      file,
    );
    this.submissions.push({ job_id: job.id, fields, file_name: (users as File).name ?? '', bytes: file.length, sha256: createHash('sha256').update(file).digest('hex'), at: this.now() });
    if (this.hangCreates > 0) {
      this.hangCreates--;
      return; // the job exists; the answer never comes
    }
    send(
      res,
      201,
      {
        status: 'pending',
        type: 'users_import',
        created_at: new Date(job.created).toISOString(),
        id: job.id,
        connection_id: job.connection_id,
        upsert: job.upsert,
        ...(job.external_id !== undefined ? { external_id: job.external_id } : {}),
        send_completion_email: job.send_completion_email,
      },
      this.rateHeaders(),
    );
  }
}

export async function startAuth0Standin(options: StandinOptions = {}): Promise<Auth0Standin> {
  return new Auth0Standin(options).start();
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run an operator command (`run(args, io)` of src/operations/*.ts) in-process with its output captured; used by the
 * tests of the Auth0 import and reconcile commands. A UsageError propagates, as it does to src/main.ts.
 */
export async function runCommand(
  command: (args: string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv }) => Promise<number>,
  args: string[],
): Promise<CommandResult> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) => new Writable({ write(c, _e, cb) { append(String(c)); cb(); } });
  const code = await command(args, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), env: {} });
  return { code, stdout, stderr };
}
