/**
 * Database servers' own password hashes, for stores whose users are the database's logins (or copies of them):
 *
 *   mssql2000               0x0100 ‖ salt(4) ‖ SHA-1(UTF-16LE(pw) ‖ salt) ‖ SHA-1(UTF-16LE(UPPER(pw)) ‖ salt), hex
 *   mssql2005               0x0100 ‖ salt(4) ‖ SHA-1(UTF-16LE(pw) ‖ salt), hex
 *   mssql2012               0x0200 ‖ salt(4) ‖ SHA-512(UTF-16LE(pw) ‖ salt), hex (SQL Server 2012 and later)
 *   oracle11                S: ‖ hex SHA-1(UTF-8(pw) ‖ salt) ‖ hex salt(10)
 *   postgres_scram_sha256   SCRAM-SHA-256$<iterations>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>
 *
 * Names are passlib's (mssql2000, mssql2005, oracle11); passlib has no SQL Server 2012 scheme, and its `scram` is
 * its own multi-digest format, so those two have names of their own.
 *
 * mssql2000 keeps a second, upper-cased digest so that a case-insensitive server can compare without the case (and
 * passlib's verify accepts it). It holds no more than the first one about the password but lets every case
 * variant in: the gateway verifies the case-SENSITIVE digest only, so "PASSWORD" does not open "password".
 *
 * postgres_scram_sha256 recomputes what PostgreSQL stored (auth-scram.c, scram_verify_plain_password; RFC 5802,
 * RFC 7677): SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(pw) or, where SASLprep refuses it, the raw bytes; salt;
 * iterations; 32), StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword,
 * "Server Key"). Both keys must match (PostgreSQL's plain-password check compares the ServerKey; a SCRAM login
 * checks the client's proof against the StoredKey). The iteration count comes from the stored value: it is
 * bounded as PBKDF2 is (limits.ts), and the derivation runs on the libuv pool.
 *
 * All five are self-describing and detected. Every verify() answers true/false only and compares in constant time.
 * Vectors: test/fixtures/passwords/dbserver.json (scripts/fixtures/dbserver.py: passlib, PostgreSQL 15's own
 * CREATE ROLE ... PASSWORD, and hashlib for SQL Server 2012).
 */
import { createHash, createHmac } from 'node:crypto';
import { safeEqual } from './compare.js';
import { pbkdf2Bounded } from './kdf.js';
import { saslprepOrRaw } from './saslprep.js';
import { patternScheme } from './unix.js';
import type { PasswordScheme } from './types.js';


function sha(alg: 'sha1' | 'sha512', ...parts: Uint8Array[]): Buffer {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** SQL Server's nvarchar: UTF-16LE code units as they are. */
const utf16le = (s: string) => Buffer.from(s, 'utf16le');

// ---------------------------------------------------------------------------------------------------------
// SQL Server (pwdencrypt / PWDCOMPARE, sys.sql_logins.password_hash). Hex digits in either case, as passlib.

/** The stored forms (also parsed by the exports, src/operations/auth0/hash.ts): salt, then digest(s). */
export const MSSQL2000 = /^0x0100([0-9a-f]{8})([0-9a-f]{40})[0-9a-f]{40}$/i;
export const MSSQL2005 = /^0x0100([0-9a-f]{8})([0-9a-f]{40})$/i;
export const MSSQL2012 = /^0x0200([0-9a-f]{8})([0-9a-f]{128})$/i;
export const ORACLE11 = /^S:([0-9a-f]{40})([0-9a-f]{20})$/i;

export const mssql2000 = patternScheme('mssql2000', MSSQL2000, (password, m) => {
  const salt = Buffer.from(m[1]!, 'hex');
  return safeEqual(sha('sha1', utf16le(password), salt), Buffer.from(m[2]!, 'hex'));
});

export const mssql2005 = patternScheme('mssql2005', MSSQL2005, (password, m) => {
  const salt = Buffer.from(m[1]!, 'hex');
  return safeEqual(sha('sha1', utf16le(password), salt), Buffer.from(m[2]!, 'hex'));
});

export const mssql2012 = patternScheme('mssql2012', MSSQL2012, (password, m) => {
  const salt = Buffer.from(m[1]!, 'hex');
  return safeEqual(sha('sha512', utf16le(password), salt), Buffer.from(m[2]!, 'hex'));
});

// ---------------------------------------------------------------------------------------------------------
// Oracle 11g (sys.user$.spare4): 'S:' + 40 hex digits of SHA-1(password ‖ salt) + 20 hex digits of the salt.

export const oracle11 = patternScheme('oracle11', ORACLE11, (password, m) => {
  const salt = Buffer.from(m[2]!, 'hex');
  return safeEqual(sha('sha1', Buffer.from(password, 'utf8'), salt), Buffer.from(m[1]!, 'hex'));
});

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL SCRAM-SHA-256 (pg_authid.rolpassword, password_encryption = scram-sha-256, the default since 14)

const B64 = '(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?';
const KEY = '[A-Za-z0-9+/]{43}=';
const SCRAM_RE = new RegExp(`^SCRAM-SHA-256\\$([1-9][0-9]{0,9}):(${B64})\\$(${KEY}):(${KEY})$`);

export const postgresScramSha256 = patternScheme('postgres_scram_sha256', SCRAM_RE, async (password, m) => {
  const iterations = Number(m[1]);
  const salt = Buffer.from(m[2]!, 'base64');
  const storedKey = Buffer.from(m[3]!, 'base64');
  const serverKey = Buffer.from(m[4]!, 'base64');
  if (salt.length === 0 || storedKey.length !== 32 || serverKey.length !== 32) return false;
  const salted = await pbkdf2Bounded(saslprepOrRaw(password), salt, iterations, 32, 'sha256');
  if (!salted) return false; // over the PBKDF2 cap
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const okStored = safeEqual(createHash('sha256').update(clientKey).digest(), storedKey);
  const okServer = safeEqual(createHmac('sha256', salted).update('Server Key').digest(), serverKey);
  return okStored && okServer;
});

/** This family; the patterns are pairwise disjoint (0x0100 + 52 vs 92 hex digits), so the order is free. */
export const schemes: PasswordScheme[] = [mssql2000, mssql2005, mssql2012, oracle11, postgresScramSha256];
