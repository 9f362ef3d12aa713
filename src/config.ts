/**
 * Configuration: one YAML file, ${ENV} interpolation, validated once with zod.
 * This is the only module that reads process.env.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { httpStoreConfig } from '../adapters/http-config.js';
import { mongodbStoreConfig } from '../adapters/mongodb-config.js';
import { doorJwtProblems, frontDoorsSchema } from './http/doors/config.js';
import { parseAllowList, readAllowListFile } from './ipfilter.js';
import { validatePolicy } from './passwords/index.js';
import { applyPreset } from './presets.js';

/** SQL/Mongo identifier: letters, digits, underscore; optionally schema-qualified (dbo.users). */
const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,127}(\.[A-Za-z_][A-Za-z0-9_$]{0,127})?$/;
const identifier = z.string().regex(IDENT, 'must be a plain identifier (letters, digits, _; optionally schema.name)');
/**
 * A column of the users table ("email"), of a joined table by its alias ("m.Email"), or for mongodb a field path
 * ("profile.email"). Relational stores allow at most one dot (checked with the adapter).
 */
const columnRef = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_$]{0,127}(\.[A-Za-z_][A-Za-z0-9_$]{0,127}){0,7}$/, 'must be a column name, or alias.column for a joined table');
const optionalColumn = columnRef.nullable().optional();
const plainName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'must be a plain name (letters, digits, _)');

export const ALLOWED_ALGORITHMS = ['RS256', 'PS256', 'ES256'] as const;

export const TRUST_PROXY_HELP =
  'must be false, a hop count (an integer >= 0: how many proxies always stand in front of the gateway) or a list of the proxies\' addresses/CIDR ranges (e.g. [10.0.0.0/8]); true and other strings are not accepted, since they would believe any X-Forwarded-For a client sends';

/** server.trust_proxy: false | hop count | list of proxy addresses/CIDRs (checked with parseAllowList). */
const trustProxySchema = z.custom<false | number | string[]>(
  (v) => v === false || (typeof v === 'number' && Number.isInteger(v) && v >= 0) || (Array.isArray(v) && v.every((x) => typeof x === 'string')),
  { message: TRUST_PROXY_HELP },
);

const columnsSchema = z
  .object({
    /** The users table's primary key (a column of the users table itself, never of a join). */
    id: plainName,
    email: optionalColumn,
    username: optionalColumn,
    /** Required for every store that keeps hashes (not for http, where the legacy service checks passwords). */
    password: optionalColumn,
    salt: optionalColumn,
    password_scheme: optionalColumn,
    email_verified: optionalColumn,
    name: optionalColumn,
    given_name: optionalColumn,
    family_name: optionalColumn,
    nickname: optionalColumn,
    picture: optionalColumn,
    /** Truthy → blocked. */
    blocked: optionalColumn,
    /** Falsy → blocked (is_active, IsApproved, status). */
    active: optionalColumn,
    /** A timestamp in the future → blocked (ASP.NET Identity's LockoutEnd). */
    locked_until: optionalColumn,
    /** When the user last logged in to the legacy app: status counts the recently active remaining users. */
    last_login: optionalColumn,
  })
  .strict()
  .superRefine(
    (c, ctx) => {
      // Runs even when other columns are wrong, so that every problem is reported at once.
      if (typeof c === 'object' && c !== null && !c.email && !c.username) {
        ctx.addIssue({ code: 'custom', path: ['email'], message: 'required (or set columns.username)' });
      }
    },
    { when: () => true },
  );

const joinSchema = z
  .object({
    table: identifier,
    alias: plainName.refine((a) => a.toLowerCase() !== 'u', 'u is the users table itself'),
    /** users-table column (or alias.column of an earlier join) → column of this table. */
    on: z.record(columnRef, plainName).refine((o) => Object.keys(o).length > 0, 'needs at least one column pair'),
    type: z.enum(['inner', 'left']).default('inner'),
  })
  .strict();

const filterSchema = z
  .object({
    column: columnRef,
    op: z.enum(['=', '<>', 'is_null', 'is_not_null']).default('='),
    value: z.union([z.string(), z.number(), z.boolean()]).optional(),
  })
  .strict()
  .refine((f) => (f.op === '=' || f.op === '<>') === (f.value !== undefined), {
    message: "'=' and '<>' need a value; is_null and is_not_null take none",
  });

const usersSchema = z
  .object({
    /** The users table (the collection for mongodb; unused by http). */
    table: identifier.optional(),
    joins: z.array(joinSchema).default([]),
    /** Rows that are not users of this app (other applications, anonymous rows, soft-deleted rows). */
    filter: z.array(filterSchema).default([]),
    columns: columnsSchema,
    app_metadata: z.array(columnRef).default([]),
    user_metadata: z.array(columnRef).default([]),
  })
  .strict();

type UsersConfig = z.infer<typeof usersSchema>;
const SQL_ADAPTERS = ['sqlite', 'postgres', 'mysql', 'mssql', 'oracle'];

/** Relational stores: a table, a password column, and every alias.column reference naming an earlier join. */
function checkSqlUsers(u: UsersConfig, ctx: z.RefinementCtx): void {
  const at = (...p: (string | number)[]) => ['users', ...p];
  if (!u.table) ctx.addIssue({ code: 'custom', path: at('table'), message: 'required' });
  if (!u.columns.password) ctx.addIssue({ code: 'custom', path: at('columns', 'password'), message: 'required' });
  {
    const aliases = new Set<string>();
    const known = (ref: string) => !ref.includes('.') || aliases.has(ref.split('.')[0]!);
    u.joins.forEach((j, i) => {
      for (const left of Object.keys(j.on)) {
        if (!known(left)) ctx.addIssue({ code: 'custom', path: at('joins', i, 'on', left), message: 'refers to an alias not joined before this one' });
      }
      if (aliases.has(j.alias)) ctx.addIssue({ code: 'custom', path: at('joins', i, 'alias'), message: 'alias used twice' });
      aliases.add(j.alias);
    });
    const check = (ref: unknown, path: (string | number)[]) => {
      if (typeof ref !== 'string') return;
      if (ref.split('.').length > 2) ctx.addIssue({ code: 'custom', path: at(...path), message: 'a column is "name" or "alias.name"' });
      else if (!known(ref)) ctx.addIssue({ code: 'custom', path: at(...path), message: `no join has the alias "${ref.split('.')[0]}"` });
    };
    for (const [k, v] of Object.entries(u.columns ?? {})) check(v, ['columns', k]);
    u.filter.forEach((f, i) => check(f.column, ['filter', i, 'column']));
    u.app_metadata.forEach((c, i) => check(c, ['app_metadata', i]));
    u.user_metadata.forEach((c, i) => check(c, ['user_metadata', i]));
  }
}

/** Escape hatch for the truly odd schema: named, parameterised SELECTs returning the logical column names. */
const queriesSchema = z
  .object({
    /** Bound parameter :login (already trimmed and lower-cased). */
    find_by_login: z.string().min(1).optional(),
    /** Bound parameter :id. */
    find_by_id: z.string().min(1).optional(),
  })
  .strict()
  .refine((q) => Object.values(q).every((s) => !s || !/;\s*\S/.test(s)), 'one statement per query');

/**
 * Where the migration mark lives (a column of the users table, or the gateway's side table), and the export ledger:
 * the gateway's table recording which users `legacy-gateway export` wrote to a bulk-import file.
 */
export const EXPORTS_TABLE = 'legacy_gateway_exports';
const migrationSchema = z.union([
  z.object({ column: identifier, exports_table: identifier.optional() }).strict(),
  z.object({ table: identifier, exports_table: identifier.optional() }).strict(),
]);

/** The export ledger's table (or collection) name. */
export function exportsTable(m: { exports_table?: string | undefined }): string {
  return m.exports_table ?? EXPORTS_TABLE;
}

/**
 * The Auth0 Management API, for `legacy-gateway import --target auth0` (a machine-to-machine application with the
 * create:users and read:users scopes, and the database connection to import into).
 */
const auth0TargetSchema = z
  .object({
    domain: z.string().regex(/^[A-Za-z0-9.-]+(:\d+)?$/, 'must be a host name (tenant.eu.auth0.com), without https://'),
    client_id: z.string().min(1),
    client_secret: z.string().min(1),
    /** The database connection's id (con_...). */
    connection_id: z.string().regex(/^con_[A-Za-z0-9]+$/, 'must be a connection id (con_...)'),
    /** Base URL of the Management API; default https://<domain>. Tests point it at a local stand-in. */
    management_url: z.url().optional(),
    /** Accept an http:// management_url (a local stand-in only). */
    allow_insecure_http: z.boolean().default(false),
  })
  .strict()
  .refine((a) => !a.management_url || a.management_url.startsWith('https:') || a.allow_insecure_http, {
    path: ['management_url'],
    message: 'must be an https:// URL (set allow_insecure_http: true only for a local stand-in)',
  });

const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
        allow_ips: z.array(z.string()).default([]),
        /**
         * Published egress ranges added to allow_ips at start-up: Auth0's ip-ranges.json (format auth0, optionally
         * only some regions) or a plain list, one range per line (format text). src/ipfilter.ts readAllowListFile.
         */
        allow_ips_files: z
          .array(
            z
              .object({
                path: z.string().min(1),
                format: z.enum(['auth0', 'text']).default('text'),
                regions: z.array(z.string().min(1)).default([]),
              })
              .strict(),
          )
          .default([]),
        /**
         * Which X-Forwarded-For entries to believe: false/0 (none: the client is the socket's peer), a hop count
         * (exactly that many proxies always stand in front), or the proxies' own addresses/CIDR ranges.
         */
        trust_proxy: trustProxySchema.default(false),
        body_limit: z.string().default('16kb'),
        /** The whole request head must arrive within this time (slow-headers defence). */
        headers_timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
        /** The whole request (head and body) must arrive within this time (slow-body defence). */
        request_timeout_ms: z.number().int().min(100).max(3_600_000).default(30_000),
        /** An idle keep-alive connection is closed after this time. */
        keep_alive_timeout_ms: z.number().int().min(0).max(600_000).default(5_000),
        /** On SIGTERM/SIGINT: in-flight requests and the store's close() get this long; then sockets are destroyed. */
        shutdown_grace_ms: z.number().int().min(0).max(600_000).default(10_000),
        /**
         * Serve HTTPS instead of HTTP. PEM files, read once at start-up. With request_client_cert the gateway asks
         * every client for a certificate signed by client_ca_file but does not insist on one: a route that needs one
         * (a front door's client_cert auth) checks it; every other route answers without.
         */
        tls: z
          .object({
            cert_file: z.string().min(1),
            key_file: z.string().min(1),
            client_ca_file: z.string().min(1).optional(),
            request_client_cert: z.boolean().default(false),
          })
          .strict()
          .refine((t) => !t.request_client_cert || t.client_ca_file !== undefined, {
            path: ['client_ca_file'],
            message: 'required when request_client_cert is true (the CA that signs the client certificates)',
          })
          .refine((t) => t.request_client_cert || t.client_ca_file === undefined, {
            path: ['request_client_cert'],
            message: 'must be true when client_ca_file is set (otherwise no client certificate is asked for)',
          })
          .optional(),
      })
      .strict()
      .refine((s) => !(s.headers_timeout_ms > s.request_timeout_ms), {
        path: ['headers_timeout_ms'],
        message: 'must not exceed server.request_timeout_ms',
      })
      .default({
        host: '0.0.0.0',
        port: 8080,
        allow_ips: [],
        allow_ips_files: [],
        trust_proxy: false,
        body_limit: '16kb',
        headers_timeout_ms: 10_000,
        request_timeout_ms: 30_000,
        keep_alive_timeout_ms: 5_000,
        shutdown_grace_ms: 10_000,
      }),
    /** /metrics on its own listener (host defaults to loopback); when absent it is served on the main port. */
    metrics: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535),
      })
      .strict()
      .optional(),
    auth: z
      .object({
        issuer: z.url(),
        audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        jwks_uri: z.url().optional(),
        /** Accept http:// for issuer and jwks_uri (a local test issuer). Never in production. */
        allow_insecure_http: z.boolean().default(false),
        /** How the issuer's signing keys are fetched and cached. */
        jwks: z
          .object({
            /** Keys are re-fetched at most this often while tokens keep arriving with known kids. */
            cache_max_age_s: z.number().int().min(0).max(86_400).default(600),
            /** After a fetch (e.g. for an unknown kid), no other fetch for this long. */
            cooldown_s: z.number().int().min(0).max(3_600).default(30),
            /** A JWKS fetch slower than this fails (the request gets 401). */
            timeout_ms: z.number().int().min(100).max(60_000).default(5_000),
          })
          .strict()
          .default({ cache_max_age_s: 600, cooldown_s: 30, timeout_ms: 5_000 }),
        clients: z.array(z.string().min(1)).default([]),
        algorithms: z.array(z.enum(ALLOWED_ALGORITHMS)).min(1).default([...ALLOWED_ALGORITHMS]),
        /** Require `sub` to end in "@clients" (a client-credentials token). */
        require_client_subject: z.boolean().default(true),
        clock_tolerance_s: z.number().int().min(0).max(300).default(5),
      })
      .strict()
      .superRefine(
        (a, ctx) => {
          // Runs even when other auth keys are invalid, so read defensively.
          if (!a || typeof a !== 'object') return;
          for (const key of ['issuer', 'jwks_uri'] as const) {
            const v = (a as Record<string, unknown>)[key];
            if (typeof v !== 'string') continue;
            let protocol: string;
            try {
              protocol = new URL(v).protocol;
            } catch {
              continue; // reported by z.url()
            }
            if (protocol === 'https:') continue;
            if (protocol === 'http:' && a.allow_insecure_http === true) continue;
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message:
                protocol === 'http:'
                  ? 'must be an https:// URL: tokens would be checked against keys fetched in clear text (set auth.allow_insecure_http: true only for a local test issuer)'
                  : 'must be an https:// URL',
            });
          }
        },
        { when: () => true },
      ),
    store: z
      .object({
        adapter: z.enum(['sqlite', 'postgres', 'mysql', 'mssql', 'oracle', 'mongodb', 'http']),
        url: z.string().min(1),
        /** adapter http: the legacy web service's endpoints, auth and response mapping (adapters/http-config.ts). */
        http: httpStoreConfig.optional(),
        /** adapter mongodb: driver-specific options (adapters/mongodb-config.ts). */
        mongodb: mongodbStoreConfig.optional(),
        /** A schema preset (see src/presets.ts); store.users then only needs what differs. */
        preset: z.string().optional(),
        /** Prepended to the users table and joined tables (WordPress's wp_, ...). */
        table_prefix: z.string().regex(/^[A-Za-z0-9_]{0,32}$/, 'letters, digits and _ only').default(''),
        users: usersSchema.default({ joins: [], filter: [], columns: { id: 'id' }, app_metadata: [], user_metadata: [] }),
        queries: queriesSchema.default({}),
        migration: migrationSchema.default({ table: 'legacy_gateway_migrations' }),
        query_timeout_ms: z.number().int().min(1).max(60_000).default(5000),
        pool_max: z.number().int().min(1).max(100).default(10),
      })
      .strict()
      .superRefine(
        (s, ctx) => {
          // Runs even when other store keys are invalid (every problem at once), so read defensively.
          if (!s || typeof s !== 'object') return;
          const users = (s.users ?? {}) as Partial<UsersConfig>;
          const u: UsersConfig = { joins: [], filter: [], app_metadata: [], user_metadata: [], ...users, columns: { id: '', ...(users.columns ?? {}) } } as UsersConfig;
          for (const k of ['joins', 'filter', 'app_metadata', 'user_metadata'] as const) if (!Array.isArray(u[k])) (u as Record<string, unknown>)[k] = [];
          if (!SQL_ADAPTERS.includes(s.adapter) && s.adapter !== 'mongodb' && s.adapter !== 'http') {
            // Unknown adapter (reported by the enum): still report the mapping's own problems.
            if (!u.columns.password) ctx.addIssue({ code: 'custom', path: ['users', 'columns', 'password'], message: 'required' });
          }
          if (SQL_ADAPTERS.includes(s.adapter)) checkSqlUsers(u, ctx);
          if (s.adapter === 'mongodb') {
            if (!u.table) ctx.addIssue({ code: 'custom', path: ['users', 'table'], message: 'required (the collection)' });
            if (!u.columns.password) ctx.addIssue({ code: 'custom', path: ['users', 'columns', 'password'], message: 'required' });
            if (u.joins.length) ctx.addIssue({ code: 'custom', path: ['users', 'joins'], message: 'not supported for mongodb' });
          }
          if (s.adapter === 'http' && !s.http) ctx.addIssue({ code: 'custom', path: ['http'], message: 'required for adapter http' });
        },
        { when: () => true },
      ),
    passwords: z
      .object({
        scheme: z.string().min(1).default('auto'),
        /** Values of columns.password_scheme → scheme names (ASP.NET's PasswordFormat 0/1/2, ...). */
        scheme_map: z.record(z.string(), z.string()).default({}),
        params: z.record(z.string(), z.unknown()).default({}),
      })
      .strict()
      .default({ scheme: 'auto', scheme_map: {}, params: {} }),
    profile: z
      .object({ user_id_prefix: z.string().max(64).default('') })
      .strict()
      .default({ user_id_prefix: '' }),
    limits: z
      .object({
        login_failures: z
          .object({ max: z.number().int().min(1).default(10), window_s: z.number().int().min(1).default(900) })
          .strict()
          .default({ max: 10, window_s: 900 }),
        /** Requests per API client (token client id) and per IdP door within window_s; 429 too_many_requests. */
        client_requests: z
          .object({ max: z.number().int().min(1), window_s: z.number().int().min(1).default(1) })
          .strict()
          .optional(),
        /** Keep the counters in this Redis, shared by every replica (redis://, rediss:// for TLS). */
        redis_url: z
          .string()
          .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
          // The Redis client parses it with the WHATWG URL parser: a URL it can't read would stop `serve` with a
          // bare "Invalid URL". The message never quotes the value (it can hold a password).
          // A password with an unencoded / ? or # parses as a host, a port and a path, query or fragment: refused, so
          // that nothing downstream (check's "Redis at host:port" line) mistakes part of it for the host.
          .refine((v) => {
            try {
              const u = new URL(v);
              decodeURIComponent(u.username);
              decodeURIComponent(u.password);
              return /^(\/\d{0,5})?$/.test(u.pathname) && u.hash === '' && /^(\?[A-Za-z_]+=[^@/:&#]*(&[A-Za-z_]+=[^@/:&#]*)*)?$/.test(u.search);
            } catch {
              return false;
            }
          }, 'is not a valid URL: check the host, the port (a number up to 65535), the database number (the path: /0, /1, ...), and that special characters in the password (/ ? # @ % :) are percent-encoded')
          .nullable()
          .default(null),
        redis: z
          .object({
            /** Redis unreachable: fail_closed answers verify 503 limiter_unavailable; fail_open uses this process's memory. */
            policy: z.enum(['fail_closed', 'fail_open']).default('fail_closed'),
            /** One Redis command may take this long before it counts as a failure. */
            timeout_ms: z.number().int().min(10).max(10_000).default(500),
            key_prefix: z.string().regex(/^[A-Za-z0-9_:.-]{1,64}$/, 'letters, digits, _ : . - only').default('legacy-gateway'),
            /**
             * The HMAC key for the limiter's Redis keys, the same on every replica (use ${VAR}). Falls back to
             * log.audit_key; with neither, keys are unkeyed SHA-256 digests (a start-up warning says so).
             */
            key_secret: z.string().min(16, 'must be at least 16 characters').optional(),
          })
          .strict()
          .default({ policy: 'fail_closed', timeout_ms: 500, key_prefix: 'legacy-gateway' }),
      })
      .strict()
      .default({
        login_failures: { max: 10, window_s: 900 },
        redis_url: null,
        redis: { policy: 'fail_closed', timeout_ms: 500, key_prefix: 'legacy-gateway' },
      }),
    /**
     * The last step before the legacy database is cut off: every endpoint answers as if the store were empty
     * (unknown user, not found, status all zero) without touching it.
     */
    drain: z.boolean().default(false),
    /** The store circuit breaker and the per-request deadline (src/gateway.ts). */
    resilience: z
      .object({
        breaker: z
          .object({
            /** Consecutive store failures that open the breaker. */
            failures: z.number().int().min(1).max(1000).default(5),
            /** How long it stays open before one call probes the store. */
            half_open_after_ms: z.number().int().min(100).max(600_000).default(5000),
          })
          .strict()
          .default({ failures: 5, half_open_after_ms: 5000 }),
        /** verify, lookup and get by id answer within this, or 503 deadline_exceeded (an Auth0 script gets 20 s). */
        deadline_ms: z.number().int().min(100).max(60_000).default(8000),
      })
      .strict()
      .default({ breaker: { failures: 5, half_open_after_ms: 5000 }, deadline_ms: 8000 }),
    /** IdP front doors (/v1/idp/<idp>/...): each is off until its block is present (src/http/doors/). */
    front_doors: frontDoorsSchema.default({}),
    /** Bulk-import targets (`legacy-gateway import`). */
    targets: z.object({ auth0: auth0TargetSchema.optional() }).strict().default({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** The audit log's HMAC key for logins (src/audit.ts); the same on every replica. Use ${VAR}. */
        audit_key: z.string().min(16, 'must be at least 16 characters').optional(),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ColumnsConfig = Config['store']['users']['columns'];

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Replace ${VAR} (and ${VAR:-default}) in every string of the parsed YAML tree. */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, problems: string[], path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, def?: string) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      problems.push(
        v === undefined
          ? `${path || '(root)'}: environment variable ${name} is not set`
          : `${path || '(root)'}: environment variable ${name} is empty (write \${${name}:-} to allow an empty value)`,
      );
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, problems, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolate(v, env, problems, path ? `${path}.${k}` : k)]),
    );
  }
  return value;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function formatIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = issue.path.map(String).join('.') || '(root)';
  let message = issue.message;
  if (issue.code !== 'custom' && issue.code !== 'unrecognized_keys' && valueAt(input, issue.path) === undefined) message = 'required';
  if (issue.code === 'unrecognized_keys') message = `unknown key(s): ${issue.keys.join(', ')}`;
  return `${path}: ${message}`;
}

/**
 * Checks beyond the schema (scheme names, scheme params, IP ranges), run on the raw input even when the schema
 * failed elsewhere, so that every problem is reported at once.
 */
function semanticProblems(input: unknown): string[] {
  const problems: string[] = [];
  const passwords = valueAt(input, ['passwords']);
  if (passwords && typeof passwords === 'object') {
    const p = passwords as { scheme?: unknown; scheme_map?: unknown; params?: unknown };
    problems.push(
      ...validatePolicy({
        scheme: typeof p.scheme === 'string' ? p.scheme : 'auto',
        scheme_map: p.scheme_map && typeof p.scheme_map === 'object' ? (p.scheme_map as Record<string, string>) : {},
        params: (p.params ?? {}) as Record<string, unknown>,
      }),
    );
  }
  const ips = valueAt(input, ['server', 'allow_ips']);
  if (Array.isArray(ips) && ips.every((x) => typeof x === 'string')) problems.push(...parseAllowList(ips).problems);
  const proxies = valueAt(input, ['server', 'trust_proxy']);
  if (Array.isArray(proxies) && proxies.every((x) => typeof x === 'string')) {
    problems.push(...parseAllowList(proxies, 'server.trust_proxy').problems);
  }
  // A front door's jwt must not take the /v1 API's own tokens (src/http/doors/config.ts).
  problems.push(...doorJwtProblems(input));
  return problems;
}

/**
 * `port: ${PORT}` reads the string "8080": where the schema expects a number and the value came whole from ${VAR}
 * interpolation and is all digits, it becomes that number (in place). Nothing else is coerced: "", "8080abc", a
 * quoted "8080" written in the file. True when something changed (the tree must be validated again).
 */
function coerceInterpolatedNumbers(raw: unknown, interpolated: unknown, issues: z.core.$ZodIssue[]): boolean {
  let changed = false;
  for (const issue of issues) {
    if (issue.code !== 'invalid_type' || issue.expected !== 'number' || issue.path.length === 0) continue;
    const source = valueAt(raw, issue.path);
    const value = valueAt(interpolated, issue.path);
    if (typeof source !== 'string' || !/^\$\{[^}]+\}$/.test(source.trim()) || typeof value !== 'string' || !/^\d{1,15}$/.test(value)) continue;
    const parent = valueAt(interpolated, issue.path.slice(0, -1)) as Record<PropertyKey, unknown>;
    parent[issue.path[issue.path.length - 1]!] = Number(value);
    changed = true;
  }
  return changed;
}

/** Validate an already-parsed object. Every problem is reported at once. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const interpolated = applyPreset(interpolate(raw ?? {}, env, problems), problems);
  let result = configSchema.safeParse(interpolated);
  if (!result.success && coerceInterpolatedNumbers(raw, interpolated, result.error.issues)) result = configSchema.safeParse(interpolated);
  if (!result.success) {
    // A missing environment variable is already reported for its path; don't report its empty value again.
    const envPaths = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))));
    problems.push(...result.error.issues.map((i) => formatIssue(i, interpolated)).filter((p) => !envPaths.has(p.slice(0, p.indexOf(':')))));
  }
  problems.push(...semanticProblems(interpolated));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  // server.allow_ips_files: read now, so that check and serve see the same list and a bad file stops start-up.
  const files = result.data.server.allow_ips_files;
  files.forEach((f, i) => {
    const r = readAllowListFile(f, `server.allow_ips_files.${i}`);
    problems.push(...r.problems);
    result.data.server.allow_ips.push(...r.entries);
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data;
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError([`${file}: not valid YAML (${(e as Error).message.split('\n')[0]})`]);
  }
  return parseConfig(raw, env);
}

/** The config path from --config or LEGACY_GATEWAY_CONFIG. */
export function configPathFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag ?? env.LEGACY_GATEWAY_CONFIG;
}

/** Environment knobs for the test suites (kept here so only this module reads the environment). */
export function testEnvironment(env: NodeJS.ProcessEnv = process.env) {
  return {
    requireDatabases: env.TEST_REQUIRE_DB === '1' || env.CI === 'true',
    postgresUrl: env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    mysqlUrl: env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql',
    mssqlUrl: env.TEST_MSSQL_URL,
    oracleUrl: env.TEST_ORACLE_URL,
    mongodbUrl: env.TEST_MONGODB_URL,
    redisUrl: env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    /** Node binaries (colon-separated) the Auth0 client kit also runs on: Auth0's own runtimes (Node 18, 22). */
    nodeRuntimes: (env.TEST_NODE_RUNTIMES ?? '').split(':').filter(Boolean),
  };
}
