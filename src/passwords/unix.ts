/**
 * Unix crypt(3) and PHP-world password schemes:
 *
 *   md5_crypt ($1$), apr_md5_crypt ($apr1$), sha256_crypt ($5$), sha512_crypt ($6$), des_crypt (13 chars),
 *   bsdi_crypt (_ + 19 chars), phpass ($P$ / $H$), drupal7 ($S$), drupal7_upgraded (U$S$, U$P$, U$H$),
 *   wordpress_bcrypt ($wp$2y$...), bcrypt_sha256 (passlib) and django_bcrypt_sha256 (bcrypt_sha256$$2b$...).
 *
 * The crypt(3) algorithms are implemented here from their published specifications (PHK's md5-crypt, Ulrich
 * Drepper's "Unix crypt using SHA-256 and SHA-512", FreeSec/FreeBSD crypt-des.c for traditional and BSDi extended
 * DES, phpass 0.3 / Drupal 7 password.inc, WordPress 6.8 wp_check_password) on top of node:crypto digests, and
 * proven against passlib, libxcrypt, PHP and OpenSSL in test/fixtures/passwords/unix.json.
 *
 * Behaviour shared by all of them:
 * - verify() answers true/false only; malformed stored values, out-of-range parameters and internal errors are false.
 * - Stored values are trimmed; the digest is recomputed from the parsed settings and compared with safeEqual.
 * - A stored value is data, not trusted: the work it asks for (rounds × bytes hashed) is bounded by the work
 *   budget and the rounds / log2 / bcrypt cost caps of limits.ts (about a second on a current core, more on a slow or
 *   busy one), and anything beyond a few milliseconds runs on a small worker-thread pool (this same module,
 *   re-entered), not on the event loop.
 * - C crypt(3) implementations read the password as a NUL-terminated string (so "a\0b" would verify as "a");
 *   we refuse passwords containing NUL for those schemes, as passlib does.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { safeEqual } from './compare.js';
import { bcryptCostAllowed, bsdiRoundsAllowed, LIMITS, phpassLog2Allowed, shaCryptRoundsAllowed, unixWorkAllowed } from './limits.js';
import type { PasswordScheme } from './types.js';

// ---------------------------------------------------------------------------------------------------------------
// Shared encoding helpers
// ---------------------------------------------------------------------------------------------------------------

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const H64 = '[./0-9A-Za-z]';
const BCRYPT64 = '[./A-Za-z0-9]';

/** Index of a crypt base-64 character, or -1. */
function h64Value(c: string): number {
  return ITOA64.indexOf(c);
}

/**
 * The crypt/phpass base-64 encoding: little-endian groups of three bytes, six bits at a time, low bits first
 * (phpass encode64 / Drupal _password_base64_encode). A trailing group of 1 or 2 bytes gives 2 or 3 characters.
 */
function encode64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = Math.min(3, bytes.length - i);
    let v = bytes[i]!;
    if (n > 1) v |= bytes[i + 1]! << 8;
    if (n > 2) v |= bytes[i + 2]! << 16;
    for (let k = 0; k <= n; k++) {
      out += ITOA64[(v >>> (6 * k)) & 0x3f];
    }
  }
  return out;
}

/** md5-crypt and SHA-crypt transpose the digest before encoding it; these are the byte orders (see the specs). */
function transposeEncode(digest: Uint8Array, order: readonly number[]): string {
  const t = new Uint8Array(order.length);
  for (let i = 0; i < order.length; i++) t[i] = digest[order[i]!]!;
  return encode64(t);
}

// Each triple is (B0, B1, B2) of one b64_from_24bit(B2, B1, B0) call, i.e. the reference's triple reversed.
const MD5_ORDER = [12, 6, 0, 13, 7, 1, 14, 8, 2, 15, 9, 3, 5, 10, 4, 11];
const SHA256_ORDER = [
  20, 10, 0, 11, 1, 21, 2, 22, 12, 23, 13, 3, 14, 4, 24, 5, 25, 15, 26, 16, 6, 17, 7, 27, 8, 28, 18, 29, 19, 9, 30, 31,
];
const SHA512_ORDER = [
  42, 21, 0, 1, 43, 22, 23, 2, 44, 45, 24, 3, 4, 46, 25, 26, 5, 47, 48, 27, 6, 7, 49, 28, 29, 8, 50, 51, 30, 9, 10, 52,
  31, 32, 11, 53, 54, 33, 12, 13, 55, 34, 35, 14, 56, 57, 36, 15, 16, 58, 37, 38, 17, 59, 60, 39, 18, 19, 61, 40, 41,
  20, 62, 63,
];

/**
 * One-shot digest: crypto.hash (node >= 20.12) skips the Hash object and is about twice as fast for the short
 * inputs of the stretching loops; createHash otherwise.
 */
const oneShot: (alg: string, data: Uint8Array) => Buffer =
  typeof (nodeCrypto as { hash?: unknown }).hash === 'function'
    ? (alg, data) => nodeCrypto.hash(alg, data, 'buffer')
    : (alg, data) => createHash(alg).update(data).digest();

/**
 * The stretching loop shared by md5-crypt and SHA-crypt: round i hashes
 * (i odd ? P : prev) + (i % 3 ? S : '') + (i % 7 ? P : '') + (i odd ? prev : P).
 * There are only eight layouts, so each is laid out once and only prev is copied in per round.
 */
function stretch(alg: string, rounds: number, initial: Buffer, p: Uint8Array, s: Uint8Array): Buffer {
  const size = initial.length;
  const layouts = Array.from({ length: 8 }, (_, key) => {
    const odd = (key & 1) !== 0;
    const parts: (Uint8Array | null)[] = [odd ? p : null];
    if (key & 2) parts.push(s);
    if (key & 4) parts.push(p);
    parts.push(odd ? null : p);
    const buf = Buffer.alloc(parts.reduce((n, x) => n + (x ? x.length : size), 0));
    let at = 0;
    let prevAt = 0;
    for (const x of parts) {
      if (x) buf.set(x, at);
      else prevAt = at;
      at += x ? x.length : size;
    }
    return { buf, prevAt };
  });
  let prev = initial;
  for (let i = 0; i < rounds; i++) {
    const lay = layouts[(i & 1) | (i % 3 ? 2 : 0) | (i % 7 ? 4 : 0)]!;
    prev.copy(lay.buf, lay.prevAt);
    prev = oneShot(alg, lay.buf);
  }
  return prev;
}

function utf8(password: string): Buffer {
  return Buffer.from(password, 'utf8');
}

function hasNul(b: Uint8Array): boolean {
  return b.includes(0);
}

/** Constant-time comparison of two ASCII strings (the encoded digests). */
function sameAscii(a: string, b: string): boolean {
  return safeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}

// ---------------------------------------------------------------------------------------------------------------
// md5-crypt (PHK, FreeBSD 1994) and Apache's $apr1$ variant
// ---------------------------------------------------------------------------------------------------------------

function rawMd5Crypt(pw: Uint8Array, salt: Uint8Array, magic: string): string {
  const alt = createHash('md5').update(pw).update(salt).update(pw).digest();
  const ctx = createHash('md5').update(pw).update(magic, 'latin1').update(salt);
  for (let pl = pw.length; pl > 0; pl -= 16) ctx.update(alt.subarray(0, Math.min(pl, 16)));
  const zero = new Uint8Array(1);
  const first = pw.subarray(0, 1);
  for (let i = pw.length; i !== 0; i >>>= 1) ctx.update(i & 1 ? zero : first);
  return transposeEncode(stretch('md5', 1000, ctx.digest(), pw, salt), MD5_ORDER);
}

// ---------------------------------------------------------------------------------------------------------------
// SHA-crypt (Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512", 2007)
// ---------------------------------------------------------------------------------------------------------------

function rawShaCrypt(alg: 'sha256' | 'sha512', pw: Uint8Array, salt: Uint8Array, rounds: number): string {
  const size = alg === 'sha256' ? 32 : 64;
  const b = createHash(alg).update(pw).update(salt).update(pw).digest();
  const a = createHash(alg).update(pw).update(salt);
  let cnt = pw.length;
  for (; cnt > size; cnt -= size) a.update(b);
  a.update(b.subarray(0, cnt));
  for (cnt = pw.length; cnt > 0; cnt >>>= 1) a.update(cnt & 1 ? b : pw);
  const aDigest = a.digest();

  const dp = createHash(alg);
  for (let i = 0; i < pw.length; i++) dp.update(pw);
  const dpDigest = dp.digest();
  const pSeq = Buffer.alloc(pw.length);
  for (let i = 0; i < pw.length; i += size) dpDigest.copy(pSeq, i, 0, Math.min(size, pw.length - i));

  const ds = createHash(alg);
  for (let i = 0; i < 16 + aDigest[0]!; i++) ds.update(salt);
  const sSeq = ds.digest().subarray(0, salt.length);

  return transposeEncode(stretch(alg, rounds, aDigest, pSeq, sSeq), alg === 'sha256' ? SHA256_ORDER : SHA512_ORDER);
}

// ---------------------------------------------------------------------------------------------------------------
// DES: traditional crypt(3) and BSDi extended DES, after FreeSec (FreeBSD secure/lib/libcrypt/crypt-des.c)
// ---------------------------------------------------------------------------------------------------------------

// FIPS 46-3 tables, 1-based bit numbers, bit 1 = most significant.
const IP = [
  58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24,
  16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39,
  31, 23, 15, 7,
];
const FP = (() => {
  const fp = new Array<number>(64);
  IP.forEach((from, to) => (fp[from - 1] = to + 1));
  return fp;
})();
const PC1 = [
  57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36, 63, 55,
  47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];
const PC2 = [
  14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52, 31, 37, 47, 55, 30,
  40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];
const KEY_SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
const P32 = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25];
const SBOX: readonly (readonly number[])[] = [
  [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
   4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
  [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
   0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
  [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
   13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
  [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
   10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
  [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
   4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
  [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
   9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
  [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
   1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
  [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
   7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
];

/** SP[j][v]: S-box j applied to the 6-bit input v (b1 = MSB), placed in its nibble and passed through P. */
const SP: Int32Array[] = SBOX.map((box, j) => {
  const t = new Int32Array(64);
  for (let v = 0; v < 64; v++) {
    const row = ((v >> 4) & 2) | (v & 1);
    const col = (v >> 1) & 15;
    const s = (box[row * 16 + col]! << (28 - 4 * j)) >>> 0;
    let out = 0;
    for (let i = 0; i < 32; i++) if ((s >>> (31 - (P32[i]! - 1))) & 1) out |= 1 << (31 - i);
    t[v] = out;
  }
  return t;
});

/** Bit i (1-based, MSB first) of a big-endian byte array. */
function bitAt(bytes: Uint8Array, i: number): number {
  return (bytes[(i - 1) >> 3]! >> (7 - ((i - 1) & 7))) & 1;
}

function permuteBytes(src: Uint8Array, table: readonly number[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(table.length / 8));
  for (let i = 0; i < table.length; i++) if (bitAt(src, table[i]!)) out[i >> 3]! |= 0x80 >> (i & 7);
  return out;
}

interface DesKey {
  kl: Int32Array;
  kr: Int32Array;
}

/** Key schedule from 8 key bytes: 16 subkeys of 48 bits, as two 24-bit halves. */
function desKeySchedule(key: Uint8Array): DesKey {
  const cd = permuteBytes(key, PC1); // 56 bits
  const bits = new Uint8Array(56);
  for (let i = 0; i < 56; i++) bits[i] = bitAt(cd, i + 1);
  const kl = new Int32Array(16);
  const kr = new Int32Array(16);
  let shift = 0;
  const rotated = new Uint8Array(56);
  for (let r = 0; r < 16; r++) {
    shift += KEY_SHIFTS[r]!;
    for (let i = 0; i < 28; i++) {
      rotated[i] = bits[(i + shift) % 28]!;
      rotated[28 + i] = bits[28 + ((i + shift) % 28)]!;
    }
    let l = 0;
    let rr = 0;
    for (let i = 0; i < 24; i++) {
      l = (l << 1) | rotated[PC2[i]! - 1]!;
      rr = (rr << 1) | rotated[PC2[24 + i]! - 1]!;
    }
    kl[r] = l;
    kr[r] = rr;
  }
  return { kl, kr };
}

/** 24-bit salt → the E-box swap mask (FreeSec setup_salt: salt bit i swaps E-output bits i and i+24). */
function saltBits(salt: number): number {
  let bits = 0;
  for (let i = 0; i < 24; i++) if ((salt >>> i) & 1) bits |= 0x800000 >>> i;
  return bits;
}

/**
 * count DES encryptions of a 64-bit block (already through IP) with the salted E-box; returns the block before FP.
 * Consecutive encryptions chain directly (FP followed by IP is the identity).
 */
function desRounds(l0: number, r0: number, key: DesKey, salt: number, count: number): [number, number] {
  const { kl, kr } = key;
  const [s0, s1, s2, s3, s4, s5, s6, s7] = SP as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let l = l0 | 0;
  let r = r0 | 0;
  while (count-- > 0) {
    for (let round = 0; round < 16; round++) {
      // E expansion: eight overlapping 6-bit chunks of r (bits 32,1..5 | 4..9 | ... | 28..32,1).
      let el =
        (((r & 1) << 5) | (r >>> 27)) << 18 |
        ((r >>> 23) & 63) << 12 |
        ((r >>> 19) & 63) << 6 |
        ((r >>> 15) & 63);
      let er =
        ((r >>> 11) & 63) << 18 |
        ((r >>> 7) & 63) << 12 |
        ((r >>> 3) & 63) << 6 |
        (((r & 0x1f) << 1) | (r >>> 31));
      const f0 = (el ^ er) & salt;
      el ^= f0 ^ kl[round]!;
      er ^= f0 ^ kr[round]!;
      const f =
        s0[(el >>> 18) & 63]! | s1[(el >>> 12) & 63]! | s2[(el >>> 6) & 63]! | s3[el & 63]! |
        s4[(er >>> 18) & 63]! | s5[(er >>> 12) & 63]! | s6[(er >>> 6) & 63]! | s7[er & 63]!;
      const next = f ^ l;
      l = r;
      r = next;
    }
    const t = l;
    l = r;
    r = t;
  }
  return [l, r];
}

function bytesToWords(b: Uint8Array): [number, number] {
  return [((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) | 0, ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) | 0];
}

function wordsToBytes(l: number, r: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, l >>> 0);
  v.setUint32(4, r >>> 0);
  return b;
}

/** Full DES of one block: IP, count salted encryptions, FP. */
function desBlock(block: Uint8Array, key: DesKey, salt: number, count: number): Uint8Array {
  const [l, r] = bytesToWords(permuteBytes(block, IP));
  const [ol, or] = desRounds(l, r, key, salt, count);
  return permuteBytes(wordsToBytes(ol, or), FP);
}

/** The 11 output characters of a DES-based crypt from the final 64-bit block. */
function desOutput(block: Uint8Array): string {
  const [r0, r1] = bytesToWords(block);
  const groups: [number, number][] = [
    [(r0 >>> 8) & 0xffffff, 4],
    [((r0 << 16) | ((r1 >>> 16) & 0xffff)) & 0xffffff, 4],
    [(r1 << 2) & 0x3ffff, 3],
  ];
  let out = '';
  for (const [v, n] of groups) for (let k = n - 1; k >= 0; k--) out += ITOA64[(v >>> (6 * k)) & 63];
  return out;
}

/** Up to 8 password bytes, each shifted left one bit (the 7 low bits become the DES key bits), zero padded. */
function desKeyBytes(pw: Uint8Array, from: number): Uint8Array {
  const k = new Uint8Array(8);
  for (let i = 0; i < 8 && from + i < pw.length; i++) k[i] = (pw[from + i]! << 1) & 0xff;
  return k;
}

/** Traditional DES crypt: 2 salt characters (12 bits), 25 iterations, first 8 password bytes. Returns 11 chars. */
function rawDesCrypt(pw: Uint8Array, salt: string): string {
  const s = (h64Value(salt[1]!) << 6) | h64Value(salt[0]!);
  const key = desKeySchedule(desKeyBytes(pw, 0));
  return desOutput(desBlock(new Uint8Array(8), key, saltBits(s), 25));
}

/** BSDi extended DES: 24-bit count and salt, the whole password folded into the key. Returns 11 chars. */
function rawBsdiCrypt(pw: Uint8Array, count: number, salt: number): string {
  let keybuf = desKeyBytes(pw, 0);
  let key = desKeySchedule(keybuf);
  for (let i = 8; i < pw.length; i += 8) {
    keybuf = desBlock(keybuf, key, 0, 1);
    const next = desKeyBytes(pw, i);
    for (let j = 0; j < 8 && i + j < pw.length; j++) keybuf[j]! ^= next[j]!;
    key = desKeySchedule(keybuf);
  }
  return desOutput(desBlock(new Uint8Array(8), key, saltBits(salt), count));
}

// ---------------------------------------------------------------------------------------------------------------
// phpass portable hashes ($P$, $H$) and Drupal 7 ($S$): hash(salt . pw), then 2^n × hash(hash . pw)
// ---------------------------------------------------------------------------------------------------------------

function rawPhpass(alg: 'md5' | 'sha512', pw: Uint8Array, salt: Uint8Array, log2: number): string {
  let h: Buffer = createHash(alg).update(salt).update(pw).digest();
  const buf = Buffer.alloc(h.length + pw.length);
  buf.set(pw, h.length);
  for (let count = 2 ** log2; count > 0; count--) {
    h.copy(buf, 0);
    h = oneShot(alg, buf);
  }
  return encode64(h);
}

// ---------------------------------------------------------------------------------------------------------------
// Work accounting and the worker pool
// ---------------------------------------------------------------------------------------------------------------

type Job =
  | { kind: 'md5crypt'; pw: Uint8Array; salt: Uint8Array; magic: string }
  | { kind: 'shacrypt'; alg: 'sha256' | 'sha512'; pw: Uint8Array; salt: Uint8Array; rounds: number }
  | { kind: 'des'; pw: Uint8Array; salt: string }
  | { kind: 'bsdi'; pw: Uint8Array; count: number; salt: number }
  | { kind: 'phpass'; alg: 'md5' | 'sha512'; pw: Uint8Array; salt: Uint8Array; log2: number };

function runJob(job: Job): string {
  switch (job.kind) {
    case 'md5crypt':
      return rawMd5Crypt(job.pw, job.salt, job.magic);
    case 'shacrypt':
      return rawShaCrypt(job.alg, job.pw, job.salt, job.rounds);
    case 'des':
      return rawDesCrypt(job.pw, job.salt);
    case 'bsdi':
      return rawBsdiCrypt(job.pw, job.count, job.salt);
    case 'phpass':
      return rawPhpass(job.alg, job.pw, job.salt, job.log2);
  }
}

/**
 * Work estimate in "units" of roughly one nanosecond on one current x86 core: a one-shot digest call costs a fixed
 * overhead plus about 2 ns per input byte (MD5, SHA-256 and SHA-512 alike, within a factor of two); one DES
 * encryption of the crypt loop about 0.3 µs. Deliberately rough: it exists to refuse absurd stored parameters
 * deterministically (false), not to predict latency.
 */
const CALL_COST = 600;
const BYTE_COST = 2;
const DES_COST = 300;
/** Below this we compute inline; above, on a worker thread. */
const INLINE_WORK = 2_000_000;

function hashWork(calls: number, bytes: number): number {
  return calls * CALL_COST + bytes * BYTE_COST;
}

function jobWork(job: Job): number {
  const L = job.pw.length;
  switch (job.kind) {
    case 'md5crypt':
      return hashWork(1003, 1000 * (2 * L + 16 + job.salt.length) + 4 * L);
    case 'shacrypt': {
      const size = job.alg === 'sha256' ? 32 : 64;
      return hashWork(job.rounds + L + 16 + 256 + 4, job.rounds * (2 * L + size + job.salt.length) + L * L + 272 * job.salt.length);
    }
    case 'des':
      return 25 * DES_COST + 20_000;
    case 'bsdi':
      return (job.count + Math.ceil(L / 8)) * DES_COST + Math.ceil(L / 8) * 20_000;
    case 'phpass': {
      const size = job.alg === 'md5' ? 16 : 64;
      const n = 2 ** job.log2;
      return hashWork(n + 1, n * (size + L) + L + 8);
    }
  }
}

const WORKER_FLAG = 'legacy-gateway/passwords/unix';

/**
 * The file the workers run: this module's own. In a bundle (scripts/bundle.mjs) this module's code sits inside
 * another file, so the bundler names this module's compiled file, relative to the bundle, through LG_CRYPT_WORKER.
 */
declare const LG_CRYPT_WORKER: string | undefined;
const workerFile = (): URL => (typeof LG_CRYPT_WORKER === 'string' ? new URL(LG_CRYPT_WORKER, import.meta.url) : new URL(import.meta.url));

interface Task {
  id: number;
  job: Job;
  resolve: (v: string | null) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  task: Task | null;
}

/** A small, lazily started pool of worker threads running runJob(); falls back to inline work if workers cannot start. */
class CryptPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private disabled = false;
  private readonly size = Math.max(1, Math.min(2, availableParallelism() - 1));

  run(job: Job): Promise<string | null> {
    if (this.disabled) return Promise.resolve(runInline(job));
    return new Promise((resolve) => {
      this.queue.push({ id: this.nextId++, job, resolve });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.task === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const task = this.queue.shift()!;
      slot.task = task;
      slot.worker.ref();
      slot.worker.postMessage({ id: task.id, job: task.job });
    }
  }

  private spawn(): Slot | undefined {
    let worker: Worker;
    try {
      worker = new Worker(workerFile(), { workerData: { flag: WORKER_FLAG } });
    } catch {
      this.disable();
      return undefined;
    }
    const slot: Slot = { worker, ready: false, task: null };
    worker.unref();
    worker.on('message', (msg: { ready?: true; id?: number; result?: string | null }) => {
      if (msg.ready) {
        slot.ready = true;
        return;
      }
      const task = slot.task;
      if (!task || task.id !== msg.id) return;
      slot.task = null;
      worker.unref();
      task.resolve(typeof msg.result === 'string' ? msg.result : null);
      this.dispatch();
    });
    const fail = () => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      const task = slot.task;
      slot.task = null;
      if (!slot.ready) {
        // The worker could not even load this module (unusual loader, restricted environment): work inline.
        this.disable();
        if (task) task.resolve(runInline(task.job));
      } else if (task) {
        task.resolve(null);
      }
      this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    this.slots.push(slot);
    return slot;
  }

  private disable(): void {
    this.disabled = true;
    for (const t of this.queue.splice(0)) t.resolve(runInline(t.job));
  }
}

function runInline(job: Job): string | null {
  try {
    return runJob(job);
  } catch {
    return null;
  }
}

let pool: CryptPool | undefined;

/** Run a job within the work budget: inline when cheap, on a worker thread otherwise; null when refused or failed. */
async function compute(job: Job): Promise<string | null> {
  const work = jobWork(job);
  if (!unixWorkAllowed(work)) return null;
  if (work <= INLINE_WORK) return runInline(job);
  pool ??= new CryptPool();
  return pool.run(job);
}

// ---------------------------------------------------------------------------------------------------------------
// The schemes
// ---------------------------------------------------------------------------------------------------------------

/**
 * A self-describing scheme: detected by an anchored pattern on the trimmed value, which verify() also parses; wrong
 * types, a value that does not match and any exception verify false. Shared by the crypt(3) family and others.
 */
export function patternScheme(name: string, re: RegExp, verify: (password: string, m: RegExpExecArray) => boolean | Promise<boolean>): PasswordScheme {
  return {
    name,
    detect: (stored) => typeof stored === 'string' && re.test(stored.trim()),
    async verify(password, stored) {
      if (typeof password !== 'string' || typeof stored !== 'string') return false;
      const m = re.exec(stored.trim());
      if (!m) return false;
      try {
        return (await verify(password, m)) === true;
      } catch {
        return false;
      }
    },
  };
}

const scheme = patternScheme;

/** md5_crypt `$1$salt$hash` and apr_md5_crypt `$apr1$salt$hash` (salt 0-8 characters, hash 22). */
function md5Family(name: string, magic: string): PasswordScheme {
  const re = new RegExp(`^${magic.replace(/\$/g, '\\$')}(${H64}{0,8})\\$(${H64}{22})$`);
  return scheme(name, re, async (password, m) => {
    const pw = utf8(password);
    if (hasNul(pw)) return false;
    const got = await compute({ kind: 'md5crypt', pw, salt: Buffer.from(m[1]!, 'latin1'), magic });
    return got !== null && sameAscii(got, m[2]!);
  });
}

export const md5Crypt: PasswordScheme = md5Family('md5_crypt', '$1$');
export const aprMd5Crypt: PasswordScheme = md5Family('apr_md5_crypt', '$apr1$');

/**
 * sha256_crypt `$5$[rounds=N$]salt$hash` / sha512_crypt `$6$...`. glibc clamps rounds into 1000..999999999 and
 * writes the clamped value back, so a stored value outside that range (or with leading zeros) can never compare
 * equal in crypt(3): it is false here too.
 */
function shaFamily(name: string, id: '5' | '6', alg: 'sha256' | 'sha512', len: number): PasswordScheme {
  const re = new RegExp(`^\\$${id}\\$(?:rounds=(\\d{1,10})\\$)?(${H64}{0,16})\\$(${H64}{${len}})$`);
  return scheme(name, re, async (password, m) => {
    let rounds = 5000;
    if (m[1] !== undefined) {
      if (!/^[1-9]\d*$/.test(m[1])) return false;
      rounds = Number(m[1]);
      if (rounds < 1000 || rounds > 999_999_999) return false;
    }
    if (!shaCryptRoundsAllowed(rounds)) return false;
    const pw = utf8(password);
    if (hasNul(pw)) return false;
    const got = await compute({ kind: 'shacrypt', alg, pw, salt: Buffer.from(m[2]!, 'latin1'), rounds });
    return got !== null && sameAscii(got, m[3]!);
  });
}

export const sha256Crypt: PasswordScheme = shaFamily('sha256_crypt', '5', 'sha256', 43);
export const sha512Crypt: PasswordScheme = shaFamily('sha512_crypt', '6', 'sha512', 86);

/**
 * Traditional DES crypt: 2 salt characters + 11 hash characters. Only the first 8 bytes of the password count,
 * and only their low 7 bits (crypt(3) semantics). The last character encodes 4 bits, hence its smaller alphabet.
 */
const DES_LAST = '[.26AEIMQUYcgkosw]';
export const desCrypt: PasswordScheme = scheme(
  'des_crypt',
  new RegExp(`^(${H64}{2})(${H64}{10}${DES_LAST})$`),
  async (password, m) => {
    const pw = utf8(password);
    if (hasNul(pw)) return false;
    const got = await compute({ kind: 'des', pw, salt: m[1]! });
    return got !== null && sameAscii(got, m[2]!);
  },
);

/** BSDi extended DES `_CCCCSSSSHHHHHHHHHHH`: 24-bit round count (1..16,777,215) and salt, whole password. */
export const bsdiCrypt: PasswordScheme = scheme(
  'bsdi_crypt',
  new RegExp(`^_(${H64}{4})(${H64}{4})(${H64}{10}${DES_LAST})$`),
  async (password, m) => {
    const decode24 = (s: string) => [...s].reduce((v, c, i) => v | (h64Value(c) << (6 * i)), 0);
    const count = decode24(m[1]!);
    if (!bsdiRoundsAllowed(count)) return false;
    const pw = utf8(password);
    if (hasNul(pw)) return false;
    const got = await compute({ kind: 'bsdi', pw, count, salt: decode24(m[2]!) });
    return got !== null && sameAscii(got, m[3]!);
  },
);

/**
 * Shared by phpass and Drupal: `$X$` + log2 count character (7..30, capped by limits.ts) + 8 salt characters + digest.
 * Drupal 7 truncates the whole stored value to 55 characters (so 43 digest characters for SHA-512).
 */
async function phpassCheck(alg: 'md5' | 'sha512', pw: Uint8Array, countChar: string, salt: string, digest: string): Promise<boolean> {
  const log2 = h64Value(countChar);
  if (!phpassLog2Allowed(log2)) return false;
  const got = await compute({ kind: 'phpass', alg, pw, salt: Buffer.from(salt, 'latin1'), log2 });
  return got !== null && sameAscii(got.slice(0, digest.length), digest);
}

/** phpass portable hashes: WordPress `$P$`, phpBB3 `$H$` (same algorithm). */
export const phpass: PasswordScheme = scheme('phpass', new RegExp(`^\\$[PH]\\$(${H64})(${H64}{8})(${H64}{22})$`), async (password, m) => {
  const pw = utf8(password);
  if (pw.length > LIMITS.phpassMaxPassword) return false;
  return phpassCheck('md5', pw, m[1]!, m[2]!, m[3]!);
});

/** Drupal 7 `$S$` + count + salt + 43 characters of the SHA-512 digest (55 in all). */
export const drupal7: PasswordScheme = scheme('drupal7', new RegExp(`^\\$S\\$(${H64})(${H64}{8})(${H64}{43})$`), async (password, m) => {
  const pw = utf8(password);
  if (pw.length > LIMITS.drupalMaxPassword) return false;
  return phpassCheck('sha512', pw, m[1]!, m[2]!, m[3]!);
});

/**
 * Drupal 7 hashes upgraded from Drupal 6 by user_update_7000(): 'U' + a Drupal 7 hash of md5-hex(password).
 * user_check_password() accepts U$S$ (the normal case) and U$P$ / U$H$.
 */
export const drupal7Upgraded: PasswordScheme = scheme(
  'drupal7_upgraded',
  new RegExp(`^U\\$(?:S\\$(${H64})(${H64}{8})(${H64}{43})|[PH]\\$(${H64})(${H64}{8})(${H64}{22}))$`),
  async (password, m) => {
    const pw = Buffer.from(createHash('md5').update(utf8(password)).digest('hex'), 'latin1');
    return m[1] !== undefined
      ? phpassCheck('sha512', pw, m[1], m[2]!, m[3]!)
      : phpassCheck('md5', pw, m[4]!, m[5]!, m[6]!);
  },
);

// ---------------------------------------------------------------------------------------------------------------
// bcrypt with a pre-hash: WordPress 6.8+, passlib bcrypt_sha256, Django BCryptSHA256PasswordHasher
// ---------------------------------------------------------------------------------------------------------------

type BcryptVerify = (password: string | Uint8Array, hash: string) => Promise<boolean>;
let bcryptVerifyFn: Promise<BcryptVerify> | undefined;
/** Loaded on first use so that worker threads (which import this module) never load the native addon. */
function bcryptVerify(password: string, hash: string): Promise<boolean> {
  bcryptVerifyFn ??= import('@node-rs/bcrypt').then((m) => m.verify);
  return bcryptVerifyFn.then((v) => v(password, hash));
}

/**
 * WordPress 6.8+: '$wp' + password_hash(base64(HMAC-SHA384(key 'wp-sha384', password)), PASSWORD_BCRYPT).
 * wp_check_password() does not trim the password (wp_hash_password did) and refuses passwords over 4096 bytes.
 */
export const wordpressBcrypt: PasswordScheme = scheme(
  'wordpress_bcrypt',
  new RegExp(`^\\$wp(\\$2[aby]\\$(\\d{2})\\$${BCRYPT64}{53})$`),
  async (password, m) => {
    const pw = utf8(password);
    if (pw.length > LIMITS.phpassMaxPassword || !bcryptCostAllowed(m[2]!)) return false;
    const key = createHmac('sha384', 'wp-sha384').update(pw).digest('base64');
    return bcryptVerify(key, m[1]!);
  },
);

/**
 * passlib bcrypt_sha256: v2 `$bcrypt-sha256$v=2,t=2b,r=12$<salt 22>$<digest 31>` bcrypts
 * base64(HMAC-SHA256(key = the salt string, password)); v1 `$bcrypt-sha256$2a,12$<salt>$<digest>` bcrypts
 * base64(SHA-256(password)).
 */
export const bcryptSha256: PasswordScheme = scheme(
  'bcrypt_sha256',
  new RegExp(`^\\$bcrypt-sha256\\$(?:v=2,t=(2b),r=(\\d{1,2})|(2[ab]),(\\d{1,2}))\\$(${BCRYPT64}{22})\\$(${BCRYPT64}{31})$`),
  async (password, m) => {
    const v2 = m[1] !== undefined;
    const ident = v2 ? m[1]! : m[3]!;
    const cost = v2 ? m[2]! : m[4]!;
    const salt = m[5]!;
    if (!bcryptCostAllowed(cost)) return false;
    const pw = utf8(password);
    const digest = v2 ? createHmac('sha256', Buffer.from(salt, 'latin1')).update(pw).digest() : createHash('sha256').update(pw).digest();
    return bcryptVerify(digest.toString('base64'), `$${ident}$${cost.padStart(2, '0')}$${salt}${m[6]!}`);
  },
);

/** Django BCryptSHA256PasswordHasher: 'bcrypt_sha256$' + bcrypt(hex(SHA-256(password))). */
export const djangoBcryptSha256: PasswordScheme = scheme(
  'django_bcrypt_sha256',
  new RegExp(`^bcrypt_sha256\\$(\\$2[aby]\\$(\\d{2})\\$${BCRYPT64}{53})$`),
  async (password, m) => {
    if (!bcryptCostAllowed(m[2]!)) return false;
    return bcryptVerify(createHash('sha256').update(utf8(password)).digest('hex'), m[1]!);
  },
);

/** This family, most specific formats first (des_crypt, the least specific, last). */
export const schemes: PasswordScheme[] = [
  wordpressBcrypt,
  bcryptSha256,
  djangoBcryptSha256,
  drupal7Upgraded,
  drupal7,
  phpass,
  sha512Crypt,
  sha256Crypt,
  aprMd5Crypt,
  md5Crypt,
  bsdiCrypt,
  desCrypt,
];

// ---------------------------------------------------------------------------------------------------------------
// Worker-thread entry point: this same module, loaded by CryptPool with workerData.flag set.
// ---------------------------------------------------------------------------------------------------------------

if (!isMainThread && parentPort && (workerData as { flag?: unknown } | null)?.flag === WORKER_FLAG) {
  const port = parentPort;
  port.on('message', (msg: { id: number; job: Job }) => {
    port.postMessage({ id: msg.id, result: runInline(msg.job) });
  });
  port.postMessage({ ready: true });
}
