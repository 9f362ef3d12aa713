/**
 * toKeycloakCredential over every password fixture, each emitted credential re-verified by ./verify.ts (Keycloak's
 * Pbkdf2PasswordHashProvider and Argon2PasswordHashProvider re-implemented from their Java source).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toKeycloakCredential } from '../../../../src/operations/keycloak/hash.js';
import { reverifyAll } from '../target-vectors.js';
import { keycloakVerify } from './verify.js';

const MUST_EXPORT = ['pbkdf2_sha1', 'pbkdf2_sha256', 'pbkdf2_sha512', 'django_pbkdf2_sha256', 'django_pbkdf2_sha1', 'aspnet_identity_v3', 'argon2'];
const NOT_EXPORTED = ['bcrypt', 'scrypt', 'hex_md5', 'salted_sha256', 'ldap_salted_sha1', 'hmac_sha256', 'phpass', 'md5_crypt', 'plaintext', 'smf', 'vbulletin'];

describe('keycloak: the independent verifier', () => {
  test('PBKDF2 padding to 14 characters changes nothing for HMAC keys (and the key size comes from the value)', async () => {
    const { pbkdf2Sync } = await import('node:crypto');
    const salt = Buffer.from('salt-salt-salt-1');
    const value = pbkdf2Sync('short', salt, 1000, 64, 'sha256').toString('base64');
    const c = { type: 'password', secretData: JSON.stringify({ value, salt: salt.toString('base64') }), credentialData: JSON.stringify({ hashIterations: 1000, algorithm: 'pbkdf2-sha256' }) };
    assert.equal(await keycloakVerify('short', c), true);
    assert.equal(await keycloakVerify('short\0', c), true, 'NUL padding is what Keycloak does itself');
    assert.equal(await keycloakVerify('shorT', c), false);
    await assert.rejects(keycloakVerify('x', { ...c, credentialData: JSON.stringify({ hashIterations: 1, algorithm: 'bcrypt' }) }));
  });
});

describe('toKeycloakCredential', () => {
  test("every emitted credential accepts exactly the passwords the gateway's verifier accepts (all password fixtures)", async () => {
    const { verified, reasons } = await reverifyAll(toKeycloakCredential, (pw, r) => keycloakVerify(pw, r.credential));
    for (const s of MUST_EXPORT) assert.ok(verified.has(s), `${s} is exported and re-verified (${reasons.get(s) ?? 'no vector'})`);
    for (const s of NOT_EXPORTED) assert.ok(!verified.has(s), `${s} must not be exported`);
    console.log(`keycloak: re-verified ${[...verified.values()].reduce((a, b) => a + b, 0)} hashes of ${verified.size} schemes`);
  });
});
