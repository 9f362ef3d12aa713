/**
 * The README's scheme catalogue, built from the code: one row per registered password scheme with its family, whether
 * it is auto-detected, the independent sources its fixture vectors come from (each vector's `source` in
 * test/fixtures/passwords/*.json) and the IdPs that can import its values as hashes (each export target's own mapping
 * run on the scheme's positive fixture vectors). Print it, or write it into README.md between the markers:
 *
 *   npx tsc -p . && node dist/scripts/scheme-catalogue.js            (prints the table)
 *   npx tsc -p . && node dist/scripts/scheme-catalogue.js --write    (updates README.md)
 *
 * test/src/scheme-catalogue.test.ts fails when README.md's section differs from what this builds.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LegacyUser } from '../adapters/types.js';
import type { Config } from '../src/config.js';
import { toAuth0PasswordHash } from '../src/operations/auth0/hash.js';
import { toKeycloakCredential } from '../src/operations/keycloak/hash.js';
import { toKratosHash } from '../src/operations/kratos/hash.js';
import { toOktaHash } from '../src/operations/okta/hash.js';
import { schemes as dbserverSchemes } from '../src/passwords/dbserver.js';
import { schemes as digestSchemes } from '../src/passwords/digest.js';
import { schemes as forumSchemes } from '../src/passwords/forum.js';
import { schemes as frameworkSchemes } from '../src/passwords/framework.js';
import { getScheme, schemeNames } from '../src/passwords/index.js';
import { schemes as kdfSchemes } from '../src/passwords/kdf.js';
import { schemes as plmSchemes } from '../src/passwords/plm.js';
import { schemes as unixSchemes } from '../src/passwords/unix.js';
import { passwordsOf, userOf, type Vector } from '../test/helpers/vectors.js';

export const START = '<!-- scheme-catalogue:start -->';
export const END = '<!-- scheme-catalogue:end -->';
export const REGENERATE = 'npx tsc -p . && node dist/scripts/scheme-catalogue.js --write';


/** The repository root: the first directory up from here (or the working directory) with README.md and test/fixtures/passwords. */
export function repoRoot(): string {
  for (const start of [path.dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      try {
        if (statSync(path.join(dir, 'test', 'fixtures', 'passwords')).isDirectory() && statSync(path.join(dir, 'README.md')).isFile()) return dir;
      } catch {
        // keep looking up
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error('cannot find the repository root (README.md and test/fixtures/passwords)');
}

/** Every vector of test/fixtures/passwords/*.json (lists of vectors, or objects holding one under `vectors`). */
export function fixtureVectors(root: string): Vector[] {
  const dir = path.join(root, 'test', 'fixtures', 'passwords');
  const out: Vector[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const data = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as unknown;
    const list = Array.isArray(data) ? data : (data as { vectors?: unknown }).vectors;
    if (!Array.isArray(list)) continue;
    for (const v of list) if (v && typeof v === 'object' && typeof (v as Vector).scheme === 'string') out.push(v as Vector);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Family

const MODULE_FAMILY: [readonly { name: string }[], string][] = [
  [unixSchemes, 'PHP / crypt(3)'],
  [kdfSchemes, 'KDFs'],
  [plmSchemes, 'KDFs'],
  [dbserverSchemes, 'database servers'],
  [frameworkSchemes, 'frameworks'],
  [forumSchemes, 'forums and shops'],
  [digestSchemes, 'databases and apps'],
];

/** The family a scheme is listed under: by what it is where its name says so, otherwise by the module it lives in. */
export function familyOf(name: string): string {
  if (/bcrypt/.test(name)) return 'bcrypt';
  if (/^ldap_/.test(name)) return 'LDAP';
  if (/^aspnet_/.test(name)) return 'ASP.NET';
  if (/^(hex|salted|hmac)_|^nthash$|^plaintext$/.test(name)) return 'plain digests';
  for (const [list, family] of MODULE_FAMILY) if (list.some((s) => s.name === name)) return family;
  return 'other';
}

// ---------------------------------------------------------------------------------------------------------------
// Sources

/** A vector's `source` → a short name of the independent implementation or publication it cites. */
const SOURCE_LABELS: [RegExp, string][] = [
  [/hashcat/i, 'hashcat example hashes'],
  [/^php scripts\/fixtures\/forum\.php/, "PHP 8.2 running the forum's code"],
  [/passlib/, 'passlib 1.7.4'],
  [/argon2-cffi/, 'argon2-cffi'],
  [/phc-winner-argon2/, 'argon2 reference tests'],
  [/dotnet\/aspnetcore/, 'ASP.NET Core tests'],
  [/^Django|django\/django/, 'Django'],
  [/Werkzeug/, 'Werkzeug'],
  [/firebase\/scrypt/, 'firebase/scrypt'],
  [/RFC \d+/, 'RFC test vectors'],
  [/PostgreSQL \d/, 'PostgreSQL'],
  [/Symfony/, 'Symfony'],
  [/Ruby|devise/i, 'Ruby / Devise'],
  [/passport-local-mongoose/, 'passport-local-mongoose tests'],
  [/htpasswd/, 'htpasswd'],
  [/openssl/, 'OpenSSL'],
  [/\bphp\b|\bcrypt\(/i, 'PHP 8.2'],
  [/hashlib|hmac|python/i, 'Python hashlib/hmac'],
];

export function sourceLabel(source: string): string | undefined {
  // unix.json: "stored: <command>; expected: <checks>": the command that made the value names the source.
  const made = /^stored: (.*?);\s*expected:/.exec(source)?.[1] ?? source;
  return SOURCE_LABELS.find(([re]) => re.test(made))?.[1];
}

// ---------------------------------------------------------------------------------------------------------------
// IdPs

type Mapper = (user: LegacyUser, passwords: Config['passwords']) => { ok: boolean };
const TARGETS: [string, Mapper][] = [
  ['Auth0', toAuth0PasswordHash],
  ['Kratos', toKratosHash],
  ['Okta', toOktaHash],
  ['Keycloak', toKeycloakCredential as unknown as Mapper],
];


/** The targets that take at least one of these values as a hash; "(some)" when they don't take them all. */
function importers(positives: Vector[]): string {
  const out: string[] = [];
  for (const [name, map] of TARGETS) {
    let ok = 0;
    for (const v of positives) {
      try {
        if (map(userOf(v), passwordsOf(v.params)).ok) ok++;
      } catch {
        // a mapper that throws imports nothing
      }
    }
    if (ok > 0) out.push(ok === positives.length ? name : `${name} (some)`);
  }
  return out.length > 0 ? out.join(', ') : '—';
}

// ---------------------------------------------------------------------------------------------------------------

export interface CatalogueRow {
  scheme: string;
  family: string;
  detect: 'auto' | 'named only';
  sources: string[];
  idps: string;
}

export function catalogueRows(root: string): CatalogueRow[] {
  const vectors = fixtureVectors(root);
  return schemeNames().map((scheme) => {
    const own = vectors.filter((v) => v.scheme === scheme);
    const counts = new Map<string, number>();
    for (const v of own) {
      const label = typeof v.source === 'string' ? sourceLabel(v.source) : undefined;
      if (label) counts.set(label, (counts.get(label) ?? 0) + 1);
    }
    const sources = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([l]) => l);
    return {
      scheme,
      family: familyOf(scheme),
      detect: getScheme(scheme)?.detect ? 'auto' : 'named only',
      sources,
      idps: importers(own.filter((v) => v.expected)),
    };
  });
}

export function catalogueMarkdown(root: string): string {
  const lines = [
    '| scheme | family | detected | proved against | imported as a hash by |',
    '|---|---|---|---|---|',
    ...catalogueRows(root).map((r) => `| \`${r.scheme}\` | ${r.family} | ${r.detect} | ${r.sources.join(', ') || '—'} | ${r.idps} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** README.md with the section between the markers replaced by `table`. */
export function withCatalogue(readme: string, table: string): string {
  const i = readme.indexOf(START);
  const j = readme.indexOf(END);
  if (i < 0 || j < i) throw new Error(`README.md has no ${START} … ${END} section`);
  return `${readme.slice(0, i + START.length)}\n${table}${readme.slice(j)}`;
}

/** The section between the markers, as README.md has it (null without markers). */
export function currentCatalogue(readme: string): string | null {
  const i = readme.indexOf(START);
  const j = readme.indexOf(END);
  if (i < 0 || j < i) return null;
  return readme.slice(i + START.length, j).replace(/^\n/, '');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = repoRoot();
  const table = catalogueMarkdown(root);
  if (process.argv.includes('--write')) {
    const file = path.join(root, 'README.md');
    writeFileSync(file, withCatalogue(readFileSync(file, 'utf8'), table));
    process.stdout.write(`README.md: ${table.split('\n').length - 3} schemes\n`);
  } else {
    process.stdout.write(table);
  }
}
