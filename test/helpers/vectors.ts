/** Password test vectors made by independent implementations (test/fixtures/passwords/*.json, scripts/fixtures/*). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import type { LegacyUser } from '../../adapters/types.js';
import type { Config } from '../../src/config.js';
import { parseSchemeParams } from '../../src/passwords/params.js';
import type { PasswordScheme, VerifyContext } from '../../src/passwords/types.js';

export interface Vector {
  scheme: string;
  password: string;
  stored: string;
  expected: boolean;
  params?: Record<string, unknown>;
  row?: { salt?: string; username?: string; email?: string };
  /** The exact command or published source that produced the vector. */
  source: string;
  command?: string;
  note?: string;
}

/** Fixtures are read relative to the repository root (tests run from there). */
export function loadVectors(family: string): Vector[] {
  return JSON.parse(readFileSync(path.resolve(process.cwd(), `test/fixtures/passwords/${family}.json`), 'utf8')) as Vector[];
}

/** The legacy row a vector stands for, as a store would read it (the export mappers' input). */
export function userOf(v: Pick<Vector, 'scheme' | 'stored' | 'row'>): LegacyUser {
  return {
    id: '1',
    email: v.row?.email ?? 'someone@example.com',
    username: v.row?.username,
    password: v.stored,
    salt: v.row?.salt,
    passwordScheme: v.scheme,
    appMetadata: {},
    userMetadata: {},
    migratedAt: null,
  };
}

/** The passwords section a vector's global params stand for (scheme auto). */
export function passwordsOf(params: Record<string, unknown> = {}): Config['passwords'] {
  return { scheme: 'auto', scheme_map: {}, params };
}

/** A vector's verify context: its row, and its params, which must parse. */
export function vectorContext(v: Pick<Vector, 'params' | 'row'>): VerifyContext {
  const { params, problems } = parseSchemeParams(v.params ?? {});
  assert.deepEqual(problems, [], `fixture params must parse: ${JSON.stringify(v.params)}`);
  return { row: { ...(v.row ?? {}) }, params };
}

/** A vector, whole, for a failure message. */
export function describeVector(v: Vector): string {
  return `${v.scheme} ${JSON.stringify(v.password)} vs ${JSON.stringify(v.stored)}${v.note ? ` (${v.note})` : ''} params=${JSON.stringify(v.params ?? {})} row=${JSON.stringify(v.row ?? {})} — expected ${v.expected} per ${v.source}`;
}

/** One test per scheme named: each of its vectors through the scheme's verify; every failure is listed at once. */
export function testVectorsByScheme(vectors: readonly Vector[], byName: ReadonlyMap<string, PasswordScheme>, names: readonly string[]): void {
  for (const name of names) {
    const vs = vectors.filter((v) => v.scheme === name);
    test(`${name}: ${vs.filter((v) => v.expected).length} positive, ${vs.filter((v) => !v.expected).length} negative`, async () => {
      const scheme = byName.get(name);
      assert.ok(scheme, `no scheme ${name}`);
      const failures: string[] = [];
      for (const v of vs) {
        const got = await scheme.verify(v.password, v.stored, vectorContext(v));
        if (got !== v.expected) failures.push(`got ${got}: ${describeVector(v)}`);
      }
      assert.deepEqual(failures, []);
    });
  }
}

/** Runs f while measuring the longest gap between event-loop turns (is the work really off the loop?). */
export async function maxLoopGap<T>(f: () => Promise<T>): Promise<{ value: T; gap: number }> {
  let gap = 0;
  let last = performance.now();
  let done = false;
  const ticker = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 1));
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
    }
  })();
  const value = await f();
  done = true;
  await ticker;
  return { value, gap };
}

/**
 * A family's fixture covers every scheme it names: a positive, the standard negatives (one character off, case
 * changed, empty), a non-ASCII and a long (> 128 bytes) positive; every vector names a scheme of the family and
 * records its source.
 */
export function assertFixtureCoverage(vectors: readonly Vector[], names: readonly string[], known: ReadonlySet<string> | Map<string, unknown>): void {
  for (const name of names) {
    const vs = vectors.filter((v) => v.scheme === name);
    assert.ok(vs.some((v) => v.expected), `${name}: a positive vector`);
    for (const note of ['one char off', 'case changed', 'empty']) assert.ok(vs.some((v) => !v.expected && v.note === note), `${name}: ${note}`);
    assert.ok(vs.some((v) => v.expected && /[^\u0000-\u007f]/.test(v.password)), `${name}: a non-ASCII positive`);
    assert.ok(vs.some((v) => v.expected && Buffer.byteLength(v.password) > 128), `${name}: a long positive`);
  }
  for (const v of vectors) {
    assert.ok(known.has(v.scheme), `unknown scheme in fixture: ${v.scheme}`);
    assert.ok(typeof v.source === 'string' && v.source.length > 10, `source recorded for ${v.scheme} ${v.stored}`);
  }
}

/** The password families whose fixtures the export suites seed from (one user per scheme). */
export const SEEDED_FAMILIES = ['digest', 'kdf', 'plm', 'unix', 'dbserver', 'framework'];

/**
 * One correct vector per scheme (the first without global params), for the export suites' stores. argon2 v=16
 * values are held back on purpose (auth0/hash.test.ts): a v=19 one is taken.
 */
export function oneVectorPerScheme(families: readonly string[] = SEEDED_FAMILIES): Vector[] {
  const seen = new Set<string>();
  const out: Vector[] = [];
  for (const v of families.flatMap((f) => loadVectors(f))) {
    if (!v.expected || v.params || seen.has(v.scheme)) continue;
    if (v.scheme === 'argon2' && !v.stored.includes('$v=19$')) continue;
    seen.add(v.scheme);
    out.push(v);
  }
  return out;
}
