/**
 * A reproduction of the runtime Auth0 gives custom-database action scripts and post-login Actions, for the client kit's
 * tests. What it enforces (each rule from Auth0's documentation of custom database scripts and Actions):
 *
 * Scripts (ScriptContainer)
 * - The script is plain source text holding one top-level function, compiled the way Auth0's own template test
 *   harness does it (`return <script text>`), so a script that is not exactly one function expression fails here as it
 *   would there. It is called positionally: login(userNameOrEmail, password, callback), get_user(email, callback), with
 *   an extra `context` before the callback when script context is on.
 * - Free variables: `configuration` (read-only strings), `global` (one object per container: survives between calls,
 *   emptied by recycle() and by a run that overran the limit), `WrongUsernameOrPasswordError`, `ValidationError`,
 *   `UnauthorizedError`; `fetch`, `AbortSignal`, `Buffer`, `console`, timers are the Node globals (fetch may be replaced
 *   by the container's network: a fetch that trusts a test certificate, say). `require` takes Node's built-in modules
 *   only (the canirequire list is not available offline).
 * - Absent: `module`, `exports` and every global Auth0 removed in Node 16 (REMOVED_GLOBALS): reading one throws a
 *   ReferenceError as on Auth0, and is recorded as a violation.
 * - The callback is called exactly once (a second call, or none before the limit, is a violation); the limit is 20 s
 *   (injectable); the first call's arguments are the outcome. A synchronous throw or a rejected promise without a
 *   callback is recorded too.
 * - The profile of a successful login/get_user is checked: user_id (or id) a non-empty string; `app_metadata` flagged
 *   (custom-DB scripts return app metadata as `metadata`); keys outside the documented set flagged; nothing secret.
 *
 * Actions (ActionsRuntime)
 * - The Action is a CommonJS module exporting onExecutePostLogin(event, api); the event follows the documented
 *   post-login event object (postLoginEvent()); the api has access.deny, user.setAppMetadata/setUserMetadata (batched:
 *   returned with the run, applied by the caller after the flow) and cache.get/set/delete, where get returns a record
 *   {value, expires_at} or undefined and the TTL is in milliseconds (default 15 min, at most 24 h, keys ≤ 64 bytes,
 *   string values ≤ 4 kB, ≤ 20 entries, ≤ 8 kB in all). The same 20 s limit; a throw fails the login.
 */
import { Buffer } from 'node:buffer';
import { builtinModules, createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

/** Auth0 stops a script (and an Action) after about 20 s. */
export const SCRIPT_LIMIT_MS = 20_000;

/** Globals Auth0 removed from custom-DB scripts and Rules with Node 16 ("Breaking changes"). */
export const REMOVED_GLOBALS: readonly string[] = [
  '_', 'async', 'Auth0', 'azure_storage', 'bcrypt', 'crypto', 'couchbase', 'cql', 'ip', 'jwt', 'Knex', 'mongo', 'mysql',
  'mysql_pool', 'ObjectID', 'pbkdf2', 'pg', 'postgres', 'Pubnub', 'q', 'querystring', 'request', 'sqlserver', 'uuid',
  'xml2js', 'xmldom', 'xpath',
];

/** Profile keys the custom-DB login/get_user documentation names (app_metadata is flagged separately). */
export const PROFILE_KEYS: ReadonlySet<string> = new Set([
  'user_id', 'id', 'email', 'email_verified', 'username', 'name', 'nickname', 'given_name', 'family_name', 'picture',
  'user_metadata', 'metadata', 'mfa_factors',
]);

/** Keys that would put a secret into the Auth0 profile. */
const SECRET_KEYS = /^(password|password_hash|passwordhash|hash|salt|access_token|refresh_token|client_secret)$/i;

export class WrongUsernameOrPasswordError extends Error {
  override name = 'WrongUsernameOrPasswordError';
  constructor(
    readonly userNameOrEmail?: string | null,
    message?: string,
  ) {
    super(message ?? 'Wrong username or password.');
  }
  /** Auth0 logs "fp" (known user, wrong password) for a truthy first argument, "fu" (unknown user) otherwise. */
  get logType(): 'fp' | 'fu' {
    return this.userNameOrEmail ? 'fp' : 'fu';
  }
}

export class ValidationError extends Error {
  override name = 'ValidationError';
  constructor(
    readonly code: string,
    message?: string,
  ) {
    super(message ?? code);
  }
}

export class UnauthorizedError extends Error {
  override name = 'UnauthorizedError';
}

export interface ScriptRun {
  /** 'callback': the callback was called (args holds the first call's arguments); 'timeout': not within the limit. */
  outcome: 'callback' | 'timeout';
  args: unknown[];
  /** args[0] when it is set. */
  error?: unknown;
  /** args[1] when it is set. */
  profile?: Record<string, unknown>;
  ms: number;
  /** Rule breaks seen during this run (also kept in the container's list). */
  violations: string[];
}

export interface NetworkRequest {
  method: string;
  url: string;
  /** The status, or 0 when fetch threw. */
  status: number;
}

export interface ContainerOptions {
  configuration: Record<string, string>;
  /** The network the scripts see (default: Node's fetch). Every request is logged in `requests`. */
  fetch?: typeof fetch;
  /** The limit per run, 20 000 ms by default. */
  limitMs?: number;
}

/** Wrap a fetch so that every request is logged (method, URL without query, final status). */
function loggedFetch(base: typeof fetch, log: NetworkRequest[]): typeof fetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const entry: NetworkRequest = { method: (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase(), url: url.split('?')[0]!, status: 0 };
    log.push(entry);
    const res = await base(input, init);
    entry.status = res.status;
    return res;
  };
}

function requireBuiltinsOnly(violations: string[]): (id: string) => unknown {
  const real = createRequire(import.meta.url);
  return (id: string) => {
    const name = id.replace(/^node:/, '');
    if (builtinModules.includes(name)) return real(`node:${name}`);
    violations.push(`require('${id}'): only Node's built-in modules are available in this sandbox`);
    throw new Error(`Cannot find module '${id}'`);
  };
}

/** Check a returned profile against the script-profile rules; returns the problems. */
export function profileProblems(profile: unknown): string[] {
  if (profile === null || typeof profile !== 'object' || Array.isArray(profile)) return ['the profile is not an object'];
  const p = profile as Record<string, unknown>;
  const out: string[] = [];
  const id = p.user_id ?? p.id;
  if (typeof id !== 'string' || id === '') out.push('profile: user_id (or id) must be a non-empty string');
  for (const key of Object.keys(p)) {
    if (SECRET_KEYS.test(key)) out.push(`profile: "${key}" would put a secret into the Auth0 profile`);
    else if (key === 'app_metadata') out.push('profile: app_metadata is returned as "metadata" by custom-DB scripts (app_metadata may look lost on a later merge)');
    else if (!PROFILE_KEYS.has(key)) out.push(`profile: "${key}" is not a documented script-profile key (no documented effect)`);
  }
  return out;
}

/**
 * One Auth0 extensibility container: shared `global`, the configuration of one connection, a network. Runs scripts
 * one after the other or concurrently, as Auth0 does.
 */
export class ScriptContainer {
  global: Record<string, unknown> = {};
  /** Every rule break since the container was made (runs also report their own). */
  readonly violations: string[] = [];
  /** Every request the scripts made. */
  readonly requests: NetworkRequest[] = [];
  /** What the scripts wrote with console.log / console.error (Auth0's real-time logs). */
  readonly logs: string[] = [];
  /** How many times the container was recycled (by recycle() or by a run that overran). */
  recycles = 0;
  readonly limitMs: number;
  private readonly configuration: Record<string, string>;
  private readonly network: typeof fetch;

  constructor(opts: ContainerOptions) {
    this.limitMs = opts.limitMs ?? SCRIPT_LIMIT_MS;
    this.network = loggedFetch(opts.fetch ?? globalThis.fetch, this.requests);
    const violations = this.violations;
    // Not frozen (a Proxy over a frozen target may not report a refused write as done): writes are refused here.
    this.configuration = new Proxy({ ...opts.configuration }, {
      defineProperty(_t, key) {
        violations.push(`configuration is read-only (a script defined ${String(key)})`);
        return true;
      },
      set(_t, key) {
        violations.push(`configuration is read-only (a script assigned ${String(key)})`);
        return true;
      },
      deleteProperty(_t, key) {
        violations.push(`configuration is read-only (a script deleted ${String(key)})`);
        return true;
      },
    });
  }

  /** Auth0 recycles containers at will (at least every ~20 min): `global` starts empty again. */
  recycle(): void {
    this.global = {};
    this.recycles += 1;
  }

  /** Compile a script as Auth0's template harness does (`return <script>`), with this container's free variables. */
  compile(source: string, violations: string[]): ((...args: unknown[]) => unknown) | null {
    const record = (v: string) => {
      violations.push(v);
      this.violations.push(v);
    };
    const absent = new Set([...REMOVED_GLOBALS, 'module', 'exports']);
    const console = {
      log: (...a: unknown[]) => void this.logs.push(a.map(String).join(' ')),
      error: (...a: unknown[]) => void this.logs.push(a.map(String).join(' ')),
      warn: (...a: unknown[]) => void this.logs.push(a.map(String).join(' ')),
      info: (...a: unknown[]) => void this.logs.push(a.map(String).join(' ')),
    };
    const bindings: Record<string, unknown> = {
      configuration: this.configuration,
      global: this.global,
      WrongUsernameOrPasswordError,
      ValidationError,
      UnauthorizedError,
      fetch: this.network,
      console,
      Buffer,
      require: requireBuiltinsOnly(violations),
    };
    const scope = new Proxy(Object.create(null) as Record<string, unknown>, {
      has: (_t, name) => typeof name === 'string' && (name in bindings || absent.has(name)),
      get: (_t, name) => {
        if (name === Symbol.unscopables || typeof name !== 'string') return undefined;
        if (absent.has(name)) {
          record(`uses "${name}", which Auth0's runtime does not have`);
          throw new ReferenceError(`${name} is not defined`);
        }
        return bindings[name];
      },
    });
    let fn: unknown;
    try {
      // Sloppy-mode code (as scripts are) inside `with`: the scope decides which names exist.
      fn = new Function('__auth0_scope__', `with (__auth0_scope__) { return ${source}\n}`)(scope);
    } catch (e) {
      record(`the script does not compile: ${(e as Error).message}`);
      return null;
    }
    if (typeof fn !== 'function') {
      record('the script is not one top-level function (Auth0 compiles it as `return <script>`: it must start with the function)');
      return null;
    }
    return fn as (...args: unknown[]) => unknown;
  }

  /** Run a script with these arguments; the callback is appended (after `context` when one is given). */
  async run(source: string, args: unknown[], opts: { context?: Record<string, unknown>; kind?: 'login' | 'get_user' } = {}): Promise<ScriptRun> {
    const violations: string[] = [];
    const record = (v: string) => {
      violations.push(v);
      this.violations.push(v);
    };
    if (Buffer.byteLength(source) > 100 * 1024) record('the script is larger than 100 kB');
    const started = performance.now();
    const fn = this.compile(source, violations);
    if (!fn) return { outcome: 'callback', args: [new Error('Sandbox: the script cannot run')], error: new Error('compile'), ms: 0, violations };
    const limitMs = this.limitMs;
    return new Promise<ScriptRun>((resolve) => {
      let calls = 0;
      let first: unknown[] | undefined;
      let finished = false;
      const finish = (outcome: ScriptRun['outcome'], callArgs: unknown[]) => {
        if (finished) return;
        finished = true;
        clearTimeout(limit);
        const run: ScriptRun = { outcome, args: callArgs, ms: performance.now() - started, violations };
        if (callArgs[0] !== undefined && callArgs[0] !== null) run.error = callArgs[0];
        if (callArgs[1] !== undefined && callArgs[1] !== null) run.profile = callArgs[1] as Record<string, unknown>;
        if (outcome === 'callback' && run.error === undefined && run.profile !== undefined && opts.kind) {
          for (const p of profileProblems(run.profile)) record(p);
        }
        resolve(run);
      };
      const limit = setTimeout(() => {
        record(`the callback was not called within ${limitMs} ms: Auth0 stops the script and recycles the container`);
        this.recycle();
        finish('timeout', []);
      }, limitMs);
      const callback = (...callArgs: unknown[]) => {
        calls += 1;
        if (calls > 1) {
          record(`the callback was called ${calls} times`);
          return;
        }
        if (finished) {
          record('the callback was called after the time limit');
          return;
        }
        first = callArgs;
        // Let a synchronous second call, or one right behind this one, be seen before the run is reported.
        setImmediate(() => setImmediate(() => finish('callback', first!)));
      };
      const callArgs = opts.context ? [...args, opts.context, callback] : [...args, callback];
      try {
        const returned = fn(...callArgs) as unknown;
        if (returned && typeof (returned as Promise<unknown>).then === 'function') {
          (returned as Promise<unknown>).then(
            () => undefined,
            (e: unknown) => {
              if (calls === 0) record(`the script's promise rejected without a callback: ${(e as Error)?.message ?? String(e)}`);
              else record(`the script's promise rejected after its callback: ${(e as Error)?.message ?? String(e)}`);
            },
          );
        }
      } catch (e) {
        record(`the script threw: ${(e as Error)?.message ?? String(e)}`);
        if (calls === 0) finish('callback', [e]);
      }
    });
  }

  login(source: string, userNameOrEmail: string, password: string, opts: { context?: Record<string, unknown> } = {}): Promise<ScriptRun> {
    return this.run(source, [userNameOrEmail, password], { ...opts, kind: 'login' });
  }

  getUser(source: string, email: string, opts: { context?: Record<string, unknown> } = {}): Promise<ScriptRun> {
    return this.run(source, [email], { ...opts, kind: 'get_user' });
  }
}

/** What Auth0 makes of a login run (§ outcome mapping of the custom-DB documentation). */
export type LoginOutcome =
  | { kind: 'profile'; profile: Record<string, unknown> }
  | { kind: 'fp' | 'fu' }
  | { kind: 'unauthorized'; message: string }
  | { kind: 'failed' }
  | { kind: 'error'; message: string }
  | { kind: 'timeout' };

export function loginOutcome(run: ScriptRun): LoginOutcome {
  if (run.outcome === 'timeout') return { kind: 'timeout' };
  const e = run.error;
  if (e instanceof WrongUsernameOrPasswordError) return { kind: e.logType };
  if (e instanceof UnauthorizedError) return { kind: 'unauthorized', message: e.message };
  if (e instanceof Error) return { kind: 'error', message: e.message };
  if (e !== undefined) return { kind: 'error', message: String(e) };
  return run.profile ? { kind: 'profile', profile: run.profile } : { kind: 'failed' };
}

/** What Auth0 makes of a get_user run: the profile, not found, or "cannot tell" (an error). */
export type GetUserOutcome =
  | { kind: 'profile'; profile: Record<string, unknown> }
  | { kind: 'not_found' }
  | { kind: 'unauthorized'; message: string }
  | { kind: 'error'; message: string }
  | { kind: 'timeout' };

export function getUserOutcome(run: ScriptRun): GetUserOutcome {
  const o = loginOutcome(run);
  if (o.kind === 'failed') return { kind: 'not_found' };
  if (o.kind === 'fp' || o.kind === 'fu') return { kind: 'error', message: 'WrongUsernameOrPasswordError from get_user' };
  return o as GetUserOutcome;
}

// ---------------------------------------------------------------------------------------------------------------
// Actions

export interface PostLoginUser {
  user_id: string;
  email?: string;
  email_verified?: boolean;
  username?: string;
  name?: string;
  app_metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown>;
  identities: { connection: string; provider: string; user_id: string; isSocial: boolean }[];
}

export interface PostLoginEvent {
  connection: { id: string; name: string; strategy: string; metadata: Record<string, unknown> };
  user: PostLoginUser;
  resource_server?: { identifier: string };
  transaction: { requested_scopes: string[]; protocol: string; redirect_uri?: string };
  stats: { logins_count: number };
  secrets: Record<string, string>;
  client: { client_id: string; name: string; metadata: Record<string, unknown> };
  tenant: { id: string };
}

/** A post-login event in the documented shape, for a user of a database connection (strategy "auth0"). */
export function postLoginEvent(opts: {
  connection: string;
  user: Omit<PostLoginUser, 'identities' | 'app_metadata' | 'user_metadata'> & Partial<Pick<PostLoginUser, 'app_metadata' | 'user_metadata'>>;
  secrets: Record<string, string>;
  audience?: string;
  loginsCount?: number;
}): PostLoginEvent {
  const event: PostLoginEvent = {
    connection: { id: 'con_legacy0000000000', name: opts.connection, strategy: 'auth0', metadata: {} },
    user: {
      ...opts.user,
      app_metadata: { ...(opts.user.app_metadata ?? {}) },
      user_metadata: { ...(opts.user.user_metadata ?? {}) },
      // A database user's identity carries the undecorated id (what the scripts returned).
      identities: [{ connection: opts.connection, provider: 'auth0', user_id: opts.user.user_id.replace(/^auth0\|/, ''), isSocial: false }],
    },
    transaction: { requested_scopes: ['openid', 'profile'], protocol: 'oidc-basic-profile', redirect_uri: 'https://app.example.com/callback' },
    stats: { logins_count: opts.loginsCount ?? 1 },
    secrets: { ...opts.secrets },
    client: { client_id: 'app-client-id', name: 'Example app', metadata: {} },
    tenant: { id: 'example-tenant' },
  };
  if (opts.audience !== undefined) event.resource_server = { identifier: opts.audience };
  return event;
}

export interface CacheRecord {
  value: string;
  expires_at: number;
}

export interface ActionRun {
  /** The reason given to api.access.deny, when it was called. */
  denied?: string;
  /** What the Action threw (Auth0 fails the login). */
  threw?: unknown;
  timedOut: boolean;
  /** The batched metadata writes (key → value), applied by the caller after the flow. */
  appMetadata: Record<string, unknown>;
  userMetadata: Record<string, unknown>;
  ms: number;
  violations: string[];
}

const CACHE = { keyBytes: 64, valueBytes: 4096, entries: 20, totalBytes: 8192, defaultTtl: 15 * 60_000, maxTtl: 24 * 3600_000 };

/** One trigger's Actions runtime: the cache outlives an execution (Auth0 only promises it within one). */
export class ActionsRuntime {
  readonly cache = new Map<string, CacheRecord>();
  readonly violations: string[] = [];
  readonly requests: NetworkRequest[] = [];
  readonly logs: string[] = [];
  readonly limitMs: number;
  /** The clock the cache uses (move it forward to expire entries). */
  now: () => number;
  private readonly network: typeof fetch;

  constructor(opts: { fetch?: typeof fetch; limitMs?: number; now?: () => number } = {}) {
    this.limitMs = opts.limitMs ?? SCRIPT_LIMIT_MS;
    this.network = loggedFetch(opts.fetch ?? globalThis.fetch, this.requests);
    this.now = opts.now ?? Date.now;
  }

  /** Load an Action's module text (CommonJS, as Auth0 runs it) and return its exports. */
  load(source: string): Record<string, unknown> {
    const module = { exports: {} as Record<string, unknown> };
    const console = { log: (...a: unknown[]) => void this.logs.push(a.map(String).join(' ')) };
    new Function('exports', 'module', 'require', 'console', 'fetch', source)(module.exports, module, requireBuiltinsOnly(this.violations), console, this.network);
    return module.exports;
  }

  private cacheApi(record: (v: string) => void) {
    const size = (s: string) => Buffer.byteLength(s);
    return {
      get: (key: string): CacheRecord | undefined => {
        const hit = this.cache.get(key);
        if (hit && hit.expires_at <= this.now()) {
          this.cache.delete(key);
          return undefined;
        }
        return hit ? { ...hit } : undefined;
      },
      set: (key: string, value: unknown, options: { ttl?: number; expires_at?: number } = {}): { type: 'success' } | { type: 'error'; code: string } => {
        const fail = (code: string, why: string) => {
          record(`api.cache.set("${key}"): ${why}`);
          return { type: 'error' as const, code };
        };
        if (size(key) > CACHE.keyBytes) return fail('key_too_long', `the key is longer than ${CACHE.keyBytes} bytes`);
        if (typeof value !== 'string') return fail('invalid_value', 'the value must be a string');
        if (size(value) > CACHE.valueBytes) return fail('value_too_long', `the value is larger than ${CACHE.valueBytes} bytes`);
        const now = this.now();
        let expires = now + CACHE.defaultTtl;
        if (options.ttl !== undefined) {
          if (!(options.ttl > 0)) return fail('invalid_ttl', 'ttl must be a positive number of milliseconds');
          expires = now + options.ttl;
        } else if (options.expires_at !== undefined) {
          expires = options.expires_at;
        }
        if (expires - now > CACHE.maxTtl) return fail('ttl_too_long', 'entries live 24 h at most (ttl is in milliseconds)');
        const others = [...this.cache.entries()].filter(([k, r]) => k !== key && r.expires_at > now);
        if (others.length + 1 > CACHE.entries) return fail('too_many_entries', `more than ${CACHE.entries} entries`);
        const total = others.reduce((n, [k, r]) => n + size(k) + size(r.value), 0) + size(key) + size(value);
        if (total > CACHE.totalBytes) return fail('cache_full', `more than ${CACHE.totalBytes} bytes in all`);
        this.cache.set(key, { value, expires_at: expires });
        return { type: 'success' };
      },
      delete: (key: string) => {
        this.cache.delete(key);
        return { type: 'success' as const };
      },
    };
  }

  /** Run one post-login Action on this event. */
  async postLogin(source: string, event: PostLoginEvent): Promise<ActionRun> {
    const violations: string[] = [];
    const record = (v: string) => {
      violations.push(v);
      this.violations.push(v);
    };
    const run: ActionRun = { timedOut: false, appMetadata: {}, userMetadata: {}, ms: 0, violations };
    const api = {
      access: {
        deny: (reason: string) => {
          run.denied = reason;
        },
      },
      user: {
        setAppMetadata: (key: string, value: unknown) => {
          run.appMetadata[key] = value;
        },
        setUserMetadata: (key: string, value: unknown) => {
          run.userMetadata[key] = value;
        },
      },
      cache: this.cacheApi(record),
    };
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const handler = this.load(source).onExecutePostLogin;
      if (typeof handler !== 'function') throw new Error('the Action does not export onExecutePostLogin');
      const limited = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.limitMs);
      });
      const result = await Promise.race([Promise.resolve(handler(structuredClone(event), api)), limited]);
      if (result === 'timeout') {
        run.timedOut = true;
        record(`the Action ran past ${this.limitMs} ms`);
      }
    } catch (e) {
      run.threw = e;
    } finally {
      clearTimeout(timer);
    }
    run.ms = performance.now() - started;
    return run;
  }
}
