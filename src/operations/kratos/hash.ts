/**
 * A legacy password value → Ory Kratos `credentials.password.config.hashed_password`, in the formats Kratos's hash
 * comparator reads (ory/kratos hash/hash_comparator.go, https://github.com/ory/kratos/blob/master/hash/hash_comparator.go;
 * documented at https://www.ory.sh/docs/kratos/manage-identities/import-user-accounts-identities):
 *
 *   bcrypt     $2a$ / $2b$ / $2y$ as is (golang.org/x/crypto/bcrypt; Kratos refuses passwords over 72 bytes)
 *   argon2     $argon2id$v=19$... / $argon2i$v=19$... as is (salt and hash unpadded base64); no argon2d
 *   pbkdf2     $pbkdf2-<sha1|sha256|sha512>$i=<iterations>,l=<key bytes>$<unpadded b64 salt>$<unpadded b64 key>
 *              (Kratos reads sha224 and sha384 as SHA-3: those values are not exported)
 *   scrypt     $scrypt$ln=<N itself, not its log>,r=<r>,p=<p>$<b64 salt>$<b64 key>   (padded standard base64)
 *   md5        $md5$<b64 digest> unsalted; $md5$pf=<b64 format>$<b64 salt>$<b64 digest> salted, where the format is
 *              "{SALT}{PASSWORD}" or "{PASSWORD}{SALT}"
 *   sha1/256/512  $sha1$pf=<b64 format>$<b64 salt>$<b64 digest> (an empty salt for unsalted digests)
 *   ssha       {SSHA} / {SSHA256} / {SSHA512} + base64(digest(password ‖ salt) ‖ salt), salt of at least one byte
 *   hmac       $hmac-<md5|sha1|sha256|sha512>$<b64 of the HEX digest>$<b64 key>
 *   crypt(3)   $md5-crypt$<salt>$<hash> for $1$, $sha256-crypt$[rounds=N$]<salt>$<hash> for $5$, $sha512-crypt$... for $6$
 *              (github.com/go-crypt/crypt decoders behind the renamed prefix); salt of 1..8 (md5) or 1..16 (sha)
 *              characters, rounds 1000..999999999; also inside LDAP {CRYPT}
 *   firebase   $firescrypt$ln=<mem_cost>,r=<rounds>,p=1$<b64 salt>$<b64 hash>$<b64 salt separator>$<b64 signer key>
 *              (Kratos's Firebase scrypt: N = 2^ln, key 32 bytes, AES-256-CTR of the signer key): the project's signer
 *              key travels in every such record, as Firebase's own export requires
 * Kratos hashes the password's UTF-8 bytes: a hash over UTF-16LE or Latin-1 bytes (ASP.NET, ...) can't go, nor MD4
 * (NT hashes). Those users keep their login through the password migration hook (see target.ts).
 */
import type { LegacyUser } from '../../../adapters/types.js';
import type { Config } from '../../config.js';
import { parseSchemeParams } from '../../passwords/params.js';
import { shaCryptRoundsAllowed } from '../../passwords/limits.js';
import { b64, b64raw, toCanonicalHash } from '../export-canonical.js';

export type KratosHashResult = { ok: true; scheme: string; hashed_password: string } | { ok: false; scheme?: string; reason: string };

const PF = { prefix: '{SALT}{PASSWORD}', suffix: '{PASSWORD}{SALT}' } as const;
const PBKDF2_DIGESTS = new Set(['sha1', 'sha256', 'sha512']);
const HMAC_DIGESTS = new Set(['md4', 'md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512']);
const SSHA_TAG = { sha1: 'SSHA', sha256: 'SSHA256', sha512: 'SSHA512' } as const;

/** The user's stored password as a Kratos hashed_password, or why it can't be one. */
export function toKratosHash(user: Pick<LegacyUser, 'password' | 'passwordScheme' | 'salt' | 'username'>, passwords: Config['passwords']): KratosHashResult {
  const c = toCanonicalHash(user, passwords);
  if (!c.ok) return (c.scheme && EXTRA[c.scheme]?.(user.password!.trim(), user, passwords, c.scheme)) || c;
  const { scheme, hash: h } = c;
  const no = (why: 'unsupported_variant' | 'unsupported_params'): KratosHashResult => ({ ok: false, scheme, reason: `${why}:${scheme}` });
  if (c.passwordEncoding !== 'utf8') return no('unsupported_params');
  const ok = (hashed_password: string): KratosHashResult => ({ ok: true, scheme, hashed_password });
  switch (h.kind) {
    case 'bcrypt':
      return ok(h.value);
    case 'argon2':
      return h.variant === 'd' ? no('unsupported_variant') : ok(h.phc);
    case 'pbkdf2':
      if (!PBKDF2_DIGESTS.has(h.digest)) return no('unsupported_variant');
      return ok(`$pbkdf2-${h.digest}$i=${h.iterations},l=${h.key.length}$${b64raw(h.salt)}$${b64raw(h.key)}`);
    case 'scrypt':
      return ok(`$scrypt$ln=${h.N},r=${h.r},p=${h.p}$${b64(h.salt)}$${b64(h.key)}`);
    case 'digest': {
      if (h.alg === 'md4') return { ok: false, scheme, reason: `unsupported_scheme:${scheme}` };
      if (h.alg === 'md5' && h.salt.length === 0) return ok(`$md5$${b64(h.digest)}`);
      if (h.alg !== 'md5' && h.position === 'suffix' && h.salt.length > 0) return ok(`{${SSHA_TAG[h.alg]}}${b64(Buffer.concat([h.digest, h.salt]))}`);
      const pf = h.salt.length === 0 ? '{PASSWORD}' : PF[h.position];
      return ok(`$${h.alg}$pf=${b64(Buffer.from(pf, 'utf8'))}$${b64(h.salt)}$${b64(h.digest)}`);
    }
    case 'hmac':
      if (!HMAC_DIGESTS.has(h.alg)) return no('unsupported_variant');
      return ok(`$hmac-${h.alg}$${b64(Buffer.from(h.digest.toString('hex'), 'utf8'))}$${b64(h.key)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Formats Kratos reads that Auth0 has no equivalent for (so toCanonicalHash can't describe them).

const H64 = '[./0-9A-Za-z]';
const MD5_CRYPT = new RegExp(`^\\$1\\$(${H64}{1,8})\\$(${H64}{22})$`);
const SHA_CRYPT = new RegExp(`^\\$([56])\\$(?:rounds=([1-9][0-9]{3,8})\\$)?(${H64}{1,16})\\$(${H64}{43}|${H64}{86})$`);

function crypt(value: string, scheme: string): KratosHashResult | null {
  const md5 = MD5_CRYPT.exec(value);
  if (md5) return { ok: true, scheme, hashed_password: `$md5-crypt$${md5[1]}$${md5[2]}` };
  const sha = SHA_CRYPT.exec(value);
  if (!sha || sha[4]!.length !== (sha[1] === '5' ? 43 : 86)) return null;
  // The gateway's own cap (src/passwords/limits.ts): a value it refuses to verify is not handed to Kratos either.
  if (sha[2] !== undefined && !shaCryptRoundsAllowed(Number(sha[2]))) return { ok: false, scheme, reason: `over_limits:${scheme}` };
  const rounds = sha[2] === undefined ? '' : `rounds=${sha[2]}$`;
  return { ok: true, scheme, hashed_password: `$sha${sha[1] === '5' ? 256 : 512}-crypt$${rounds}${sha[3]}$${sha[4]}` };
}

/** Standard base64 (padding optional) decoded, or null. */
function unb64(s: string | undefined): Buffer | null {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(s.trim()) || s.trim().replace(/=+$/, '').length % 4 === 1) return null;
  return Buffer.from(s.trim(), 'base64');
}

type Extra = (stored: string, user: Pick<LegacyUser, 'salt'>, passwords: Config['passwords'], scheme: string) => KratosHashResult | null;

const EXTRA: Record<string, Extra> = {
  md5_crypt: (stored, _u, _p, scheme) => crypt(stored, scheme),
  sha256_crypt: (stored, _u, _p, scheme) => crypt(stored, scheme),
  sha512_crypt: (stored, _u, _p, scheme) => crypt(stored, scheme),
  ldap_crypt: (stored, _u, _p, scheme) => {
    const inner = /^\{CRYPT\}(.+)$/i.exec(stored)?.[1];
    return inner === undefined ? null : crypt(inner, scheme);
  },
  firebase_scrypt: (stored, user, passwords, scheme) => {
    const fb = parseSchemeParams(passwords.params).params.firebase;
    const hash = unb64(stored);
    const salt = unb64(user.salt);
    if (!fb || !hash || !salt || hash.length === 0 || salt.length === 0) return null;
    const signer = unb64(fb.signer_key);
    const separator = unb64(fb.salt_separator);
    if (!signer || !separator || signer.length === 0) return null;
    return { ok: true, scheme, hashed_password: `$firescrypt$ln=${fb.mem_cost},r=${fb.rounds},p=1$${b64(salt)}$${b64(hash)}$${b64(separator)}$${b64(signer)}` };
  },
};
