/**
 * Forum and shop formats: nested digests over the row's own salt column (or, for SMF, the member's user name).
 *
 *   vbulletin  md5(md5(password) . salt)                     vBulletin 3.x / 4.x (and 5.x's legacy value); `user.salt`
 *   mybb       md5(md5(salt) . md5(password))                MyBB 1.x; `mybb_users.salt`
 *   punbb      sha1(salt . sha1(password))                   PunBB 1.3+ (forum_hash); `users.salt` (and its login's
 *                                                            unsalted sha1 / md5 fallbacks)
 *   smf        sha1(strtolower(member_name) . password)      SMF 1.1 / 2.0; SMF 2.1's bcrypt of the same string too
 *   opencart   sha1(salt . sha1(salt . sha1(password)))      OpenCart 1.5–3.x; `oc_customer.salt` / `oc_user.salt`
 *
 * Each inner digest is PHP's lowercase hex, fed to the next step as text; the stored value is compared with what the
 * forum itself compares it to, as lowercase hex (PHP's ==/=== on md5()/sha1() output). Sources (the forums' own code,
 * phpBB's converters and hashcat's example hashes) are quoted in scripts/fixtures/forum.php, which makes the vectors
 * of test/fixtures/passwords/forum.json.
 *
 * None of these values says what it is (bare hex, the salt in another column), so none is auto-detected: they are
 * used when named (passwords.scheme, the scheme column, or a preset). A row without a salt (or, for smf, a user name)
 * is computed with an empty one, exactly as the forum's PHP would concatenate it: the value then only verifies if it
 * was made that way.
 * passwords.params.password_encoding applies (latin1 for boards still in ISO-8859-1); pepper, salt and
 * digest_encoding don't: these formats define their own computation.
 *
 * Details that are part of each format:
 * - smf: SMF 1.1/2.0 lower-case the name with PHP's strtolower (ASCII letters only, as PHP 8 does and as the C locale
 *   SMF runs in does); SMF 2.1 stores password_hash(lower(member_name) . password, PASSWORD_BCRYPT) with its own
 *   UTF-8-aware strtolower ($smcFunc['strtolower']), and still accepts (and rehashes) 40-hex SHA-1 values: both
 *   shapes verify here. The password is hashed as typed (SMF un-escapes what its request layer HTML-escaped).
 * - opencart: OpenCart 1.5–3.x's Request class runs htmlspecialchars($value, ENT_COMPAT) over every POST field, and
 *   both registration and login hash that escaped text, so `&`, `"`, `<` and `>` in a password are hashed as
 *   `&amp;`, `&quot;`, `&lt;`, `&gt;`; the gateway receives the password as typed and escapes it the same way. Its
 *   login also accepts a bare md5 of the (escaped) password, and OpenCart 4 stores password_hash() bcrypt of the
 *   password as typed (it html_entity_decode()s before hashing): both verify here too.
 * - vbulletin: vBulletin 5.1+ keeps bcrypt values in another column (`token`, with `scheme`); only the legacy
 *   md5 value (`password`, or `token` with scheme `legacy`) is this scheme.
 */
import { createHash } from 'node:crypto';
import { verify as bcryptVerify } from '@node-rs/bcrypt';
import { safeEqual } from './compare.js';
import { define, type Verifier } from './digest.js';
import { bcryptCostAllowed } from './limits.js';
import type { SchemeParams } from './params.js';
import type { PasswordScheme, VerifyContext } from './types.js';

type Alg = 'md5' | 'sha1';

/** PHP's md5()/sha1(): lowercase hex of the bytes, as the bytes of that text. */
function hex(alg: Alg, ...parts: Uint8Array[]): Buffer {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return Buffer.from(h.digest('hex'), 'latin1');
}

/** Text in the configured encoding; null when latin1 cannot represent it. */
function encode(text: string, enc: SchemeParams['password_encoding'] | undefined): Buffer | null {
  if (enc === 'latin1') return /[^\u0000-\u00ff]/.test(text) ? null : Buffer.from(text, 'latin1');
  return Buffer.from(text, enc === 'utf16le' ? 'utf16le' : 'utf8');
}

const MD5_HEX = /^[0-9a-f]{32}$/;
const SHA1_HEX = /^[0-9a-f]{40}$/;
const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

function encodingOf(ctx: VerifyContext | undefined): SchemeParams['password_encoding'] | undefined {
  return (ctx?.params as Partial<SchemeParams> | undefined)?.password_encoding;
}

/**
 * The row's salt column as the forum stored it (UTF-8 text, or latin1 when configured). Absent is empty, as PHP
 * concatenates a NULL column; null only when latin1 cannot hold it.
 */
function rowSalt(ctx: VerifyContext | undefined): Buffer | null {
  const s = ctx?.row?.salt;
  return encode(typeof s === 'string' ? s : '', encodingOf(ctx));
}

/** PHP's strtolower since 8.2 (and under the C locale before): ASCII A-Z only. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** PHP's htmlspecialchars($s, ENT_COMPAT) (double_encode on): & " < > escaped, ' left alone. */
export function htmlspecialcharsCompat(s: string): string {
  return s.replace(/[&"<>]/g, (c) => (c === '&' ? '&amp;' : c === '"' ? '&quot;' : c === '<' ? '&lt;' : '&gt;'));
}

/** Never auto-detected; the stored value is trimmed; wrong types and errors are false (digest.ts define). */
function forumScheme(name: string, verify: Verifier): PasswordScheme {
  return define(name, undefined, (password, stored, ctx) => verify(password, stored.trim(), ctx));
}

/** vBulletin 3/4: md5(md5(password) . salt); salt from `user.salt` (3 characters before 3.8.5, 30 since). */
export const vbulletin = forumScheme('vbulletin', (password, stored, ctx) => {
  const pw = encode(password, encodingOf(ctx));
  const salt = rowSalt(ctx);
  if (!MD5_HEX.test(stored) || !pw || !salt) return false;
  return safeEqual(hex('md5', hex('md5', pw), salt), Buffer.from(stored, 'latin1'));
});

/** MyBB 1.x: salt_password(md5($password), $salt) = md5(md5($salt) . md5($password)). */
export const mybb = forumScheme('mybb', (password, stored, ctx) => {
  const pw = encode(password, encodingOf(ctx));
  const salt = rowSalt(ctx);
  if (!MD5_HEX.test(stored) || !pw || !salt) return false;
  return safeEqual(hex('md5', hex('md5', salt), hex('md5', pw)), Buffer.from(stored, 'latin1'));
});

/** PunBB's forum_trim(): spaces, tabs, line breaks, vertical tabs and no-break spaces at either end. */
const PUNBB_TRIM = /^[ \t\n\r\v\u00a0]+|[ \t\n\r\v\u00a0]+$/g;

/**
 * PunBB 1.3+ (login.php): forum_hash(forum_trim($password), $salt) = sha1($salt . sha1($password)) for a 40-hex
 * value; the same login also accepts an unsalted sha1($password) (40 hex, PunBB 1.2 / FluxBB) and md5($password)
 * (32 hex, older still), and PunBB trims the password first, at registration and at login alike.
 */
export const punbb = forumScheme('punbb', (password, stored, ctx) => {
  const pw = encode(password.replace(PUNBB_TRIM, ''), encodingOf(ctx));
  if (!pw) return false;
  const expected = Buffer.from(stored, 'latin1');
  if (MD5_HEX.test(stored)) return safeEqual(hex('md5', pw), expected);
  if (!SHA1_HEX.test(stored)) return false;
  const salt = rowSalt(ctx);
  if (!salt) return false;
  const salted = safeEqual(hex('sha1', salt, hex('sha1', pw)), expected);
  const unsalted = safeEqual(hex('sha1', pw), expected);
  return salted || unsalted;
});

/** SMF: sha1(strtolower(member_name) . password) (1.1, 2.0), or SMF 2.1's bcrypt of lower(member_name) . password. */
export const smf = forumScheme('smf', async (password, stored, ctx) => {
  const u = ctx?.row?.username;
  const user = typeof u === 'string' ? u : '';
  const enc = encodingOf(ctx);
  if (SHA1_HEX.test(stored)) {
    const msg = encode(asciiLower(user) + password, enc);
    return msg !== null && safeEqual(hex('sha1', msg), Buffer.from(stored, 'latin1'));
  }
  const m = BCRYPT.exec(stored);
  if (!m || !bcryptCostAllowed(m[1]!)) return false;
  const msg = encode(user.toLowerCase() + password, enc);
  return msg !== null && (await bcryptVerify(msg, stored));
});

/**
 * OpenCart: sha1(salt . sha1(salt . sha1(password))) over the HTML-escaped password (1.5–3.x), md5 of the escaped
 * password (its login's legacy branch), or OpenCart 4's password_hash() bcrypt of the password as typed.
 */
export const opencart = forumScheme('opencart', async (password, stored, ctx) => {
  const enc = encodingOf(ctx);
  const m = BCRYPT.exec(stored);
  if (m) {
    const pw = encode(password, enc);
    return pw !== null && bcryptCostAllowed(m[1]!) && (await bcryptVerify(pw, stored));
  }
  const escaped = encode(htmlspecialcharsCompat(password), enc);
  if (!escaped) return false;
  if (MD5_HEX.test(stored)) return safeEqual(hex('md5', escaped), Buffer.from(stored, 'latin1'));
  const salt = rowSalt(ctx);
  if (!SHA1_HEX.test(stored) || !salt) return false;
  return safeEqual(hex('sha1', salt, hex('sha1', salt, hex('sha1', escaped))), Buffer.from(stored, 'latin1'));
});

/** Every scheme of this file; none has detect(). */
export const schemes: PasswordScheme[] = [vbulletin, mybb, punbb, smf, opencart];

