/**
 * passport-local-mongoose (saintedlama/passport-local-mongoose), the password plugin of many Express + Mongoose apps.
 * Its setPassword (index.js, lib/pbkdf2.js, defaults in lib/options-validator.js):
 *
 *   salt = crypto.randomBytes(32).toString('hex')                        → the `salt` field (64 hex characters)
 *   hash = crypto.pbkdf2(password, salt, 25000, 512, 'sha256')           → the `hash` field, .toString('hex')
 *
 * The salt is the hex TEXT, used as its UTF-8 bytes (not the 32 bytes it encodes). 'sha256' has been the default
 * digestAlgorithm since version 2.0 (2015); hashes written before that used Node's pbkdf2 default, SHA-1: name the
 * scheme passport_local_mongoose_sha1 for such stores (its published 3.x-compatibility vector is in the fixture).
 *
 * Neither value is self-describing (a bare hex string and a separate salt field), so there is no detect(): the
 * scheme is chosen by name (passwords.scheme, or the passport-local-mongoose preset).
 *
 * Parameters: the plugin's defaults, unless passwords.params.passport_local_mongoose gives { iterations, digest,
 * encoding } (the plugin's iterations / digestAlgorithm / encoding options). keylen needs no setting: PBKDF2's output
 * for a shorter keylen is a prefix of the longer one, so the number of bytes derived is the stored hash's length
 * (at least 16 bytes). Cost is bounded by limits.ts (25000 iterations × 16 SHA-256 blocks = 400,000 work units),
 * and the derivation runs on the libuv pool (node:crypto's async pbkdf2). The comparison is constant-time.
 *
 * Vectors: test/fixtures/passwords/plm.json (scripts/fixtures/plm.py: Python's hashlib.pbkdf2_hmac, plus the vector
 * published in passport-local-mongoose's own test suite).
 */
import { safeEqual } from './compare.js';
import { pbkdf2Bounded } from './kdf.js';
import type { PasswordScheme, VerifyContext } from './types.js';

type Digest = 'sha1' | 'sha256' | 'sha512';

export interface PlmParams {
  iterations: number;
  digest: Digest;
  encoding: 'hex' | 'base64';
}

export const PLM_DEFAULTS: Readonly<PlmParams> = Object.freeze({ iterations: 25000, digest: 'sha256', encoding: 'hex' });

/** Shortest stored hash accepted (bytes): anything shorter is not a password hash worth comparing. */
const MIN_KEYLEN = 16;

/**
 * passwords.params.passport_local_mongoose, read defensively (it only exists once params.ts declares it); any
 * unusable value makes the verification fail closed (null), never a throw.
 */
export function plmParams(ctx: Pick<VerifyContext, 'params'>, defaults: PlmParams): PlmParams | null {
  const raw = (ctx.params as Record<string, unknown> | undefined)?.passport_local_mongoose;
  if (raw === undefined || raw === null) return defaults;
  if (typeof raw !== 'object' || Array.isArray(raw)) return null;
  const o = raw as Record<string, unknown>;
  const out: PlmParams = { ...defaults };
  if (o.iterations !== undefined) {
    if (typeof o.iterations !== 'number' || !Number.isSafeInteger(o.iterations) || o.iterations < 1) return null;
    out.iterations = o.iterations;
  }
  if (o.digest !== undefined) {
    if (o.digest !== 'sha1' && o.digest !== 'sha256' && o.digest !== 'sha512') return null;
    out.digest = o.digest;
  }
  if (o.encoding !== undefined) {
    if (o.encoding !== 'hex' && o.encoding !== 'base64') return null;
    out.encoding = o.encoding;
  }
  return out;
}

/** The stored hash's bytes in the plugin's encoding (Buffer.from(hash, encoding)); null when it is not that encoding. */
function decodeStored(stored: string, encoding: PlmParams['encoding']): Buffer | null {
  if (encoding === 'hex') return /^(?:[0-9a-fA-F]{2})+$/.test(stored) ? Buffer.from(stored, 'hex') : null;
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(stored) || stored.length === 0) return null;
  return Buffer.from(stored, 'base64');
}

function plm(name: string, defaults: PlmParams): PasswordScheme {
  return {
    name,
    async verify(password, stored, ctx) {
      const p = plmParams(ctx, defaults);
      const salt = ctx.row.salt;
      // passport-local-mongoose refuses a user without a salt (NoSaltValueStoredError).
      if (!p || typeof salt !== 'string' || salt.length === 0 || typeof stored !== 'string') return false;
      const expected = decodeStored(stored, p.encoding);
      if (!expected || expected.length < MIN_KEYLEN) return false;
      const got = await pbkdf2Bounded(password, Buffer.from(salt, 'utf8'), p.iterations, expected.length, p.digest);
      return got !== null && safeEqual(got, expected);
    },
  };
}

/** passport-local-mongoose ≥ 2.0 defaults: PBKDF2-HMAC-SHA256, 25000 iterations, 512-byte key, hex. */
export const passportLocalMongoose = plm('passport_local_mongoose', PLM_DEFAULTS);
/** passport-local-mongoose < 2.0 (and apps that set digestAlgorithm: 'sha1'): PBKDF2-HMAC-SHA1, otherwise the same. */
export const passportLocalMongooseSha1 = plm('passport_local_mongoose_sha1', { ...PLM_DEFAULTS, digest: 'sha1' });

export const schemes: PasswordScheme[] = [passportLocalMongoose, passportLocalMongooseSha1];
