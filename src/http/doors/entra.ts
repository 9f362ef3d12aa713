/**
 * Microsoft Entra External ID just-in-time password migration: the custom authentication extension of the
 * OnPasswordSubmit event (onPasswordSubmitCustomExtension) calls POST /v1/idp/entra/password-submit for a user
 * whose migration property (toBeMigrated) is still true.
 *
 * Authentication: Entra's bearer token for the extension's app registration (issuer, audience and JWKS of the
 * tenant, checked by doorAuth), from Microsoft's authentication events service (azp/appid, authorized_parties).
 * The password never arrives in clear: data.encryptedPasswordContext is a compact JWE (RSA-OAEP, to the public key
 * of the app registration's encryption certificate) whose plaintext is an unsecured JWT carrying "user-password"
 * and "nonce" (and aud/iss/iat/nbf/exp, which are checked when present). The login is the Entra user's mail (what
 * the legacy store knows; userPrincipalName of an External ID user is <object id>@<tenant>.onmicrosoft.com), or
 * userPrincipalName when mail is absent.
 *
 * Always 200 with one action and the nonce echoed: MigratePassword on a match (Entra stores the password and clears
 * the property: it never calls again, so the user is marked migrated, mark_on_success); Retry for a wrong password,
 * an unknown or migrated user or a login naming two accounts; Block (title, message) for an account disabled in the
 * legacy system and after too many failed attempts. 400 for a body or password context Entra would never send
 * (never a 5xx); 503 when the store is down.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { compactDecrypt, decodeJwt, decodeProtectedHeader, errors as joseErrors } from 'jose';
import { ConfigError } from '../../config.js';
import { ApiError } from '../../errors.js';
import { bodyObject, jsonBody, requireJson } from '../body.js';
import { loginSchema, passwordSchema } from '../../routes.js';
import { attempt, doorAuth, field, markAfterMatch, valueAt, type DoorDeps } from './common.js';
import type { EntraDoorConfig } from './config.js';
import { clientGone } from '../gone.js';

/** Key management: RSA-OAEP only (what Entra uses). Never "dir" or another symmetric or key-agreement scheme. */
export const ENTRA_KEY_ALGORITHMS = ['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512'] as const;
export const ENTRA_CONTENT_ALGORITHMS = ['A128CBC-HS256', 'A192CBC-HS384', 'A256CBC-HS512', 'A128GCM', 'A192GCM', 'A256GCM'] as const;
/** Bounds on what is decrypted: a password context is a few hundred bytes. */
const MAX_JWE_CHARS = 16_384;
const MAX_PLAINTEXT_BYTES = 16_384;
const MAX_NONCE_CHARS = 1024;

const ACTION = 'microsoft.graph.passwordSubmit.';

export interface EntraAction {
  '@odata.type': string;
  title?: string;
  message?: string;
}

/** Shown by Entra on its block screen. */
export const ENTRA_BLOCKED = { title: 'Sign-in blocked', message: 'This account is disabled. Contact support.' };
export const entraLimited = (retryAfterS: number) => ({
  title: 'Too many attempts',
  message: `Too many failed sign-in attempts. Try again in ${Math.max(1, Math.ceil(retryAfterS / 60))} minute(s).`,
});

/**
 * The decryption key, read once when the door is built: a PEM RSA private key (PKCS#8 or PKCS#1) of at least 2048
 * bits. Anything else is a ConfigError naming the setting and the reason, never the file's contents.
 */
export function loadDecryptionKey(file: string): KeyObject {
  const setting = 'front_doors.entra.decryption_key_file';
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    throw new ConfigError([`${setting}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    const x = e as { code?: unknown; reason?: unknown };
    const why = typeof x.reason === 'string' ? x.reason : typeof x.code === 'string' ? x.code : 'unreadable';
    throw new ConfigError([`${setting}: ${file} is not an unencrypted PEM private key (${why})`]);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new ConfigError([`${setting}: ${file} must hold an RSA private key, not ${key.asymmetricKeyType ?? 'a secret key'}`]);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new ConfigError([`${setting}: ${file} holds a ${bits}-bit RSA key; at least 2048 bits are required`]);
  return key;
}

const badContext = (why: string) => new ApiError(400, 'invalid_request', `data.encryptedPasswordContext: ${why}`);

/** The claims of the decrypted plaintext: an unsecured JWT ("alg":"none", empty signature), or a bare JSON object. */
function contextClaims(plaintext: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(plaintext).trim();
  } catch {
    throw badContext('the decrypted content is not UTF-8');
  }
  let claims: unknown;
  if (text.startsWith('{')) {
    try {
      claims = JSON.parse(text);
    } catch {
      throw badContext('the decrypted content is not valid JSON');
    }
  } else {
    // Its integrity is the JWE's (an authenticated encryption to our key); a signed inner token is not expected.
    const parts = text.split('.');
    let alg: unknown;
    try {
      alg = parts.length === 3 ? decodeProtectedHeader(text).alg : undefined;
    } catch {
      alg = undefined;
    }
    if (alg !== 'none' || parts[2] !== '') throw badContext('the decrypted content is neither an unsecured JWT ("alg":"none") nor a JSON object');
    try {
      claims = decodeJwt(text);
    } catch {
      throw badContext('the decrypted JWT has no valid claims');
    }
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) throw badContext('the decrypted content is not a JSON object');
  return claims as Record<string, unknown>;
}

export function entraDoor(cfg: EntraDoorConfig, deps: DoorDeps): Router {
  const key = loadDecryptionKey(cfg.decryption_key_file);
  const audiences = new Set(Array.isArray(cfg.auth.jwt.audience) ? cfg.auth.jwt.audience : [cfg.auth.jwt.audience]);
  const parties = new Set(cfg.authorized_parties);
  const tolerance = deps.config.auth.clock_tolerance_s;

  /** After doorAuth: the verified token must come from Entra's authentication events service, not any other app. */
  const fromEntra: RequestHandler = (req, _res, next) => {
    const payload = (req as Request & { auth?: { payload?: Record<string, unknown> } }).auth?.payload ?? {};
    const party = typeof payload.azp === 'string' ? payload.azp : typeof payload.appid === 'string' ? payload.appid : undefined;
    if (party !== undefined && parties.has(party)) {
      next();
      return;
    }
    // An application id, not a secret: what the operator needs to tell a misconfiguration from a stray caller.
    deps.logger.warn({ door: 'entra', client_id: party ?? null }, 'front door: a valid token, but not from an authorized party (front_doors.entra.authorized_parties)');
    next(new ApiError(401, 'invalid_token', 'The bearer token is not valid for this API.', { 'WWW-Authenticate': 'Bearer realm="legacy-gateway", error="invalid_token"' }));
  };

  /** Decrypt and check the password context: {password, nonce}, or a 400. */
  async function passwordContext(jwe: unknown): Promise<{ password: string; nonce: string }> {
    if (typeof jwe !== 'string' || jwe.length === 0) throw badContext(jwe === undefined ? 'required' : 'must be a compact JWE string');
    if (jwe.length > MAX_JWE_CHARS || jwe.split('.').length !== 5) throw badContext('must be a compact JWE (five dot-separated parts)');
    let plaintext: Uint8Array;
    try {
      ({ plaintext } = await compactDecrypt(jwe, key, {
        keyManagementAlgorithms: [...ENTRA_KEY_ALGORITHMS],
        contentEncryptionAlgorithms: [...ENTRA_CONTENT_ALGORITHMS],
        maxDecompressedLength: MAX_PLAINTEXT_BYTES,
      }));
    } catch (e) {
      if (e instanceof joseErrors.JOSEAlgNotAllowed || e instanceof joseErrors.JOSENotSupported) {
        throw badContext(`its algorithms are not accepted (alg ${ENTRA_KEY_ALGORITHMS.join('/')}, enc AES-CBC-HMAC or AES-GCM)`);
      }
      if (e instanceof joseErrors.JWEDecryptionFailed) throw badContext('cannot be decrypted with the configured key (decryption_key_file)');
      throw badContext('is not a valid compact JWE');
    }
    if (plaintext.byteLength > MAX_PLAINTEXT_BYTES) throw badContext('the decrypted content is too large');
    const claims = contextClaims(plaintext);
    // Bound to this extension and to now, when Entra says so (aud: the app id, iss: its identifier URI).
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp !== undefined && (typeof claims.exp !== 'number' || claims.exp <= now - tolerance)) throw badContext('expired (exp)');
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > now + tolerance)) throw badContext('not valid yet (nbf)');
    const named = [...(Array.isArray(claims.aud) ? claims.aud : [claims.aud]), claims.iss].filter((v): v is string => typeof v === 'string');
    if (named.length > 0 && !named.some((n) => audiences.has(n))) {
      throw badContext('made for another application: neither its aud nor its iss is one of front_doors.entra.auth.jwt.audience');
    }
    const nonce = claims.nonce;
    if (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > MAX_NONCE_CHARS) throw badContext('nonce is missing or not a string');
    const p = passwordSchema.safeParse(claims['user-password']);
    if (!p.success) throw badContext(`user-password: ${claims['user-password'] === undefined ? 'required' : (p.error.issues[0]?.message ?? 'invalid')}`);
    return { password: p.data, nonce };
  }

  const answer = (res: Response, nonce: string, action: string, extra: Omit<EntraAction, '@odata.type'> = {}) => {
    res.json({ data: { '@odata.type': 'microsoft.graph.onPasswordSubmitResponseData', actions: [{ '@odata.type': ACTION + action, ...extra }], nonce } });
  };

  const r = Router();
  r.post('/password-submit', ...doorAuth(cfg.auth, deps.config), fromEntra, ...jsonBody(deps.config.server.body_limit), async (req, res) => {
    requireJson(req);
    const body = bodyObject(req);
    const user = 'data.authenticationContext.user';
    const mail = valueAt(body, `${user}.mail`);
    const login = field(loginSchema, body, mail === undefined || mail === null ? `${user}.userPrincipalName` : `${user}.mail`);
    const { password, nonce } = await passwordContext(valueAt(body, 'data.encryptedPasswordContext'));
    const a = await attempt(() => deps.gateway.verify(login, password, clientGone(res)));
    switch (a.kind) {
      case 'match':
        answer(res, nonce, 'MigratePassword');
        // After the answer: Entra waits for the action, not for the mark.
        void markAfterMatch(deps, 'entra', cfg.mark_on_success, a.profile);
        return;
      case 'blocked':
        res.locals.errorCode = 'user_blocked';
        answer(res, nonce, 'Block', ENTRA_BLOCKED);
        return;
      case 'limited':
        // Block, not Retry: a Retry would tell a user with the right password that it is wrong.
        res.locals.errorCode = 'too_many_attempts';
        answer(res, nonce, 'Block', entraLimited(a.retryAfterS));
        return;
      default:
        // mismatch, ambiguous: the user may try again; nothing says which.
        res.locals.errorCode = 'invalid_credentials';
        answer(res, nonce, 'Retry');
    }
  });
  return r;
}
