/**
 * README.md's scheme catalogue is what scripts/scheme-catalogue.ts builds from the code: the registry, the fixture
 * vectors' sources and the export targets' own mappings. Change a scheme, a fixture or a mapper, then regenerate.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { getScheme, schemeNames } from '../../src/passwords/index.js';
import {
  catalogueMarkdown,
  catalogueRows,
  currentCatalogue,
  END,
  REGENERATE,
  repoRoot,
  sourceLabel,
  START,
  withCatalogue,
} from '../../scripts/scheme-catalogue.js';

const ROOT = repoRoot();
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

describe('the README scheme catalogue', () => {
  test('README.md holds exactly the generated catalogue between its markers', () => {
    const current = currentCatalogue(README);
    assert.notEqual(current, null, `README.md has no ${START} … ${END} section`);
    const generated = catalogueMarkdown(ROOT);
    assert.ok(current === generated, `README.md's scheme catalogue is out of date. Regenerate it: ${REGENERATE}\n\n--- README.md\n${current}\n--- generated\n${generated}`);
    assert.ok(README.indexOf(START) > README.indexOf('## Password schemes'), 'under "Password schemes"');
  });

  test('one row per registered scheme, each proven by at least one independent source', () => {
    const rows = catalogueRows(ROOT);
    assert.deepEqual(rows.map((r) => r.scheme), schemeNames());
    const unproven = rows.filter((r) => r.sources.length === 0).map((r) => r.scheme);
    assert.deepEqual(unproven, [], 'schemes without fixture vectors from a recognised source');
    for (const r of rows) assert.equal(r.detect, getScheme(r.scheme)!.detect ? 'auto' : 'named only', r.scheme);
  });

  test('the import column comes from the export mappings: bare nested forum digests none, SMF sha1 some, bcrypt three', () => {
    const rows = new Map(catalogueRows(ROOT).map((r) => [r.scheme, r]));
    assert.equal(rows.get('vbulletin')?.idps, '—');
    assert.equal(rows.get('opencart')?.idps, '—');
    assert.match(rows.get('smf')!.idps, /^Auth0 \(some\), Kratos \(some\), Okta \(some\)$/, 'SMF 2.0 sha1 values go, SMF 2.1 bcrypt values do not');
    assert.equal(rows.get('bcrypt')?.idps, 'Auth0, Kratos, Okta');
    assert.equal(rows.get('plaintext')?.idps, '—');
  });

  test('source labels name the implementation a vector cites', () => {
    assert.equal(sourceLabel("stored: openssl passwd -1 -salt saltsalt 'x'; expected: passlib.hash.md5_crypt.verify"), 'OpenSSL');
    assert.equal(sourceLabel('passlib 1.7.4 (Debian python3-passlib): passlib.hash.ldap_md5.hash(password)'), 'passlib 1.7.4');
    assert.equal(sourceLabel('hashcat example hash, mode 02611'), 'hashcat example hashes');
    assert.equal(sourceLabel('Python 3.11.2 hashlib.scrypt(...)'), 'Python hashlib/hmac');
    assert.equal(sourceLabel('something nobody cites'), undefined);
  });

  test('withCatalogue replaces only what is between the markers', () => {
    const doc = `a\n${START}\nold\n${END}\nb\n`;
    assert.equal(withCatalogue(doc, 'new\n'), `a\n${START}\nnew\n${END}\nb\n`);
    assert.equal(currentCatalogue(withCatalogue(doc, 'new\n')), 'new\n');
    assert.throws(() => withCatalogue('no markers', 'x'));
  });
});
