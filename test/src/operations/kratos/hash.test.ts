/**
 * toKratosHash over every password fixture, each emitted hashed_password re-verified by ./verify.ts (Kratos's hash
 * comparator re-implemented from its Go source), which is first checked against the example hashes Ory documents.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toKratosHash } from '../../../../src/operations/kratos/hash.js';
import { passwordsOf, userOf } from '../../../helpers/vectors.js';
import { reverifyAll } from '../target-vectors.js';
import { kratosVerify, md5Crypt, shaCrypt } from './verify.js';

/** Schemes Kratos can take, as this test reads hash_comparator.go (kept apart from the exporter). */
const MUST_EXPORT = [
  'bcrypt', 'argon2', 'scrypt', 'pbkdf2_sha1', 'pbkdf2_sha256', 'pbkdf2_sha512', 'django_pbkdf2_sha256', 'aspnet_identity_v3',
  'hex_md5', 'hex_sha1', 'hex_sha256', 'hex_sha512', 'salted_md5', 'salted_sha1', 'salted_sha256', 'salted_sha512',
  'ldap_salted_sha1', 'ldap_salted_sha256', 'ldap_salted_sha512', 'ldap_md5', 'ldap_sha1', 'django_salted_sha1', 'postgres_md5',
  'hmac_md5', 'hmac_sha1', 'hmac_sha256', 'hmac_sha512', 'md5_crypt', 'sha256_crypt', 'sha512_crypt', 'firebase_scrypt',
  'oracle11', 'django_bcrypt', 'django_scrypt',
  'smf',
];
/** What Kratos can't read, and the reason the exporter must give (then the migration hook carries the user). */
const NOT_EXPORTED: Record<string, RegExp> = {
  nthash: /^unsupported_(scheme|params):nthash$/,
  aspnet_membership_sha1: /^unsupported_params:/,
  aspnet_universal: /^unsupported_params:/,
  phpass: /^unsupported_scheme:phpass$/,
  apr_md5_crypt: /^unsupported_scheme:apr_md5_crypt$/,
  des_crypt: /^unsupported_scheme:des_crypt$/,
  mssql2005: /^unsupported_params:mssql2005$/, // UTF-16LE password bytes
  mssql2012: /^unsupported_params:mssql2012$/,
  postgres_scram_sha256: /^unsupported_scheme:postgres_scram_sha256$/,
  vbulletin: /^unsupported_scheme:vbulletin$/,
  mybb: /^unsupported_scheme:mybb$/,
  punbb: /^unsupported_scheme:punbb$/,
  opencart: /^unsupported_scheme:opencart$/,
};

describe('kratos: the independent comparator', () => {
  test("verifies Ory's documented example formats and refuses what Kratos doesn't know", async () => {
    // ory/docs import-user-accounts-identities: "$2a$10$ZsCsoVQ3xfBG/K2z2XpBf.tm90GZmtOqtqWcB5.pYd5Eq8y7RlDyq" etc.
    // (the docs give no passwords: the formats must parse, a wrong password must fail)
    for (const h of [
      '$2a$10$ZsCsoVQ3xfBG/K2z2XpBf.tm90GZmtOqtqWcB5.pYd5Eq8y7RlDyq',
      '$argon2id$v=19$m=16,t=2,p=1$bVI1aE1SaTV6SGQ3bzdXdw$fnjCcZYmEPOUOjYXsT92Cg',
      '$pbkdf2-sha256$i=1000,l=128$e8/arsEf4cvQihdNgqj0Nw$5xQQKNTyeTHx2Ld5/JDE7A',
      '$scrypt$ln=16384,r=8,p=1$ZtQva9xCHzlSELH/mA7Kj5KjH2tCrkbwYzdxknkL0QQ=$pnTcXKaWVT+FwFDdk3vO1K0J7ZgOxdSU1tCJNYmn8zI=',
    ]) {
      assert.equal(await kratosVerify('not the password', h), false, h);
    }
    await assert.rejects(kratosVerify('x', '$sha384$pf=e1BBU1NXT1JEfQ==$$AAAA'));
    // The crypt(3) implementations against their specifications' published vectors (Drepper's SHA-crypt.txt; FreeBSD).
    assert.equal(shaCrypt('sha256', Buffer.from('Hello world!'), Buffer.from('saltstring'), 5000), '5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5');
    assert.equal(
      shaCrypt('sha512', Buffer.from('Hello world!'), Buffer.from('saltstring'), 5000),
      'svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
    );
    assert.equal(md5Crypt(Buffer.from('correct horse battery staple'), Buffer.from('saltsalt')), 'BsXyQbZiQujHkdhwPwdol.', 'openssl passwd -1');
    await assert.rejects(kratosVerify('x', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='));
  });
});

describe('toKratosHash', () => {
  test("every emitted hash accepts exactly the passwords the gateway's verifier accepts (all password fixtures)", async () => {
    const { verified, reasons } = await reverifyAll(toKratosHash, (pw, r) => kratosVerify(pw, r.hashed_password));
    for (const s of MUST_EXPORT) assert.ok(verified.has(s), `${s} is exported and re-verified (${reasons.get(s) ?? 'no vector'})`);
    for (const [s, re] of Object.entries(NOT_EXPORTED)) {
      assert.ok(!verified.has(s), `${s} must not be exported`);
      if (reasons.has(s)) assert.match(reasons.get(s)!, re, s);
    }
    console.log(`kratos: re-verified ${[...verified.values()].reduce((a, b) => a + b, 0)} hashes of ${verified.size} schemes; not exported: ${[...reasons].map(([s, r]) => `${s} (${r})`).join(', ')}`);
  });

  test('formats: scrypt ln is N, pbkdf2 unpadded, salted digests with a pf format, SSHA kept', () => {
    const scrypt = toKratosHash(userOf({ scheme: 'scrypt', stored: '$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$8xVd7P3M4Z6ZQ2mYzF2V6w8gO0uH0pN8r9vK1aQ2bXc', row: {} }), passwordsOf());
    assert.ok(scrypt.ok && scrypt.hashed_password.startsWith('$scrypt$ln=16,r=8,p=1$'), JSON.stringify(scrypt.ok && scrypt.hashed_password));
    const salted = toKratosHash(userOf({ scheme: 'salted_md5', stored: '5f4dcc3b5aa765d61d8327deb882cf99', row: { salt: 'NaCl' } }), passwordsOf());
    assert.ok(salted.ok);
    assert.match(salted.hashed_password, /^\$md5\$pf=e1NBTFR9e1BBU1NXT1JEfQ==\$TmFDbA==\$/, '{SALT}{PASSWORD}, salt "NaCl"');
    assert.deepEqual(toKratosHash(userOf({ scheme: 'salted_md5', stored: '5f4dcc3b5aa765d61d8327deb882cf99', row: {} }), passwordsOf()), {
      ok: false,
      scheme: 'salted_md5',
      reason: 'missing_salt:salted_md5',
    });
  });
});
