/**
 * Ory Kratos's hash comparator (ory/kratos hash/hash_comparator.go,
 * https://github.com/ory/kratos/blob/master/hash/hash_comparator.go, and hasher_pbkdf2.go for the PBKDF2 digests),
 * re-implemented on its own to re-verify what the exporter writes. It shares no code with src/: node:crypto, the
 * bcrypt and argon2 bindings. A format Kratos does not recognise throws (the export would be wrong).
 *
 * Read from the Go source:
 * - dispatch by prefix: $2a/$2b/$2y/$2 bcrypt (passwords over 72 bytes refused), $argon2id$ / $argon2i$ (v=19 only;
 *   salt and hash RawStdEncoding), $pbkdf2-sha<N>$i=,l=$ (RawStdEncoding; digest sha1 | sha256 | sha512, and sha224 /
 *   sha384 are SHA-3!), $scrypt$ln=<N>,r=,p=$ (StdEncoding, ln is N itself), {SSHA}/{SSHA256}/{SSHA512} (sha(password ‖
 *   salt), salt after 20/32/64 bytes), $sha1|sha256|sha512$pf=<b64 format>$<b64 salt>$<b64 hash> (the format with
 *   {SALT} and {PASSWORD} replaced), $md5$<b64> or $md5$pf=..$..$.., $hmac-<alg>$<b64 of hex digest>$<b64 key>;
 *   $md5-crypt$ / $sha256-crypt$ / $sha512-crypt$ (renamed to $1$ / $5$ / $6$ for go-crypt: md5-crypt and Drepper's
 *   SHA-crypt, implemented below from their specifications), $firescrypt$ln=,r=,p=$salt$hash$separator$signer (scrypt
 *   of the password with salt ‖ separator, N = 2^ln, 32 bytes, as the AES-256-CTR key over the signer key, zero IV);
 * - the password is the raw UTF-8 bytes.
 */
import { createCipheriv, createHash, createHmac, pbkdf2Sync, scryptSync, timingSafeEqual } from 'node:crypto';
import { verify as argon2Verify } from '@node-rs/argon2';
import { verify as bcryptVerify } from '@node-rs/bcrypt';

class Unrecognised extends Error {}

/** Go's base64.StdEncoding.Strict(): padded, canonical. */
function std(s: string): Buffer {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) throw new Unrecognised('not padded base64');
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) throw new Unrecognised('non-canonical base64');
  return b;
}

/** Go's base64.RawStdEncoding.Strict(): unpadded, canonical. */
function raw(s: string): Buffer {
  if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) throw new Unrecognised('not unpadded base64');
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64').replace(/=+$/, '') !== s) throw new Unrecognised('non-canonical base64');
  return b;
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function sha(alg: string, data: Buffer): Buffer {
  if (!['sha1', 'sha256', 'sha512'].includes(alg)) throw new Unrecognised(`sha ${alg}`);
  return createHash(alg).update(data).digest();
}

/** strings.NewReplacer("{SALT}", salt, "{PASSWORD}", password).Replace(pf), on bytes. */
function replace(pf: Buffer, salt: Buffer, pw: Buffer): Buffer {
  const s = pf.toString('latin1');
  const out: Buffer[] = [];
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('{SALT}', i)) {
      out.push(salt);
      i += 6;
    } else if (s.startsWith('{PASSWORD}', i)) {
      out.push(pw);
      i += 10;
    } else {
      out.push(Buffer.from(s[i]!, 'latin1'));
      i++;
    }
  }
  return Buffer.concat(out);
}

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function to64(v: number, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++, v >>>= 6) out += ITOA64[v & 0x3f];
  return out;
}

/** Poul-Henning Kamp's md5-crypt ($1$), as FreeBSD's crypt-md5.c defines it. */
export function md5Crypt(pw: Buffer, salt: Buffer): string {
  const magic = Buffer.from('$1$');
  const alt = createHash('md5').update(pw).update(salt).update(pw).digest();
  const ctx = createHash('md5').update(pw).update(magic).update(salt);
  for (let i = pw.length; i > 0; i -= 16) ctx.update(alt.subarray(0, Math.min(16, i)));
  for (let i = pw.length; i > 0; i >>= 1) ctx.update(i & 1 ? Buffer.from([0]) : pw.subarray(0, 1));
  let f = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const c = createHash('md5');
    c.update(i & 1 ? pw : f);
    if (i % 3) c.update(salt);
    if (i % 7) c.update(pw);
    c.update(i & 1 ? f : pw);
    f = c.digest();
  }
  const t = (a: number, b: number, c: number) => to64((f[a]! << 16) | (f[b]! << 8) | f[c]!, 4);
  return t(0, 6, 12) + t(1, 7, 13) + t(2, 8, 14) + t(3, 9, 15) + t(4, 10, 5) + to64(f[11]!, 2);
}

function repeatTo(block: Buffer, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += block.length) block.copy(out, i, 0, Math.min(block.length, n - i));
  return out;
}

const SHA256_ORDER = [[0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14], [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29]];
const SHA512_ORDER = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48], [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10],
  [53, 11, 32], [12, 33, 54], [34, 55, 13], [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

/** Ulrich Drepper's SHA-crypt ($5$ / $6$), as its specification (akkadia.org/drepper/SHA-crypt.txt) defines it. */
export function shaCrypt(alg: 'sha256' | 'sha512', pw: Buffer, saltIn: Buffer, rounds: number): string {
  const salt = saltIn.subarray(0, 16);
  const H = () => createHash(alg);
  const B = H().update(pw).update(salt).update(pw).digest();
  const a = H().update(pw).update(salt);
  a.update(repeatTo(B, pw.length));
  for (let i = pw.length; i > 0; i >>= 1) a.update(i & 1 ? B : pw);
  const A = a.digest();
  const dp = H();
  for (let i = 0; i < pw.length; i++) dp.update(pw);
  const P = repeatTo(dp.digest(), pw.length);
  const ds = H();
  for (let i = 0; i < 16 + A[0]!; i++) ds.update(salt);
  const S = repeatTo(ds.digest(), salt.length);
  let C = A;
  for (let i = 0; i < rounds; i++) {
    const h = H();
    h.update(i & 1 ? P : C);
    if (i % 3) h.update(S);
    if (i % 7) h.update(P);
    h.update(i & 1 ? C : P);
    C = h.digest();
  }
  const order = alg === 'sha256' ? SHA256_ORDER : SHA512_ORDER;
  let out = order.map(([x, y, z]) => to64((C[x!]! << 16) | (C[y!]! << 8) | C[z!]!, 4)).join('');
  out += alg === 'sha256' ? to64((C[31]! << 8) | C[30]!, 3) : to64(C[63]!, 2);
  return out;
}

/** Would Kratos accept this password for this hashed_password? */
export async function kratosVerify(password: string, hashed: string): Promise<boolean> {
  const pw = Buffer.from(password, 'utf8');
  const md5c = /^\$md5-crypt\$([^$]*)\$([^$]+)$/.exec(hashed);
  if (md5c) return md5Crypt(pw, Buffer.from(md5c[1]!, 'latin1')) === md5c[2];
  const shac = /^\$sha(256|512)-crypt\$(?:rounds=(\d+)\$)?([^$]*)\$([^$]+)$/.exec(hashed);
  if (shac) {
    const rounds = shac[2] === undefined ? 5000 : Number(shac[2]);
    if (rounds < 1000 || rounds > 999_999_999) throw new Unrecognised('sha-crypt rounds');
    return shaCrypt(shac[1] === '256' ? 'sha256' : 'sha512', pw, Buffer.from(shac[3]!, 'latin1'), rounds) === shac[4];
  }
  if (hashed.startsWith('$firescrypt$')) {
    const parts = hashed.split('$');
    const m = parts.length === 7 ? /^ln=(\d+),r=(\d+),p=(\d+)$/.exec(parts[2]!) : null;
    if (!m) throw new Unrecognised('firescrypt');
    const N = 2 ** Number(m[1]);
    const [r, p] = [Number(m[2]), Number(m[3])];
    const [salt, hash, separator, signer] = [std(parts[3]!), std(parts[4]!), std(parts[5]!), std(parts[6]!)];
    const key = scryptSync(pw, Buffer.concat([salt, separator]), 32, { N, r, p, maxmem: 256 * N * r + 64 * 1024 * 1024 });
    const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16, 0));
    return same(Buffer.concat([c.update(signer), c.final()]), hash);
  }
  if (/^\$2[abzy]?\$/.test(hashed)) {
    if (pw.length > 72) return false;
    return bcryptVerify(pw, hashed);
  }
  if (/^\$argon2(id|i)\$/.test(hashed)) {
    const parts = hashed.split('$');
    if (parts.length !== 6 || parts[2] !== 'v=19' || !/^m=\d+,t=\d+,p=\d+$/.test(parts[3]!)) throw new Unrecognised('argon2');
    raw(parts[4]!);
    raw(parts[5]!);
    return argon2Verify(hashed, pw);
  }
  if (/^\$pbkdf2-sha[0-9]{1,3}\$/.test(hashed)) {
    const parts = hashed.split('$');
    const m = parts.length === 5 ? /^i=(\d+),l=(\d+)$/.exec(parts[2]!) : null;
    if (!m) throw new Unrecognised('pbkdf2');
    const alg = parts[1]!.split('-')[1]!;
    const prf = { sha1: 'sha1', sha224: 'sha3-224', sha256: 'sha256', sha384: 'sha3-384', sha512: 'sha512' }[alg] ?? 'sha256';
    const salt = raw(parts[3]!);
    const key = raw(parts[4]!);
    return same(pbkdf2Sync(pw, salt, Number(m[1]), key.length, prf), key);
  }
  if (hashed.startsWith('$scrypt$')) {
    const parts = hashed.split('$');
    const m = parts.length === 5 ? /^ln=(\d+),r=(\d+),p=(\d+)$/.exec(parts[2]!) : null;
    if (!m) throw new Unrecognised('scrypt');
    const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const salt = std(parts[3]!);
    const key = std(parts[4]!);
    return same(scryptSync(pw, salt, key.length, { N, r, p, maxmem: 256 * N * r + 64 * 1024 * 1024 }), key);
  }
  const ssha = /^\{(SSHA|SSHA256|SSHA512)\}(.*)$/.exec(hashed);
  if (ssha) {
    const [alg, size] = ({ SSHA: ['sha1', 20], SSHA256: ['sha256', 32], SSHA512: ['sha512', 64] } as const)[ssha[1] as 'SSHA'];
    const decoded = Buffer.from(ssha[2]!, 'base64');
    if (decoded.length < size + 1) throw new Unrecognised('ssha: no salt');
    return same(sha(alg, Buffer.concat([pw, decoded.subarray(size)])), decoded.subarray(0, size));
  }
  const shaM = /^\$(sha1|sha256|sha512)\$/.exec(hashed);
  if (shaM) {
    const parts = hashed.split('$');
    if (parts.length !== 5 || !parts[2]!.startsWith('pf=')) throw new Unrecognised('sha');
    const pf = std(parts[2]!.slice(3));
    return same(sha(shaM[1]!, replace(pf, std(parts[3]!), pw)), std(parts[4]!));
  }
  if (hashed.startsWith('$md5$')) {
    const parts = hashed.split('$');
    if (parts.length === 3) return same(createHash('md5').update(pw).digest(), std(parts[2]!));
    if (parts.length !== 5 || !parts[2]!.startsWith('pf=')) throw new Unrecognised('md5');
    return same(createHash('md5').update(replace(std(parts[2]!.slice(3)), std(parts[3]!), pw)).digest(), std(parts[4]!));
  }
  const hmac = /^\$hmac-(md4|md5|sha1|sha224|sha256|sha384|sha512)\$/.exec(hashed);
  if (hmac) {
    const parts = hashed.split('$');
    if (parts.length !== 4) throw new Unrecognised('hmac');
    const key = std(parts[3]!);
    if (hmac[1] === 'md4') throw new Unrecognised('hmac-md4: not re-verified here');
    const hex = createHmac(hmac[1]!, key).update(pw).digest('hex');
    return same(Buffer.from(hex, 'utf8'), std(parts[2]!));
  }
  throw new Unrecognised('unknown hash algorithm');
}
