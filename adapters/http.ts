/**
 * HTTP store: a legacy system that only exposes a web service (Auth0's "request" template shape and the like).
 *
 * The service checks passwords itself (verifyCredentials: HTTP Basic or a JSON POST with the user's credentials);
 * lookups call the configured by-email / by-username / by-id endpoints; responses are mapped through
 * store.users.columns read as JSON paths. The gateway can't write to the service, so migration marks live in a small
 * gateway-owned SQLite file (store.http.migration_db).
 *
 * Answers: a configured "no" status (401/404 by default) → null; 409 → ambiguous; anything else that is not 2xx
 * JSON (5xx, 3xx, other 4xx, a timeout, a dropped connection, invalid JSON, a response too large) → StoreError,
 * which the gateway turns into 503. Only a timeout, a dropped connection, a 5xx, 408 or 429 (and a failing marks file)
 * are transient, counted by the store circuit breaker; configuration gaps and unexpected data are not. Error messages name the endpoint by its configured template, never the values
 * in it, and never contain a response body, a password or a service credential.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type BetterSqlite3 from 'better-sqlite3';
import type { Config } from '../src/config.js';
import { describeConnectionError, isConnectionError, type DbTarget } from '../src/dbhints.js';

const HTTP_TLS_HINT =
  "TLS: the service's certificate is not trusted or does not match its host name (a private CA goes in store.http.ca_file), the service wants a client certificate (store.http.auth mtls), or store.url's scheme does not match the service";
import { loadDriver } from './driver.js';
import type { HttpLookupEndpoint, HttpStoreConfig } from './http-config.js';
import { useSqliteSettings } from './sqlite.js';
import { AMBIGUOUS, instantIso, isAmbiguous, StoreError, type Ambiguous, type LegacyUser, type MigrationStatus, type UserStore } from './types.js';

type StoreSection = Config['store'];

interface Reply {
  status: number;
  body: Buffer;
}

interface Call {
  /** "GET /users-by-email/{email}": the configured template, safe to log. */
  label: string;
  method: string;
  /** Expanded path (values encoded), appended to the base URL's path. */
  path: string;
  body?: unknown;
  /** Authorization header carrying the user's own credentials (verify.mode basic). */
  userAuthorization?: string;
}

/** Encode a value for a path or query placeholder: it stays one segment / one value whatever it contains. */
export function encodePlaceholder(value: string): string {
  const e = encodeURIComponent(value);
  // "." and ".." would be dot-segments that a server or proxy may resolve.
  return /^\.+$/.test(value) ? e.replaceAll('.', '%2E') : e;
}

/** Fill a path template's {placeholders}. Throws URIError for a value that is not well-formed Unicode. */
export function expandPath(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{([a-z_]+)\}/g, (_m, name: string) => encodePlaceholder(String(values[name] ?? '')));
}

/** Value at a dot-separated path ("data.user", "items.0"); undefined when any step is missing. */
export function valueAtPath(root: unknown, path: string | undefined): unknown {
  if (!path) return root;
  let v = root;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    if (!Object.prototype.hasOwnProperty.call(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new StoreError(`cannot read ${what} ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e, transient: false });
  }
}

/** A scalar from a JSON response as text (objects and arrays are not text). */
function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A scalar flag or timestamp, as-is (the profile mapper interprets it). */
function scalar(v: unknown): unknown {
  return v === null || typeof v === 'object' ? undefined : v;
}

export class HttpUserStore implements UserStore {
  private readonly cfg: HttpStoreConfig;
  private readonly base: URL;
  /** The service as connection errors name it: host and port (store.url holds no credentials). */
  private readonly target: DbTarget;
  private readonly basePath: string;
  private readonly agent: http.Agent;
  private readonly client: typeof http | typeof https;
  private readonly timeoutMs: number;
  private readonly serviceAuthorization: string | undefined;
  private readonly db: BetterSqlite3.Database;
  private readonly marksTable: string;

  constructor(private readonly store: StoreSection) {
    if (!store.http) throw new StoreError('store.http is required for adapter http', { transient: false });
    const cfg = store.http;
    this.cfg = cfg;
    let base: URL;
    try {
      base = new URL(store.url);
    } catch {
      throw new StoreError('store.url must be the legacy service\'s base URL (https://legacy.example.com/api)', { transient: false });
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new StoreError('store.url must be an http(s) URL for adapter http', { transient: false });
    if (base.username || base.password) throw new StoreError('store.url must not contain credentials: use store.http.auth', { transient: false });
    if (base.search || base.hash) throw new StoreError('store.url must not have a query or fragment: put them in the endpoint paths', { transient: false });
    if (base.protocol === 'http:' && !cfg.allow_plain_http && !isLoopback(base.hostname)) {
      throw new StoreError('store.url is plain http to a non-loopback host: passwords would travel in clear text (use https, or set store.http.allow_plain_http)', { transient: false });
    }
    if (cfg.auth.type === 'mtls' && base.protocol !== 'https:') throw new StoreError('store.http.auth mtls needs an https store.url', { transient: false });
    if ('column' in store.migration) {
      throw new StoreError('store.migration.column is not available for adapter http: marks are kept in store.http.migration_db (use store.migration.table)', { transient: false });
    }
    if (store.users.joins.length) throw new StoreError('store.users.joins is not available for adapter http', { transient: false });
    if (store.users.filter.length) throw new StoreError('store.users.filter is not available for adapter http', { transient: false });
    if (store.queries.find_by_login || store.queries.find_by_id) throw new StoreError('store.queries is not available for adapter http', { transient: false });
    this.base = base;
    this.target = { adapter: 'http', host: base.hostname, port: base.port || (base.protocol === 'https:' ? '443' : '80') };
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.timeoutMs = cfg.timeout_ms ?? store.query_timeout_ms;

    const tls: https.AgentOptions = {};
    if (cfg.ca_file) tls.ca = readPem(cfg.ca_file, 'store.http.ca_file');
    if (cfg.auth.type === 'mtls') {
      tls.cert = readPem(cfg.auth.cert_file, 'store.http.auth.cert_file');
      tls.key = readPem(cfg.auth.key_file, 'store.http.auth.key_file');
      if (cfg.auth.key_passphrase !== undefined) tls.passphrase = cfg.auth.key_passphrase;
    }
    // Idle connections are closed after 4 s (or before the service's own Keep-Alive hint), so that a reused
    // connection is rarely one the service has just closed; maxSockets bounds the calls in flight.
    const agentOptions = { keepAlive: true, maxSockets: store.pool_max, timeout: 4000 };
    this.client = base.protocol === 'https:' ? https : http;
    this.agent = base.protocol === 'https:' ? new https.Agent({ ...agentOptions, ...tls }) : new http.Agent(agentOptions);
    if (cfg.auth.type === 'basic') {
      this.serviceAuthorization = `Basic ${Buffer.from(`${cfg.auth.username}:${cfg.auth.password}`, 'utf8').toString('base64')}`;
    } else if (cfg.auth.type === 'bearer') {
      this.serviceAuthorization = `Bearer ${cfg.auth.token}`;
    }

    // Migration marks: a gateway-owned SQLite file, created if absent.
    this.marksTable = store.migration.table
      .split('.')
      .map((p) => `"${p.replaceAll('"', '""')}"`)
      .join('.');
    const Database = loadDriver<typeof BetterSqlite3>('better-sqlite3', 'http');
    try {
      this.db = new Database(cfg.migration_db, { timeout: 5000 });
      useSqliteSettings(this.db);
      this.db.exec(`CREATE TABLE IF NOT EXISTS ${this.marksTable} (user_id TEXT PRIMARY KEY, migrated_at TEXT NOT NULL)`);
    } catch (e) {
      this.agent.destroy();
      throw new StoreError(`cannot open store.http.migration_db ${cfg.migration_db} (${(e as { code?: string }).code ?? 'error'})`, { cause: e, transient: false });
    }
  }

  // ---- transport -------------------------------------------------------------------------------------------------

  /** One call to the service: the whole exchange (queueing, connect, TLS, response body) within timeout_ms. */
  private send(c: Call): Promise<Reply> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'legacy-gateway',
      ...this.cfg.headers,
    };
    const authorization = c.userAuthorization ?? this.serviceAuthorization;
    if (authorization) headers.authorization = authorization;
    let payload: Buffer | undefined;
    if (c.body !== undefined) {
      payload = Buffer.from(JSON.stringify(c.body), 'utf8');
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const max = this.cfg.response.max_bytes;
    // Transport failures (timeouts, connections) may pass; an answer too large for response.max_bytes will not.
    const fail = (reason: string, cause?: unknown, transient = true) => new StoreError(`legacy service ${c.label}: ${reason}`, { cause, transient });
    return new Promise<Reply>((resolve, reject) => {
      let settled = false;
      let req: http.ClientRequest;
      const done = (err: StoreError | null, reply?: Reply) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(reply!);
      };
      const timer = setTimeout(() => done(fail(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      const attempt = (retry: boolean) => {
        req = this.client.request({
          protocol: this.base.protocol,
          hostname: this.base.hostname.replace(/^\[|\]$/g, ''),
          port: this.base.port || undefined,
          method: c.method,
          path: this.basePath + c.path,
          headers,
          agent: this.agent,
        });
        let answered = false;
        req.on('error', (e: NodeJS.ErrnoException) => {
          // A kept-alive connection the service closed while idle: try a GET once more (never a POST with a password).
          if (retry && !answered && !settled && req.reusedSocket && e.code === 'ECONNRESET') return attempt(false);
          // A connection failure names the service's host and port and says what to do (src/dbhints.ts).
          done(fail(isConnectionError(e) ? `request failed: ${describeConnectionError(this.target, e, undefined, HTTP_TLS_HINT)}` : `request failed (${e.code ?? e.name})`, e));
        });
        req.on('response', (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > max) done(fail(`response larger than ${max} bytes`, undefined, false));
            else chunks.push(chunk);
          });
          res.on('end', () => done(null, { status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', (e: NodeJS.ErrnoException) => done(fail(`response failed (${e.code ?? e.name})`, e)));
          res.on('close', () => {
            if (!res.complete) done(fail('connection closed before the response was complete'));
          });
        });
        req.end(payload);
      };
      attempt(c.method === 'GET');
    });
  }

  private json(c: Call, r: Reply): unknown {
    try {
      return JSON.parse(r.body.toString('utf8'));
    } catch {
      throw new StoreError(`legacy service ${c.label}: answered ${r.status} with a body that is not JSON`, { transient: false });
    }
  }

  /**
   * An answer the mapping does not expect. A 5xx, 408 or 429 is the service failing or overloaded (transient); any
   * other status (a 3xx, a 400 for one login, a 401 for a wrong service credential) is the configuration's or that
   * request's, and must not open the breaker for every other request.
   */
  private unexpected(c: Call, r: Reply): StoreError {
    const transient = r.status >= 500 || r.status === 408 || r.status === 429 || r.status === 0;
    return new StoreError(`legacy service ${c.label}: answered ${r.status}`, { transient });
  }

  // ---- mapping ---------------------------------------------------------------------------------------------------

  /** The user object a response carries: null for none (JSON null, an empty array), AMBIGUOUS for 2+. */
  private userIn(c: Call, body: unknown, userPath: string | undefined): LegacyUser | null | Ambiguous {
    const v = valueAtPath(body, userPath);
    const where = userPath ? `at response path "${userPath}"` : 'as the response body';
    if (v === undefined) throw new StoreError(`legacy service ${c.label}: no user ${where} (check store.http user_path)`, { transient: false });
    if (v === null) return null;
    if (Array.isArray(v)) {
      if (v.length === 0) return null;
      if (v.length > 1) return AMBIGUOUS;
      return this.toUser(c, v[0]);
    }
    return this.toUser(c, v);
  }

  /** Map one user object through store.users.columns (JSON paths). Never reads password fields. */
  toUser(c: Call, obj: unknown): LegacyUser {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new StoreError(`legacy service ${c.label}: the user is not a JSON object`, { transient: false });
    const cols = this.store.users.columns;
    // columns.password / salt / password_scheme are never read: a hash has no business leaving the service.
    const at = (key: Exclude<keyof typeof cols, 'password' | 'salt' | 'password_scheme'>) => {
      const p = cols[key];
      return p ? valueAtPath(obj, p) : undefined;
    };
    const id = text(at('id'));
    if (id === undefined || id === '') {
      throw new StoreError(`legacy service ${c.label}: the user has no usable id at "${cols.id}" (store.users.columns.id)`, { transient: false });
    }
    const meta = (paths: string[]) =>
      Object.fromEntries(
        paths.flatMap((p) => {
          const v = valueAtPath(obj, p);
          return v === null || v === undefined ? [] : [[p.slice(p.lastIndexOf('.') + 1), v]];
        }),
      );
    return {
      id,
      email: text(at('email')),
      username: text(at('username')),
      emailVerified: scalar(at('email_verified')),
      name: text(at('name')),
      givenName: text(at('given_name')),
      familyName: text(at('family_name')),
      nickname: text(at('nickname')),
      picture: text(at('picture')),
      blocked: scalar(at('blocked')),
      active: scalar(at('active')),
      lockedUntil: scalar(at('locked_until')),
      appMetadata: meta(this.store.users.app_metadata),
      userMetadata: meta(this.store.users.user_metadata),
      migratedAt: null,
      lastLogin: instantIso(at('last_login')),
    };
  }

  // ---- migration marks (SQLite) ----------------------------------------------------------------------------------

  private marks<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw new StoreError(`migration marks: ${what} failed (${(e as { code?: string }).code ?? 'error'})`, { cause: e });
    }
  }

  /** Fill in migratedAt from the marks file. */
  private withMarks(users: LegacyUser[]): LegacyUser[] {
    if (users.length === 0) return users;
    const ids = users.map((u) => u.id);
    const rows = this.marks('read', () =>
      this.db.prepare(`SELECT user_id, migrated_at FROM ${this.marksTable} WHERE user_id IN (${ids.map(() => '?').join(', ')})`).all(...ids),
    ) as { user_id: string; migrated_at: string }[];
    const m = new Map(rows.map((r) => [r.user_id, r.migrated_at]));
    for (const u of users) u.migratedAt = m.get(u.id) ?? null;
    return users;
  }

  private marked<T extends LegacyUser | null | Ambiguous>(found: T): T {
    if (found && !isAmbiguous(found)) this.withMarks([found as LegacyUser]);
    return found;
  }

  // ---- UserStore -------------------------------------------------------------------------------------------------

  /** The service checks the password: one call, whoever the login names. */
  async verifyCredentials(login: string, password: string): Promise<LegacyUser | null | Ambiguous> {
    const v = this.cfg.verify;
    const needle = login.trim();
    if (!needle) return null;
    let c: Call;
    try {
      const path = expandPath(v.path, { login: needle });
      const label = `${v.method} ${v.path}`;
      if (v.mode === 'basic') {
        // RFC 7617: a user-id containing ":" can't be sent; no such login can succeed.
        if (needle.includes(':')) return null;
        c = { label, method: v.method, path, userAuthorization: `Basic ${Buffer.from(`${needle}:${password}`, 'utf8').toString('base64')}` };
      } else {
        c = { label, method: v.method, path, body: { [v.login_field]: needle, [v.password_field]: password } };
      }
    } catch (e) {
      if (e instanceof URIError) return null; // not well-formed Unicode: no such login
      throw e;
    }
    const r = await this.send(c);
    if (v.reject_status.includes(r.status)) return null;
    if (r.status === 409) return AMBIGUOUS;
    if (r.status < 200 || r.status > 299) throw this.unexpected(c, r);
    return this.marked(this.userIn(c, this.json(c, r), v.user_path ?? this.cfg.response.user_path));
  }

  private async lookupVia(ep: HttpLookupEndpoint, name: 'email' | 'username' | 'id', value: string): Promise<LegacyUser | null | Ambiguous> {
    let path: string;
    try {
      path = expandPath(ep.path, { [name]: value });
    } catch (e) {
      if (e instanceof URIError) return null;
      throw e;
    }
    const c: Call = { label: `${ep.method} ${ep.path}`, method: ep.method, path };
    if (ep.json_field) c.body = { [ep.json_field]: value };
    const r = await this.send(c);
    if (this.cfg.lookup.not_found_status.includes(r.status)) return null;
    if (r.status === 409) return AMBIGUOUS;
    if (r.status < 200 || r.status > 299) throw this.unexpected(c, r);
    return this.userIn(c, this.json(c, r), ep.user_path ?? this.cfg.response.user_path);
  }

  /**
   * A login with "@" goes to by_email, then (not found there) to by_username; one without "@" to by_username only.
   * The service finds the user however it matches (case, normalisation); the login is sent trimmed, as typed, and
   * the gateway keeps the answer only when it names the login under its own rule (src/matching.ts).
   */
  async findCandidates(login: string): Promise<LegacyUser[] | Ambiguous> {
    const needle = login.trim();
    if (!needle) return [];
    const { by_email, by_username } = this.cfg.lookup;
    const order: [HttpLookupEndpoint | undefined, 'email' | 'username'][] = needle.includes('@')
      ? [[by_email, 'email'], [by_username, 'username']]
      : [[by_username, 'username']];
    for (const [ep, name] of order) {
      if (!ep) continue;
      const found = await this.lookupVia(ep, name, needle);
      if (isAmbiguous(found)) return AMBIGUOUS;
      if (found) return [this.marked(found)];
    }
    return [];
  }

  async findById(id: string): Promise<LegacyUser | null> {
    const ep = this.cfg.lookup.by_id;
    if (!ep) throw new StoreError('store.http.lookup.by_id is not configured: users cannot be read by id', { transient: false });
    if (!id) return null;
    const found = await this.lookupVia(ep, 'id', id);
    // user_id is canonical: the service answering "01" with user 1 does not make "01" a name for user 1.
    if (!found || isAmbiguous(found) || found.id !== id) return null;
    return this.marked(found);
  }

  /** Without lookup.by_id the id can't be checked, and the mark is recorded as given. */
  private async canonicalId(id: string): Promise<string | null> {
    if (!this.cfg.lookup.by_id) return id || null;
    return (await this.findById(id))?.id ?? null;
  }

  async markMigrated(id: string): Promise<string | null> {
    const key = await this.canonicalId(id);
    if (!key) return null;
    // better-sqlite3 is synchronous: insert-if-absent and read-back can't interleave with another mark.
    return this.marks('mark', () => {
      this.db.prepare(`INSERT INTO ${this.marksTable} (user_id, migrated_at) VALUES (?, ?) ON CONFLICT(user_id) DO NOTHING`).run(key, new Date().toISOString());
      const row = this.db.prepare(`SELECT migrated_at FROM ${this.marksTable} WHERE user_id = ?`).get(key) as { migrated_at: string } | undefined;
      return row?.migrated_at ?? null;
    });
  }

  async unmarkMigrated(id: string): Promise<boolean> {
    const key = await this.canonicalId(id);
    if (!key) return false;
    this.marks('unmark', () => this.db.prepare(`DELETE FROM ${this.marksTable} WHERE user_id = ?`).run(key));
    return true;
  }

  /**
   * total from store.http.count; migrated and the marks per day counted from the marks file. Without a count endpoint
   * the total is unknown, and this fails (→ 503, logged) rather than report a percentage it can't know. The service
   * keeps no export ledger (exported: null) and can't count its recently active users (activeRemaining: null).
   */
  async migrationStatus(): Promise<MigrationStatus> {
    const ep = this.cfg.count;
    if (!ep) throw new StoreError('store.http.count is not configured: the number of legacy users is unknown', { transient: false });
    const c: Call = { label: `${ep.method} ${ep.path}`, method: ep.method, path: ep.path };
    const r = await this.send(c);
    if (r.status < 200 || r.status > 299) throw this.unexpected(c, r);
    const raw = valueAtPath(this.json(c, r), ep.count_path);
    const total = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (typeof total !== 'number' || !Number.isSafeInteger(total) || total < 0) {
      throw new StoreError(`legacy service ${c.label}: no count ${ep.count_path ? `at "${ep.count_path}"` : 'as the body'}`, { transient: false });
    }
    const days = this.marks('count', () =>
      this.db.prepare(`SELECT strftime('%Y-%m-%d', migrated_at) AS day, COUNT(*) AS n FROM ${this.marksTable} GROUP BY 1 ORDER BY 1`).all(),
    ) as { day: string | null; n: number }[];
    const migrated = days.reduce((a, d) => a + Number(d.n), 0);
    const perDay = days.flatMap((d) => (d.day ? [{ day: d.day, count: Number(d.n) }] : []));
    return { total, migrated, exported: null, remaining: Math.max(0, total - migrated), perDay, activeRemaining: null };
  }

  /** Every user from store.http.list, page by page, in the service's order. */
  async *scan(): AsyncIterable<LegacyUser> {
    const ep = this.cfg.list;
    if (!ep) throw new StoreError('store.http.list is not configured: this store cannot list its users (needed for audit and export)', { transient: false });
    const label = `${ep.method} ${ep.path}`;
    let previousFirst: string | undefined;
    for (let i = 0; ; i++) {
      const c: Call = {
        label,
        method: ep.method,
        path: expandPath(ep.path, { page: ep.first_page + i, offset: i * ep.page_size, limit: ep.page_size }),
      };
      const r = await this.send(c);
      if (r.status < 200 || r.status > 299) throw this.unexpected(c, r);
      const items = valueAtPath(this.json(c, r), ep.items_path);
      if (!Array.isArray(items)) throw new StoreError(`legacy service ${label}: no array ${ep.items_path ? `at "${ep.items_path}"` : 'as the body'}`, { transient: false });
      const users = this.withMarks(items.map((o) => this.toUser(c, o)));
      // A service that ignores the paging parameters would otherwise be listed forever.
      if (users[0] && users[0].id === previousFirst) throw new StoreError(`legacy service ${label}: returned the same page twice (check the paging placeholders)`, { transient: false });
      previousFirst = users[0]?.id;
      for (const u of users) yield u;
      if (items.length < ep.page_size) return;
    }
  }

  async ping(): Promise<void> {
    const ep = this.cfg.health;
    const c: Call = ep ? { label: `${ep.method} ${ep.path}`, method: ep.method, path: ep.path } : { label: 'GET /', method: 'GET', path: '/' };
    const r = await this.send(c);
    if (ep ? r.status < 200 || r.status > 299 : r.status >= 500) throw this.unexpected(c, r);
    this.marks('ping', () => this.db.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    this.agent.destroy();
    if (this.db.open) this.db.close();
  }
}

export function createHttpStore(store: StoreSection): HttpUserStore {
  return new HttpUserStore(store);
}
