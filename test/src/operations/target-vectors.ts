/**
 * The password fixtures every export target is re-verified against: every vector of test/fixtures/passwords (the ones
 * the gateway's verifiers and the Auth0 export are tested with) plus fresh bcrypt values, and a check that runs a
 * target's hash mapping over all of them with that IdP's independent verifier.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { hashSync } from '@node-rs/bcrypt';
import type { LegacyUser } from '../../../adapters/types.js';
import type { Config } from '../../../src/config.js';
import { loadVectors, passwordsOf, userOf, type Vector } from '../../helpers/vectors.js';


/**
 * Every vector of the gateway's fixtures, plus bcrypt (it has no fixture of its own): Auth0's published vector and
 * fresh values under each ident.
 */
export function allVectors(): Vector[] {
  const published = JSON.parse(readFileSync(path.resolve('test/fixtures/auth0/auth0-documented-hash-vectors.json'), 'utf8')) as { vectors: { id: string; hash: string; password?: string }[] };
  const hello = published.vectors.find((v) => v.id === 'auth0-import-bcrypt-hello')!;
  const bcryptFor = (password: string, prefix: string): Vector => ({
    scheme: 'bcrypt',
    password,
    stored: hashSync(password, 4).replace(/^\$2b\$/, prefix),
    expected: true,
    source: `@node-rs/bcrypt hashSync(password, 4), ident relabelled ${prefix} (the same algorithm for passwords under 255 bytes)`,
  });
  return [
    ...['digest', 'kdf', 'plm', 'unix', 'dbserver', 'framework', 'forum'].flatMap((f) => loadVectors(f)),
    // Auth0's published bcrypt vector ("hello"), from its documented hash vectors.
    { scheme: 'bcrypt', password: hello.password!, stored: hello.hash, expected: true, source: hello.id },
    { scheme: 'bcrypt', password: 'hellO', stored: hello.hash, expected: false, source: hello.id },
    bcryptFor('correct horse', '$2a$'),
    bcryptFor('pässwörd✓', '$2b$'),
    bcryptFor('correct horse', '$2y$'),
  ];
}

type Mapped<H> = { ok: true; scheme: string } & H;
type Result<H> = Mapped<H> | { ok: false; scheme?: string; reason: string };

/**
 * Every vector through `map`; every emitted hash through `verify`: it must accept exactly the passwords the gateway's
 * verifier accepts (the vector's expectation) and refuse a wrong one. Returns the schemes re-verified and the reasons.
 */
export async function reverifyAll<H>(
  map: (user: LegacyUser, passwords: Config['passwords']) => Result<H>,
  verify: (password: string, r: Mapped<H>) => Promise<boolean>,
): Promise<{ verified: Map<string, number>; reasons: Map<string, string> }> {
  const verified = new Map<string, number>();
  const reasons = new Map<string, string>();
  for (const v of allVectors()) {
    const r = map(userOf(v), passwordsOf(v.params));
    const label = `${v.scheme} ${JSON.stringify(v.stored)} ${v.note ?? ''}`;
    if (!r.ok) {
      assert.ok(!r.reason.includes(v.stored.trim()) || v.stored.trim().length < 4, 'no hash in a reason');
      if (v.expected) reasons.set(v.scheme, r.reason);
      continue;
    }
    assert.equal(await verify(v.password, r), v.expected, label);
    if (v.expected) {
      assert.equal(await verify(`${v.password}x`, r), false, `${label}: a wrong password`);
      verified.set(v.scheme, (verified.get(v.scheme) ?? 0) + 1);
    }
  }
  return { verified, reasons };
}
