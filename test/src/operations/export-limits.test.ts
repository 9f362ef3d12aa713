/**
 * A stored value whose cost is over the gateway's own caps (src/passwords/limits.ts) is refused by the gateway's
 * verifier, so no export target hands it to an IdP as a hash either: the IdP would accept a password the gateway
 * refuses, and one planted row could hold its login for hours or exhaust its memory. Each is reported
 * over_limits:<scheme> (needs-password-reset.csv). The same values within the caps are exported.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toAuth0PasswordHash } from '../../../src/operations/auth0/hash.js';
import { toKeycloakCredential } from '../../../src/operations/keycloak/hash.js';
import { toKratosHash } from '../../../src/operations/kratos/hash.js';
import { toOktaHash } from '../../../src/operations/okta/hash.js';
import { verifyWith, getScheme } from '../../../src/passwords/index.js';
import { parseSchemeParams } from '../../../src/passwords/params.js';
import { loadVectors, passwordsOf, userOf, type Vector } from '../../helpers/vectors.js';

type Mapper = (user: ReturnType<typeof userOf>, passwords: ReturnType<typeof passwordsOf>) => { ok: boolean; reason?: string };
const TARGETS: [string, Mapper][] = [
  ['auth0', toAuth0PasswordHash],
  ['kratos', toKratosHash],
  ['okta', toOktaHash],
  ['keycloak', toKeycloakCredential as unknown as Mapper],
];

const positive = (family: string, scheme: string): Vector => {
  const v = loadVectors(family).find((x) => x.scheme === scheme && x.expected && !x.params);
  assert.ok(v, `a ${scheme} vector in ${family}.json`);
  return v;
};

/** [what, the vector within the caps, the same value with its cost raised over them] */
const CASES: [string, Vector, string][] = (() => {
  const argon2 = positive('kdf', 'argon2');
  const scrypt = positive('kdf', 'scrypt');
  const django = positive('kdf', 'django_pbkdf2_sha256');
  const sha512 = positive('unix', 'sha512_crypt');
  const bcryptValue = '$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K'; // Auth0's published vector: "hello"
  const bcrypt: Vector = { scheme: 'bcrypt', password: 'hello', stored: bcryptValue, expected: true, source: 'auth0' };
  return [
    ['argon2 m=4 GiB', argon2, argon2.stored.replace(/m=\d+/, 'm=4194304')],
    ['scrypt ln=30', scrypt, scrypt.stored.replace(/ln=\d+/, 'ln=30')],
    ['Django PBKDF2 1,000,000,000 iterations', django, django.stored.replace(/\$\d+\$/, '$1000000000$')],
    ['bcrypt cost 31', bcrypt, bcryptValue.replace('$10$', '$31$')],
    ['sha512_crypt rounds=999999999', { ...sha512, stored: sha512.stored.replace(/^\$6\$(rounds=\d+\$)?/, '$6$rounds=5000$') }, sha512.stored.replace(/^\$6\$(rounds=\d+\$)?/, '$6$rounds=999999999$')],
  ];
})();

describe('export: values over the gateway\'s caps', () => {
  for (const [what, within, over] of CASES) {
    test(`${what}: the gateway refuses it, and no target exports it as a hash`, async () => {
      const scheme = getScheme(within.scheme)!;
      const ctx = { row: { ...(within.row ?? {}) }, params: parseSchemeParams({}).params };
      assert.equal(await verifyWith(scheme, within.password, over, ctx), false, 'the gateway refuses it');
      for (const [name, map] of TARGETS) {
        const r = map(userOf({ ...within, stored: over }), passwordsOf());
        assert.equal(r.ok, false, `${name} exported ${what}`);
        // A target that cannot take the scheme at all says so; one that can says over_limits.
        assert.match(r.reason ?? '', new RegExp(`^(over_limits|unsupported_scheme|unsupported_variant):${within.scheme}$`), name);
      }
    });
  }

  test('every target that exports the value within the caps refuses it over them as over_limits', () => {
    let overLimits = 0;
    for (const [what, within, over] of CASES) {
      for (const [name, map] of TARGETS) {
        if (!map(userOf(within), passwordsOf()).ok) continue;
        assert.deepEqual(map(userOf({ ...within, stored: over }), passwordsOf()), { ok: false, scheme: within.scheme, reason: `over_limits:${within.scheme}` }, `${name}: ${what}`);
        overLimits++;
      }
    }
    // Each case is importable by at least one target: the check is not vacuous.
    assert.ok(overLimits >= CASES.length, `${overLimits} refusals checked`);
  });
});
