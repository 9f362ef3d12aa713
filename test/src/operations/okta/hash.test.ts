/**
 * toOktaHash over every password fixture, each emitted hash object re-verified by ./verify.ts (Okta's documented
 * semantics, implemented on their own), which is first checked against the worked example of Okta's own guide.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { toOktaHash } from '../../../../src/operations/okta/hash.js';
import { passwordsOf, userOf } from '../../../helpers/vectors.js';
import { reverifyAll } from '../target-vectors.js';
import { oktaVerify } from './verify.js';

const MUST_EXPORT = [
  'bcrypt', 'pbkdf2_sha256', 'pbkdf2_sha512', 'django_pbkdf2_sha256', 'hex_md5', 'hex_sha1', 'hex_sha256', 'hex_sha512',
  'salted_md5', 'salted_sha1', 'salted_sha256', 'salted_sha512', 'ldap_salted_sha1', 'ldap_md5', 'django_salted_sha1', 'postgres_md5',
  'oracle11', 'django_bcrypt', 'smf',
];
const NOT_EXPORTED = ['argon2', 'scrypt', 'hmac_sha256', 'nthash', 'aspnet_identity_v2', 'phpass', 'md5_crypt', 'plaintext', 'vbulletin', 'mybb', 'punbb', 'opencart'];

describe('okta: the independent verifier', () => {
  test("the guide's construction: SHA-1, 16-byte salt PREFIX (developer.okta.com blog, ultimate guide to password hashing)", async () => {
    const salt = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const value = createHash('sha1').update(Buffer.concat([salt, Buffer.from('Okta1234!')])).digest('base64');
    const h = { algorithm: 'SHA-1', salt: salt.toString('base64'), saltOrder: 'PREFIX', value };
    assert.equal(await oktaVerify('Okta1234!', h), true);
    assert.equal(await oktaVerify('Okta1234!', { ...h, saltOrder: 'POSTFIX' }), false, 'the order matters');
    const mcf = hashSync('test password', 4).split('$');
    const b = { algorithm: 'BCRYPT', workFactor: Number(mcf[2]), salt: mcf[3]!.slice(0, 22), value: mcf[3]!.slice(22) };
    assert.equal(await oktaVerify('test password', b), true, "bcrypt split at 22 as the guide's Python does");
    assert.equal(await oktaVerify('test passwore', b), false);
    await assert.rejects(oktaVerify('x', { algorithm: 'PBKDF2', value: 'AAAA', salt: 'AAAA', iterationCount: 1000, keySize: 3, digestAlgorithm: 'SHA256_HMAC' }));
  });
});

describe('toOktaHash', () => {
  test("every emitted hash accepts exactly the passwords the gateway's verifier accepts (all password fixtures)", async () => {
    const { verified, reasons } = await reverifyAll(toOktaHash, (pw, r) => oktaVerify(pw, r.hash));
    for (const s of MUST_EXPORT) assert.ok(verified.has(s), `${s} is exported and re-verified (${reasons.get(s) ?? 'no vector'})`);
    for (const s of NOT_EXPORTED) assert.ok(!verified.has(s), `${s} must not be exported`);
    console.log(`okta: re-verified ${[...verified.values()].reduce((a, b) => a + b, 0)} hashes of ${verified.size} schemes`);
  });

  test('pbkdf2 under 4096 iterations or with SHA-1 is not importable; bcrypt is split 22 + 31', () => {
    const low = toOktaHash(userOf({ scheme: 'django_pbkdf2_sha256', stored: 'pbkdf2_sha256$1000$salt$3Yk0mGxYPWKsUbdbXwXbvcsCkVlkHw2nORqRQbiBf+k=', row: {} }), passwordsOf());
    assert.deepEqual(low, { ok: false, scheme: 'django_pbkdf2_sha256', reason: 'unsupported_variant:django_pbkdf2_sha256' });
    const b = toOktaHash(userOf({ scheme: 'bcrypt', stored: '$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K', row: {} }), passwordsOf());
    assert.deepEqual(b, { ok: true, scheme: 'bcrypt', hash: { algorithm: 'BCRYPT', workFactor: 10, salt: 'nFguVi9LsCAcvTZFKQlRKe', value: 'LVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K' } });
  });
});
