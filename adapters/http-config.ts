/**
 * Configuration of the http store (store.http): a legacy system that only exposes a web service.
 *
 * The service's base URL is store.url (https, or http on loopback / with allow_plain_http). Paths below are
 * appended to it. A path's {placeholders} are filled with URL-encoded values, so a login can never change the path.
 * The response field mapping is store.users.columns (and app_metadata / user_metadata), read as dot-separated JSON
 * paths inside the user object; password, salt and password_scheme are never read (the service checks passwords).
 */
import { z } from 'zod';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH'] as const;
const method = z.enum(METHODS);

/** A dot-separated path into a JSON document ("data.user", "items.0"). */
export const jsonPath = z
  .string()
  .regex(/^[A-Za-z0-9_$-]{1,128}(\.[A-Za-z0-9_$-]{1,128}){0,15}$/, 'must be a dot-separated JSON path (data.user)');

/** A JSON body field name. */
const fieldName = z.string().regex(/^[A-Za-z0-9_$-]{1,128}$/, 'must be a plain field name');

/** Status codes a response is interpreted by (only 4xx make sense for "no" answers). */
const statusList = z.array(z.number().int().min(400).max(499)).min(1);

/** The {placeholders} of a path. */
export function placeholders(path: string): string[] {
  return [...path.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!);
}

/** An endpoint path: starts with "/", no whitespace or fragment, only the given {placeholders}. */
function pathOf(allowed: readonly string[]) {
  return z
    .string()
    .regex(/^\/[^\s#{}]*(\{[a-z_]+\}[^\s#{}]*)*$/, 'must start with "/" (relative to store.url), without spaces, "#" or stray braces')
    .superRefine((p, ctx) => {
      for (const name of placeholders(p)) {
        if (!allowed.includes(name)) {
          ctx.addIssue({
            code: 'custom',
            message: `unknown placeholder {${name}}${allowed.length ? ` (allowed here: ${allowed.map((a) => `{${a}}`).join(', ')})` : ' (none allowed here)'}`,
          });
        }
      }
    });
}

/** A lookup endpoint (by_email, by_username, by_id): the value goes in the path, or in a JSON body field. */
function lookupEndpoint(placeholder: string) {
  return z
    .object({
      method: method.default('GET'),
      path: pathOf([placeholder]),
      /** POST/PUT/PATCH: send {"<json_field>": value} as the body instead of (or besides) the path placeholder. */
      json_field: fieldName.optional(),
      /** Where the user object is in this endpoint's response (default: response.user_path). */
      user_path: jsonPath.optional(),
    })
    .strict()
    .superRefine((e, ctx) => {
      if (!e || typeof e.path !== 'string') return;
      if (e.json_field && e.method === 'GET') ctx.addIssue({ code: 'custom', path: ['json_field'], message: 'needs method POST, PUT or PATCH' });
      if (!e.json_field && !placeholders(e.path).includes(placeholder)) {
        ctx.addIssue({ code: 'custom', path: ['path'], message: `must contain {${placeholder}} (or set json_field)` });
      }
    });
}

const verifySchema = z.discriminatedUnion('mode', [
  z
    .object({
      /** Call the endpoint with the user's credentials as HTTP Basic (Auth0's "request" template: GET /profile). */
      mode: z.literal('basic'),
      method: method.default('GET'),
      path: pathOf(['login']),
      /** Statuses meaning "these credentials are not accepted" (unknown user and wrong password alike). */
      reject_status: statusList.default([401, 404]),
      user_path: jsonPath.optional(),
    })
    .strict(),
  z
    .object({
      /** POST {"<login_field>": login, "<password_field>": password} as JSON. */
      mode: z.literal('json'),
      method: method.exclude(['GET']).default('POST'),
      path: pathOf(['login']),
      login_field: fieldName.default('username'),
      password_field: fieldName.default('password'),
      reject_status: statusList.default([401, 404]),
      user_path: jsonPath.optional(),
    })
    .strict(),
]);

const filePath = z.string().min(1);

const authSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  /** Authorization: Basic for the service itself (use ${ENV} for the password). */
  z.object({ type: z.literal('basic'), username: z.string().min(1), password: z.string() }).strict(),
  /** Authorization: Bearer <token> (use ${ENV}). */
  z.object({ type: z.literal('bearer'), token: z.string().min(1) }).strict(),
  /** A client certificate (PEM files); the service's CA, if private, is store.http.ca_file. */
  z
    .object({ type: z.literal('mtls'), cert_file: filePath, key_file: filePath, key_passphrase: z.string().optional() })
    .strict(),
]);

/** Header names the gateway sets itself: they can't be overridden through store.http.headers. */
const RESERVED_HEADERS = ['authorization', 'host', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'accept', 'accept-encoding'];

export const httpStoreConfig = z
  .object({
    /**
     * Required: the gateway can't write to the legacy service, so migration marks are kept in a small SQLite file
     * that the gateway owns (created if absent; table store.migration.table, default legacy_gateway_migrations).
     * One file per deployment: several gateway instances must share it (one host, or a shared volume).
     */
    migration_db: z.string().min(1),
    /** Per call, connection + response (default: store.query_timeout_ms). Timeouts answer 503. */
    timeout_ms: z.number().int().min(1).max(60_000).optional(),
    verify: verifySchema,
    lookup: z
      .object({
        /** Used for logins containing "@". */
        by_email: lookupEndpoint('email').optional(),
        /** Used for logins without "@", and for logins with "@" that by_email does not know. */
        by_username: lookupEndpoint('username').optional(),
        /**
         * GET /v1/users/{id}, and the existence check before a migration mark. Without it, GET /v1/users/{id}
         * answers 503 (logged: not configured) and marks are recorded for any id (the IdP marks ids it got from us).
         */
        by_id: lookupEndpoint('id').optional(),
        /** Statuses meaning "no such user" (a 409 always means "more than one"). */
        not_found_status: statusList.default([404]),
      })
      .strict()
      .refine((l) => !!l.by_email || !!l.by_username, { message: 'set by_email and/or by_username' }),
    /**
     * Total number of legacy users, for /v1/migration/status. Without it the total is unknown and status answers 503
     * (logged: not configured) rather than a made-up percentage.
     */
    count: z
      .object({ method: method.default('GET'), path: pathOf([]), count_path: jsonPath.optional() })
      .strict()
      .optional(),
    /**
     * Every user, page by page, for sampling, audit and export (UserStore.scan). Paged by {page} (from first_page)
     * or {offset}, with {limit} = page_size; a page shorter than page_size is the last. Without it, scan() fails
     * with a StoreError saying so.
     */
    list: z
      .object({
        method: method.default('GET'),
        path: pathOf(['page', 'offset', 'limit']).refine(
          (p) => placeholders(p).some((n) => n === 'page' || n === 'offset'),
          'must contain {page} or {offset}',
        ),
        items_path: jsonPath.optional(),
        page_size: z.number().int().min(1).max(1000).default(100),
        first_page: z.number().int().min(0).default(1),
      })
      .strict()
      .optional(),
    /** Readiness probe (2xx required). Without it, any answer below 500 to GET store.url counts as reachable. */
    health: z.object({ method: method.default('GET'), path: pathOf([]) }).strict().optional(),
    response: z
      .object({
        /** Where the user object is in a response (default: the body itself). An array: 0 → none, 2+ → ambiguous. */
        user_path: jsonPath.optional(),
        /** Responses larger than this are refused (503). */
        max_bytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
      })
      .strict()
      .default({ max_bytes: 1024 * 1024 }),
    /** The service's own authentication. Secrets through ${ENV} interpolation; never logged. */
    auth: authSchema.default({ type: 'none' }),
    /** Extra headers on every call (an API key: { X-Api-Key: ${LEGACY_API_KEY} }). Never logged. */
    headers: z
      .record(z.string(), z.string().regex(/^[^\r\n]*$/, 'no line breaks'))
      .superRefine((hs, ctx) => {
        // Checked here rather than as the record's key schema, so that the message says what is wrong.
        for (const name of Object.keys(hs ?? {})) {
          if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'not an HTTP header name' });
          else if (RESERVED_HEADERS.includes(name.toLowerCase())) {
            ctx.addIssue({ code: 'custom', path: [name], message: 'set by the gateway (the service\'s own Authorization is store.http.auth)' });
          }
        }
      })
      .default({}),
    /** PEM file of the CA that signed the service's certificate (a private CA). */
    ca_file: filePath.optional(),
    /** Allow http:// (cleartext passwords) to a host that is not loopback. */
    allow_plain_http: z.boolean().default(false),
  })
  .strict()
  .superRefine(
    (h, ctx) => {
      if (!h || typeof h !== 'object') return;
      const mode = (h.verify as { mode?: unknown } | undefined)?.mode;
      const type = (h.auth as { type?: unknown } | undefined)?.type;
      if (mode === 'basic' && (type === 'basic' || type === 'bearer')) {
        ctx.addIssue({
          code: 'custom',
          path: ['auth', 'type'],
          message: `verify.mode basic sends the user's credentials in the Authorization header, so the service's own auth can't use it: use mtls, an API key in store.http.headers, or verify.mode json`,
        });
      }
    },
    { when: () => true },
  );

export type HttpStoreConfig = z.infer<typeof httpStoreConfig>;
export type HttpLookupEndpoint = NonNullable<HttpStoreConfig['lookup']['by_email']>;
