/**
 * Configuration: one YAML file, ${ENV} interpolation, validated once with zod.
 * This is the only module that reads process.env.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** SQL/Mongo identifier: letters, digits, underscore; optionally schema-qualified (dbo.users). */
const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,127}(\.[A-Za-z_][A-Za-z0-9_$]{0,127})?$/;
const identifier = z.string().regex(IDENT, 'must be a plain identifier (letters, digits, _; optionally schema.name)');
const optionalIdentifier = identifier.nullable().optional();

export const ALLOWED_ALGORITHMS = ['RS256', 'PS256', 'ES256'] as const;

const columnsSchema = z
  .object({
    id: identifier,
    email: optionalIdentifier,
    username: optionalIdentifier,
    password: identifier,
    salt: optionalIdentifier,
    password_scheme: optionalIdentifier,
    email_verified: optionalIdentifier,
    name: optionalIdentifier,
    given_name: optionalIdentifier,
    family_name: optionalIdentifier,
    nickname: optionalIdentifier,
    picture: optionalIdentifier,
    blocked: optionalIdentifier,
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

const migrationSchema = z.union([
  z.object({ column: identifier }).strict(),
  z.object({ table: identifier }).strict(),
]);

const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
        allow_ips: z.array(z.string()).default([]),
        trust_proxy: z.union([z.boolean(), z.number().int().min(0), z.string()]).default(false),
        body_limit: z.string().default('16kb'),
      })
      .strict()
      .default({ host: '0.0.0.0', port: 8080, allow_ips: [], trust_proxy: false, body_limit: '16kb' }),
    auth: z
      .object({
        issuer: z.url(),
        audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        jwks_uri: z.url().optional(),
        clients: z.array(z.string().min(1)).default([]),
        algorithms: z.array(z.enum(ALLOWED_ALGORITHMS)).min(1).default([...ALLOWED_ALGORITHMS]),
        /** Require `sub` to end in "@clients" (a client-credentials token). */
        require_client_subject: z.boolean().default(true),
        clock_tolerance_s: z.number().int().min(0).max(300).default(5),
      })
      .strict(),
    store: z
      .object({
        adapter: z.enum(['sqlite', 'postgres', 'mysql', 'mssql', 'mongodb', 'http']),
        url: z.string().min(1),
        preset: z.string().optional(),
        users: z
          .object({
            table: identifier,
            columns: columnsSchema,
            app_metadata: z.array(identifier).default([]),
            user_metadata: z.array(identifier).default([]),
          })
          .strict(),
        migration: migrationSchema.default({ table: 'legacy_gateway_migrations' }),
        query_timeout_ms: z.number().int().min(1).max(60_000).default(5000),
        pool_max: z.number().int().min(1).max(100).default(10),
      })
      .strict(),
    passwords: z
      .object({
        scheme: z.string().min(1).default('auto'),
        params: z.record(z.string(), z.unknown()).default({}),
      })
      .strict()
      .default({ scheme: 'auto', params: {} }),
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
        redis_url: z.string().nullable().default(null),
      })
      .strict()
      .default({ login_failures: { max: 10, window_s: 900 }, redis_url: null }),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
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
      problems.push(`${path || '(root)'}: environment variable ${name} is not set`);
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

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.') || '(root)';
  let message = issue.message;
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) message = 'required';
  if (issue.code === 'unrecognized_keys') message = `unknown key(s): ${issue.keys.join(', ')}`;
  return `${path}: ${message}`;
}

/** Validate an already-parsed object. Every problem is reported at once. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const interpolated = interpolate(raw ?? {}, env, problems);
  const result = configSchema.safeParse(interpolated);
  if (!result.success) {
    // A missing environment variable is already reported for its path; don't report its empty value again.
    const envPaths = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))));
    problems.push(...result.error.issues.map(formatIssue).filter((p) => !envPaths.has(p.slice(0, p.indexOf(':')))));
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
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
    redisUrl: env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  };
}
