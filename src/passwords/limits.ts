/**
 * The ONE place that bounds what a stored password value may make us compute.
 *
 * A stored value is data, not trusted: whoever can write a row (a compromised or careless legacy app, an import)
 * can ask for any cost its format can express (bcrypt cost 31, argon2 with 4 GiB, 10^9 SHA-crypt rounds...).
 * Every verifier checks the costs it reads from a stored value (or from passwords.params) with the pure functions
 * below BEFORE deriving anything, and answers false when a check fails. The caps admit every real framework
 * default seen in the wild, with headroom, and keep one verify within a few seconds on a small (2-core) machine.
 * They are ceilings against absurd values, not targets; lower them if no such hashes exist in your store.
 *
 * Measurements are on the 2-core CI/dev VM (slower than a current server core).
 */

export const LIMITS = {
  /**
   * bcrypt cost (log2 rounds), for every wrapper (bcrypt, {CRYPT}, wordpress_bcrypt, bcrypt_sha256,
   * django_bcrypt_sha256). Real stores use 10..12 (PHP/Devise/Django defaults), rarely 13-14. @node-rs/bcrypt
   * verify on the 2-core VM: cost 14 ≈ 1.1-1.7 s, cost 15 ≈ 2.3-2.6 s, and each step doubles it (cost 31 would
   * hold a thread for days). 14 keeps one verify near the other caps' ~1-3 s.
   */
  bcryptMaxCost: 14,
  /** bcrypt's own minimum cost (the algorithm refuses lower). */
  bcryptMinCost: 4,

  /**
   * PBKDF2: iterations × output blocks × digest weight (SHA-1/224/256 weigh 1, SHA-384/512 weigh 2). Admits
   * Django 6.0 (SHA-256 1,200,000), Werkzeug 3.1 (1,000,000), ASP.NET Core Identity v3 (SHA-512 100,000);
   * 2,000,000 PBKDF2-SHA256 ≈ 3.4 s.
   */
  pbkdf2MaxWork: 2_000_000,
  /** PBKDF2 / scrypt: longest derived key we will produce (bytes). */
  pbkdf2MaxKeyLen: 1024,

  /** scrypt memory 128·N·r bytes; 128 MiB ≈ 2.4 s. Admits passlib's ln=16,r=8 and N=2^17,r=8. */
  scryptMaxMemory: 128 * 1024 * 1024,
  /** scrypt work 128·N·r·p bytes (time is proportional); admits N=2^17,r=8,p=1 and N=2^16,r=8,p=2. */
  scryptMaxWork: 128 * 1024 * 1024,

  /** argon2 memory in KiB (PHC m=, Magento's mem/1024); 256 MiB is libsodium's MODERATE. */
  argon2MaxMemoryKiB: 256 * 1024,
  /**
   * argon2 work: memory KiB × passes (t=, Magento's ops), summed over every argon2 run one verify makes (Magento
   * chains up to 4). Admits m=256 MiB,t=2 (≈ 1.9 s), m=64 MiB,t=8, Django's m=100 MiB,t=2, and Magento's
   * "2" (libsodium INTERACTIVE, 64 MiB × 2) four times over. A 256 MiB × 16 value is 8 times this.
   */
  argon2MaxWork: 512 * 1024,
  /** argon2 lanes (p=). Lanes do not add work but each may take a thread; 64 is far above any default (1-8). */
  argon2MaxParallelism: 64,

  /** Magento 2 hash chains ("hash:salt:1:2:..."): real values have 1-2 steps. */
  magentoMaxSteps: 4,

  /**
   * sha256_crypt / sha512_crypt rounds (the spec allows up to 999,999,999; the default is 5000, passlib's
   * 535,000/656,000). At 1,000,000 rounds a verify takes ≈ 1.9 s (SHA-256) / 2.8 s (SHA-512) here.
   */
  shaCryptMaxRounds: 1_000_000,
  /** bsdi_crypt (BSDi extended DES) rounds (the format allows 16,777,215; passlib's default is 5001); ≈ 0.3 s. */
  bsdiMaxRounds: 1_000_000,
  /**
   * phpass / Drupal 7 log2 iteration count (the format allows 7..30). WordPress and phpBB use 8, Drupal 7 15,
   * Drupal 8+ 16, passlib 19 (its default, the highest of any writer). 2^19 ≈ 0.85 s here (MD5 and SHA-512 alike); a flat cap makes the
   * answer independent of the password's length (the work budget below only admits 2^20 for short passwords).
   */
  phpassMaxLog2: 19,
  /** phpass's own minimum log2 count. */
  phpassMinLog2: 7,
  /** phpass refuses longer passwords (WordPress class-phpass.php, phpass 0.4+), in bytes. */
  phpassMaxPassword: 4096,
  /** Drupal 7 refuses passwords over 512 bytes (password.inc). */
  drupalMaxPassword: 512,

  /**
   * crypt(3) family (unix.ts): estimated work in units of ~1 ns on one current core (digest calls × overhead +
   * bytes hashed, DES encryptions); above this the verify is refused. About a second of CPU; it bounds what a long
   * password multiplies (SHA-crypt and phpass hash the password once per round).
   */
  unixWorkBudget: 1_000_000_000,
} as const;

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1;
}

/** bcrypt cost (given as the number, or the stored decimal digits). */
export function bcryptCostAllowed(cost: number | string): boolean {
  const n = typeof cost === 'string' ? (/^\d{1,2}$/.test(cost) ? Number(cost) : NaN) : cost;
  return Number.isInteger(n) && n >= LIMITS.bcryptMinCost && n <= LIMITS.bcryptMaxCost;
}

export type Pbkdf2Digest = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
const PBKDF2_BLOCK: Record<Pbkdf2Digest, { bytes: number; weight: number }> = {
  sha1: { bytes: 20, weight: 1 },
  sha224: { bytes: 28, weight: 1 },
  sha256: { bytes: 32, weight: 1 },
  sha384: { bytes: 48, weight: 2 },
  sha512: { bytes: 64, weight: 2 },
};

/** PBKDF2: iterations × ceil(keylen / digest size) × digest weight within the work cap, keylen within its cap. */
export function pbkdf2Allowed(p: { iterations: number; keylen: number; digest: Pbkdf2Digest }): boolean {
  const d = PBKDF2_BLOCK[p.digest];
  if (!d || !isCount(p.iterations) || !isCount(p.keylen) || p.keylen > LIMITS.pbkdf2MaxKeyLen) return false;
  return p.iterations * Math.ceil(p.keylen / d.bytes) * d.weight <= LIMITS.pbkdf2MaxWork;
}

/** scrypt: memory 128·N·r and work 128·N·r·p within their caps, keylen within the PBKDF2 cap. */
export function scryptAllowed(p: { N: number; r: number; p: number; keylen: number }): boolean {
  if (![p.N, p.r, p.p, p.keylen].every(isCount) || p.keylen > LIMITS.pbkdf2MaxKeyLen) return false;
  const memory = 128 * p.N * p.r;
  return memory <= LIMITS.scryptMaxMemory && memory * p.p <= LIMITS.scryptMaxWork;
}

export interface Argon2Cost {
  memoryKiB: number;
  passes: number;
  lanes: number;
}

/**
 * argon2: each run's memory and lanes within their caps, and memory × passes summed over all the runs of one
 * verify (pass the whole chain for Magento) within the work cap.
 */
export function argon2Allowed(runs: Argon2Cost | readonly Argon2Cost[]): boolean {
  const list: readonly Argon2Cost[] = Array.isArray(runs) ? runs : [runs as Argon2Cost];
  let work = 0;
  for (const r of list) {
    if (!isCount(r.memoryKiB) || !isCount(r.passes) || !isCount(r.lanes)) return false;
    if (r.memoryKiB > LIMITS.argon2MaxMemoryKiB || r.lanes > LIMITS.argon2MaxParallelism) return false;
    work += r.memoryKiB * r.passes;
  }
  return work <= LIMITS.argon2MaxWork;
}

/** sha256_crypt / sha512_crypt rounds (the spec's range 1000..999,999,999 is checked by the scheme). */
export function shaCryptRoundsAllowed(rounds: number): boolean {
  return isCount(rounds) && rounds <= LIMITS.shaCryptMaxRounds;
}

/** bsdi_crypt rounds: at least 1 (crypt-des.c refuses 0), at most the cap. */
export function bsdiRoundsAllowed(rounds: number): boolean {
  return isCount(rounds) && rounds <= LIMITS.bsdiMaxRounds;
}

/** phpass / Drupal 7 log2 iteration count. */
export function phpassLog2Allowed(log2: number): boolean {
  return Number.isInteger(log2) && log2 >= LIMITS.phpassMinLog2 && log2 <= LIMITS.phpassMaxLog2;
}

/** crypt(3) family: estimated work (unix.ts's jobWork) within the budget. */
export function unixWorkAllowed(work: number): boolean {
  return work <= LIMITS.unixWorkBudget; // NaN is refused too
}
