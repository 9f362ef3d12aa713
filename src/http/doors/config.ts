/**
 * front_doors: one block per identity provider that calls the gateway in its own contract. A door is on when its
 * key is present. Each door's `auth` is exactly one of the shapes below; secrets are compared in constant time.
 */
import { z } from 'zod';

const secret = z.string().min(16, 'must be at least 16 characters (a shared secret an attacker cannot guess)');
/** An HTTP header name (RFC 9110 token). */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, 'must be an HTTP header name');

/** An Entra / OAuth 2.0 issuer whose bearer JWTs the door accepts. */
export const doorJwtSchema = z
  .object({
    issuer: z.url(),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Default: <issuer>/.well-known/jwks.json. */
    jwks_uri: z.url().optional(),
    /** Accept http:// for issuer and jwks_uri (a local test issuer). Never in production. */
    allow_insecure_http: z.boolean().default(false),
    /**
     * When listed, the token's client (azp, client_id, Okta's cid, or sub "<id>@clients") must be one of these:
     * another application of the same issuer that obtains a token for the same audience is refused (401).
     */
    clients: z.array(z.string().min(1)).default([]),
  })
  .strict()
  .refine(
    (j) => j.allow_insecure_http || [j.issuer, j.jwks_uri].every((u) => u === undefined || u.startsWith('https:')),
    { message: 'issuer and jwks_uri must be https:// URLs (allow_insecure_http: true only for a local test issuer)' },
  );

export const doorAuthSchema = z.union([
  z.object({ header: z.object({ name: headerName, value: secret }).strict() }).strict(),
  z.object({ basic: z.object({ username: z.string().min(1).regex(/^[^:]*$/, 'must not contain ":"'), password: secret }).strict() }).strict(),
  z.object({ bearer: secret }).strict(),
  z.object({ jwt: doorJwtSchema }).strict(),
  z
    .object({
      /**
       * A client certificate on the gateway's own HTTPS listener (server.tls with client certificates requested),
       * signed by server.tls.client_ca_file, and, when listed, with one of these SHA-256 fingerprints.
       */
      client_cert: z
        .object({ fingerprints_sha256: z.array(z.string().regex(/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, 'must be a SHA-256 fingerprint (hex, colons allowed)')).default([]) })
        .strict(),
    })
    .strict(),
]);
export type DoorAuth = z.infer<typeof doorAuthSchema>;

const markOnSuccess = z.boolean().default(true);
const uuid = z.uuid();

/** An express/body-parser size: 512kb, 1mb, 20000 (bytes). */
const bodyLimit = z.string().regex(/^\d{1,6}(\.\d+)? ?(b|kb|mb)?$/i, 'must be a size such as 512kb or 1mb');

export const oktaDoorSchema = z
  .object({
    auth: doorAuthSchema,
    /**
     * Default: true without `events`, false with it. The Event Hook's `user.import.password` SUCCESS is the signal
     * that Okta stored the password; marking on VERIFIED as well would refuse the user whom Okta asks again because
     * it could not store the password (an org in read-only service mode).
     */
    mark_on_success: z.boolean().optional(),
    /** Okta Event Hook deliveries (GET verification + POST events) at /v1/idp/okta/events; off when absent. */
    events: z
      .object({
        auth: doorAuthSchema,
        /** Okta batches several System Log events into one delivery: a larger limit than server.body_limit. */
        body_limit: bodyLimit.default('1mb'),
      })
      .strict()
      .optional(),
  })
  .strict()
  .transform((c) => ({ ...c, mark_on_success: c.mark_on_success ?? c.events === undefined }));

export const kratosDoorSchema = z.object({ auth: doorAuthSchema, mark_on_success: markOnSuccess }).strict();

export const keycloakDoorSchema = z
  .object({
    auth: doorAuthSchema,
    mark_on_success: markOnSuccess,
    /** The plugin's "Use user id for credential verification": POST /{legacy id} instead of /{username}. */
    verify_by: z.enum(['login', 'id']).default('login'),
    /** Sent as the user's roles and groups. */
    roles: z.array(z.string().min(1)).default([]),
    groups: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const fusionauthDoorSchema = z
  .object({
    auth: doorAuthSchema,
    mark_on_success: markOnSuccess,
    /** user.id = UUIDv5(legacy user_id, uuid_namespace): stable across logins. */
    uuid_namespace: uuid,
    /**
     * Added to the user FusionAuth creates. applicationId: any UUID-shaped id (FusionAuth takes ids of any version,
     * such as its documented 10000000-0000-0002-0000-000000000001).
     */
    registrations: z.array(z.object({ applicationId: z.guid(), roles: z.array(z.string().min(1)).default([]) }).strict()).default([]),
  })
  .strict();

export const azureB2cDoorSchema = z
  .object({
    auth: doorAuthSchema,
    mark_on_success: markOnSuccess,
    /** Shown to the user by B2C on a wrong password. */
    user_message: z.string().min(1).max(500).default('Incorrect password'),
  })
  .strict();

/**
 * Microsoft's "Azure AD authentication events" service principal: the caller of every custom authentication
 * extension. Its app id is the azp (v2 tokens) or appid (v1) claim of the bearer token Entra sends.
 */
export const ENTRA_AUTHENTICATION_EVENTS_APP_ID = '99045fe1-7639-4a75-9d4a-577b6ca3810f';

export const entraDoorSchema = z
  .object({
    /** Entra's own bearer token for the extension's resource (issuer/audience of the tenant). */
    auth: z.object({ jwt: doorJwtSchema }).strict(),
    /**
     * The token's azp (v2) or appid (v1) must be one of these: a token another application of the tenant obtained
     * for the same resource is refused.
     */
    authorized_parties: z.array(z.string().min(1)).min(1).default([ENTRA_AUTHENTICATION_EVENTS_APP_ID]),
    mark_on_success: markOnSuccess,
    /** PEM private key (PKCS#8 or PKCS#1 RSA) the encryptedPasswordContext JWE is encrypted to. */
    decryption_key_file: z.string().min(1),
  })
  .strict();

export const frontDoorsSchema = z
  .object({
    okta: oktaDoorSchema.optional(),
    kratos: kratosDoorSchema.optional(),
    keycloak: keycloakDoorSchema.optional(),
    fusionauth: fusionauthDoorSchema.optional(),
    azure_b2c: azureB2cDoorSchema.optional(),
    entra: entraDoorSchema.optional(),
  })
  .strict();

export type FrontDoorsConfig = z.infer<typeof frontDoorsSchema>;
export type OktaDoorConfig = z.infer<typeof oktaDoorSchema>;
export type KratosDoorConfig = z.infer<typeof kratosDoorSchema>;
export type KeycloakDoorConfig = z.infer<typeof keycloakDoorSchema>;
export type FusionauthDoorConfig = z.infer<typeof fusionauthDoorSchema>;
export type AzureB2cDoorConfig = z.infer<typeof azureB2cDoorSchema>;
export type EntraDoorConfig = z.infer<typeof entraDoorSchema>;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const audiences = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const sameIssuer = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/**
 * A door's jwt must not accept the /v1 API's own tokens: with the issuer of `auth`, its audience must differ from
 * every audience of `auth.audience` (else a /v1 token with only read:migration, or any token of that API, would open
 * the door and verify passwords and mark users). Read from the raw config (every problem at once, like the schema).
 * Problems as "<path>: <message>".
 */
export function doorJwtProblems(config: unknown): string[] {
  if (!isObject(config) || !isObject(config.auth) || !isObject(config.front_doors)) return [];
  const { issuer } = config.auth;
  if (typeof issuer !== 'string') return [];
  const apiAudiences = new Set(audiences(config.auth.audience));
  const problems: string[] = [];
  const check = (auth: unknown, path: string) => {
    if (!isObject(auth) || !isObject(auth.jwt)) return;
    const j = auth.jwt;
    if (typeof j.issuer !== 'string' || !sameIssuer(j.issuer, issuer)) return;
    const shared = audiences(j.audience).filter((a) => apiAudiences.has(a));
    if (shared.length > 0) {
      problems.push(`${path}.jwt.audience: must differ from auth.audience for the same issuer (${shared.join(', ')}): a /v1 API token would open this door; give the door its own audience`);
    }
  };
  for (const [key, door] of Object.entries(config.front_doors)) {
    if (!isObject(door)) continue;
    check(door.auth, `front_doors.${key}.auth`);
    if (isObject(door.events)) check(door.events.auth, `front_doors.${key}.events.auth`);
  }
  return problems;
}
