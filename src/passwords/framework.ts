/**
 * Web frameworks' own formats that the other families don't cover:
 *
 *   django_bcrypt      Django's BCryptPasswordHasher: 'bcrypt$' + bcrypt(password) ($2b$ from the bcrypt module)
 *   django_scrypt      Django ≥ 4.0's ScryptPasswordHasher: scrypt$<N>$<salt>$<r>$<p>$<base64 of a 64-byte key>,
 *                      scrypt(UTF-8 password, UTF-8 salt text, N, r, p, dklen 64); defaults N=2^14, r=8, p=1
 *   symfony_sha512     Symfony's MessageDigestPasswordEncoder / MessageDigestPasswordHasher defaults (sha512,
 *                      base64, 5000 iterations): salted = pw + '{' + salt + '}' (pw alone when the salt is empty
 *                      or "0", PHP's falsy strings); digest = sha512(salted); 4999 times digest = sha512(digest ‖
 *                      salted); base64. The salt is the row's salt column (User::getSalt()).
 *   authlogic_sha512   Authlogic's Sha512 crypto provider (the default before Authlogic 3.4 / Rails apps before
 *                      Devise): digest = pw + salt; 20 times digest = hex(sha512(digest)); lowercase hex. The salt
 *                      is the row's salt column (password_salt).
 *
 * passlib's plain `$scrypt$ln=..,r=..,p=..$salt$key` layout is already the `scrypt` scheme of kdf.ts.
 *
 * django_bcrypt and django_scrypt are self-describing and detected (Django's default PASSWORD_HASHERS list has both
 * since 4.0, so the django preset meets them with scheme auto). symfony_sha512 (88 characters of base64) and
 * authlogic_sha512 (128 hex digits, which detection names hex_sha512) are explicit-only: passwords.scheme, or the
 * row's scheme column. Costs read from a stored value are bounded by limits.ts (bcrypt cost, scrypt memory/work);
 * bcrypt and scrypt run on the libuv pool; Symfony's 5000 rounds are hashed in slices that yield to the event loop.
 *
 * Vectors: test/fixtures/passwords/framework.json (scripts/fixtures/framework.py: passlib's django_bcrypt, Django's
 * published test vector and hashlib.scrypt, Debian's Symfony PasswordHasher run in PHP, Authlogic's algorithm run in
 * Ruby and Devise's published Authlogic vector).
 */
import { createHash } from 'node:crypto';
import { verify as bcryptVerify } from '@node-rs/bcrypt';
import { safeEqual } from './compare.js';
import { define } from './digest.js';
import { scryptBounded } from './kdf.js';
import { bcryptCostAllowed } from './limits.js';
import type { PasswordScheme } from './types.js';

// Each scheme is a guarded one (digest.ts define): wrong types, exceptions and rejections all become false.

// ---------------------------------------------------------------------------------------------------------
// Django

/** The stored forms (also parsed by the exports, src/operations/auth0/hash.ts). */
export const DJANGO_BCRYPT = /^bcrypt\$(\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53})$/;

/** Django BCryptPasswordHasher: bcrypt.hashpw(password.encode(), salt), no pre-hash (so 72 bytes count). */
export const djangoBcrypt = define(
  'django_bcrypt',
  DJANGO_BCRYPT,
  async (password, stored) => {
    const m = DJANGO_BCRYPT.exec(stored.trim());
    if (!m || !bcryptCostAllowed(m[2]!)) return false;
    return bcryptVerify(password, m[1]!);
  },
);

/** Django writes N, r and p with %d: other spellings never compare equal in its verify. */
const DEC = '([1-9][0-9]{0,9})';
export const DJANGO_SCRYPT = new RegExp(`^scrypt\\$${DEC}\\$([^$]*)\\$${DEC}\\$${DEC}\\$((?:[A-Za-z0-9+/]{4}){21}[A-Za-z0-9+/]{2}==)$`);

export const djangoScrypt = define(
  'django_scrypt',
  DJANGO_SCRYPT,
  async (password, stored) => {
    const m = DJANGO_SCRYPT.exec(stored.trim());
    if (!m) return false;
    const expected = Buffer.from(m[5]!, 'base64');
    if (expected.length !== 64) return false;
    const got = await scryptBounded(password, Buffer.from(m[2]!, 'utf8'), Number(m[1]), Number(m[3]), Number(m[4]), 64);
    return got !== null && safeEqual(got, expected);
  },
);

// ---------------------------------------------------------------------------------------------------------
// Symfony

/** Symfony's CheckPasswordLengthTrait: passwords over 4096 bytes are refused. */
const SYMFONY_MAX_PASSWORD = 4096;
const SYMFONY_ITERATIONS = 5000;
/** Rounds hashed between two yields to the event loop (~1-2 ms for a short password). */
const SLICE = 500;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export const symfonySha512 = define('symfony_sha512', undefined, async (password, stored, ctx) => {
  const s = stored.trim();
  // MessageDigestPasswordHasher::verify: the length of its own output (88) and no '$'.
  if (!/^[A-Za-z0-9+/]{86}==$/.test(s)) return false;
  const pw = Buffer.from(password, 'utf8');
  if (pw.length > SYMFONY_MAX_PASSWORD) return false;
  const salt = typeof ctx.row.salt === 'string' ? ctx.row.salt : '';
  if (/[{}]/.test(salt)) return false; // "Cannot use { or } in salt."
  const salted = salt === '' || salt === '0' ? pw : Buffer.concat([pw, Buffer.from(`{${salt}}`, 'utf8')]);
  let digest = createHash('sha512').update(salted).digest();
  for (let i = 1; i < SYMFONY_ITERATIONS; i++) {
    if (i % SLICE === 0) await yieldToLoop();
    digest = createHash('sha512').update(digest).update(salted).digest();
  }
  return safeEqual(Buffer.from(digest.toString('base64'), 'latin1'), Buffer.from(s, 'latin1'));
});

// ---------------------------------------------------------------------------------------------------------
// Authlogic

const AUTHLOGIC_STRETCHES = 20;

export const authlogicSha512 = define('authlogic_sha512', undefined, (password, stored, ctx) => {
  const s = stored.trim();
  if (!/^[0-9a-f]{128}$/.test(s)) return false; // Ruby's hexdigest is lowercase and Authlogic compares strings
  const salt = typeof ctx.row.salt === 'string' ? ctx.row.salt : ''; // [password, nil].join == password
  let digest = Buffer.from(password + salt, 'utf8');
  for (let i = 0; i < AUTHLOGIC_STRETCHES; i++) digest = Buffer.from(createHash('sha512').update(digest).digest('hex'), 'latin1');
  return safeEqual(digest, Buffer.from(s, 'latin1'));
});

/** django_bcrypt and django_scrypt (disjoint prefixes) are detected; the other two are explicit-only. */
export const schemes: PasswordScheme[] = [djangoBcrypt, djangoScrypt, symfonySha512, authlogicSha512];
