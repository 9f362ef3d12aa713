/**
 * `legacy-gateway export --target kratos|okta|keycloak`, end to end (the command's run(args, io)) on real SQLite and
 * PostgreSQL stores seeded like the Auth0 export tests: one user per password scheme of test/fixtures/passwords (the
 * first correct vector of each scheme that needs no global passwords.params), migrated users, case-insensitive
 * duplicates, a user without email, no password, an unknown hash.
 *
 * Every emitted record is validated with ajv against the IdP's published request schema (test/fixtures/<idp>/, each
 * with its source in a $comment; the documented example bodies are validated first), and every emitted hash is
 * re-verified with the user's known password through an implementation of that IdP's own semantics that shares no
 * code with the exporter (./kratos/verify.ts, ./okta/verify.ts, ./keycloak/verify.ts); a wrong password must fail.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { createStore } from '../../../adapters/index.js';
import { parseConfig } from '../../../src/config.js';
import { UsageError } from '../../../src/operations/cli.js';
import { run, type ExportSummary } from '../../../src/operations/export.js';
import { captureIO } from '../../helpers/cli-io.js';
import { availability, createPostgresDatabase, lit } from '../../helpers/databases.js';
import { oneVectorPerScheme } from '../../helpers/vectors.js';
import { keycloakVerify, type Credential } from './keycloak/verify.js';
import { kratosVerify } from './kratos/verify.js';
import { oktaVerify, type OktaHash } from './okta/verify.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const addFormats = (addFormatsModule.default ?? addFormatsModule) as unknown as typeof addFormatsModule.default;
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const schema = (idp: string, file: string) => ajv.compile(JSON.parse(readFileSync(path.resolve(`test/fixtures/${idp}/${file}`), 'utf8')) as object);
const validators = {
  kratos: schema('kratos', 'create-identity-body.schema.json'),
  okta: schema('okta', 'create-user-request.schema.json'),
  keycloak: schema('keycloak', 'partial-import.schema.json'),
};
function errors(v: (typeof validators)[keyof typeof validators], doc: unknown): string[] {
  return v(doc) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || '(doc)'} ${e.message ?? e.keyword}`);
}

const work = mkdtempSync(path.join(tmpdir(), 'lg-export-targets-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Seed {
  id: number;
  email: string | null;
  username: string | null;
  password_hash: string | null;
  salt?: string | null;
  password_scheme?: string | null;
  email_confirmed?: boolean | null;
  first_name?: string | null;
  is_disabled?: boolean;
  migrated_at?: string | null;
  known?: string;
}

/** As the Auth0 export tests seed their store: one user per scheme, and the planted cases. */
function seedUsers(): Seed[] {
  const users: Seed[] = [];
  for (const v of oneVectorPerScheme()) {
    const id = users.length + 1;
    users.push({ id, email: `User${id}@Example.com`, username: v.row?.username ?? `user${id}`, password_hash: v.stored, salt: v.row?.salt ?? null, password_scheme: v.scheme, email_confirmed: id % 2 === 0, first_name: `First${id}`, known: v.password });
  }
  const bcrypt = '$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K'; // Auth0's published vector: "hello"
  users.push(
    { id: 1001, email: 'dup@example.com', username: 'dupuser', password_hash: bcrypt, known: 'hello' },
    { id: 1002, email: 'DUP@Example.com', username: 'other', password_hash: bcrypt, known: 'hello' },
    { id: 1003, email: 'third@example.com', username: 'DupUser', password_hash: bcrypt, known: 'hello' },
    { id: 1004, email: 'migrated@example.com', username: 'migrated', password_hash: bcrypt, migrated_at: '2024-05-01 10:00:00' },
    { id: 1005, email: null, username: 'noemail', password_hash: bcrypt },
    { id: 1006, email: 'blocked@example.com', username: 'blocked', password_hash: bcrypt, known: 'hello', is_disabled: true },
    { id: 1007, email: 'nopassword@example.com', username: 'nopassword', password_hash: null },
    { id: 1008, email: 'unknown@example.com', username: 'unknown', password_hash: 'not a recognisable hash' },
  );
  return users;
}

const COLUMNS = ['id', 'email', 'username', 'password_hash', 'salt', 'password_scheme', 'email_confirmed', 'first_name', 'is_disabled', 'migrated_at'] as const;
const DDL = {
  sqlite: [
    `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT, salt TEXT, password_scheme TEXT,
      email_confirmed INTEGER, first_name TEXT, is_disabled INTEGER NOT NULL DEFAULT 0, migrated_at TEXT)`,
    'CREATE TABLE legacy_gateway_exports (user_id TEXT PRIMARY KEY, exported_at TEXT NOT NULL)',
  ],
  postgres: [
    `CREATE TABLE users (id integer PRIMARY KEY, email text, username text, password_hash text, salt text, password_scheme text,
      email_confirmed boolean, first_name text, is_disabled boolean NOT NULL DEFAULT false, migrated_at timestamptz)`,
    'CREATE TABLE legacy_gateway_exports (user_id varchar(255) PRIMARY KEY, exported_at timestamptz NOT NULL)',
  ],
};
const inserts = (users: Seed[]) =>
  users.map((u) => `INSERT INTO users (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => lit(c === 'is_disabled' ? (u.is_disabled ?? false) : u[c])).join(', ')})`);

interface Target {
  kind: 'sqlite' | 'postgres';
  url: string;
  drop(): Promise<void>;
}

async function makeTarget(kind: 'sqlite' | 'postgres', users: Seed[]): Promise<Target> {
  const statements = [...DDL[kind], ...inserts(users)];
  if (kind === 'sqlite') {
    const file = path.join(mkdtempSync(path.join(work, 'db-')), 'legacy.sqlite');
    const db = new Database(file);
    for (const s of statements) db.exec(s);
    db.close();
    return { kind, url: file, drop: async () => rmSync(path.dirname(file), { recursive: true, force: true }) };
  }
  const db = await createPostgresDatabase();
  await db.exec(statements);
  return { kind, url: db.url, drop: () => db.drop() };
}

function storeConfig(t: Target) {
  return {
    auth: { issuer: 'https://issuer.example/', audience: 'aud' },
    store: {
      adapter: t.kind,
      url: t.url,
      users: {
        table: 'users',
        columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash', salt: 'salt', password_scheme: 'password_scheme', email_verified: 'email_confirmed', given_name: 'first_name', blocked: 'is_disabled' },
      },
      migration: { column: 'migrated_at' },
    },
    profile: { user_id_prefix: 'legacy|' },
  };
}

function writeConfig(t: Target): string {
  const file = path.join(mkdtempSync(path.join(work, 'cfg-')), 'config.json');
  writeFileSync(file, JSON.stringify(storeConfig(t)));
  return file;
}

async function cli(args: string[]) {
  const io = captureIO();
  const code = await run(args, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

function readCsv(file: string): Record<string, string>[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const [header, ...lines] = text.trim().split('\n');
  const keys = header!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [keys[i]!, v])));
}

type Idp = 'kratos' | 'okta' | 'keycloak';
/** What one record says about its user: who (legacy user_id, or email for Okta), and how the password travels. */
interface Seen {
  who: string;
  email: string;
  username?: string;
  password: { kind: 'hash'; verify: (pw: string) => Promise<boolean> } | { kind: 'hook' } | { kind: 'none' };
  record: Record<string, unknown>;
}

/** Read the files of a target back (layout, sizes, checksums, schema) into records. */
function readExport(idp: Idp, dir: string, maxBytes: number): { summary: ExportSummary; seen: (Seen & { file: string })[] } {
  const summary = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ExportSummary;
  const pattern = { kratos: /^identities-\d{4}\.json$/, okta: /^users-\d{4}\.ndjson$/, keycloak: /^users-\d{4}\.json$/ }[idp];
  assert.deepEqual(summary.files.map((f) => f.name), readdirSync(dir).filter((f) => pattern.test(f)).sort(), 'the manifest lists every file');
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
  const seen: (Seen & { file: string })[] = [];
  for (const f of summary.files) {
    const text = readFileSync(path.join(dir, f.name));
    assert.ok(text.length <= maxBytes, `${f.name}: ${text.length} > ${maxBytes}`);
    assert.equal(text.length, f.bytes);
    assert.equal(createHash('sha256').update(text).digest('hex'), f.sha256);
    let records: Record<string, unknown>[];
    if (idp === 'okta') {
      assert.ok(text.toString().endsWith('\n'));
      records = text.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const r of records) assert.deepEqual(errors(validators.okta, r), [], JSON.stringify(r.profile));
    } else if (idp === 'keycloak') {
      const doc = JSON.parse(text.toString()) as { ifResourceExists: string; users: Record<string, unknown>[] };
      assert.deepEqual(errors(validators.keycloak, doc), [], f.name);
      assert.equal(doc.ifResourceExists, 'SKIP');
      records = doc.users;
    } else {
      records = JSON.parse(text.toString()) as Record<string, unknown>[];
      assert.ok(Array.isArray(records));
      for (const r of records) assert.deepEqual(errors(validators.kratos, r), [], JSON.stringify(r.traits));
    }
    assert.equal(records.length, f.users);
    for (const r of records) seen.push({ ...describeRecord(idp, r), file: f.name });
    for (const key of ['email', 'username'] as const) {
      const values = seen.filter((s) => s.file === f.name).map((s) => s[key]).filter((v) => v !== undefined);
      assert.equal(new Set(values).size, values.length, `${f.name}: a ${key} twice in one file`);
    }
  }
  return { summary, seen };
}

function describeRecord(idp: Idp, r: Record<string, unknown>): Seen {
  if (idp === 'kratos') {
    const traits = r.traits as { email: string; username?: string };
    const config = (r.credentials as { password: { config: { hashed_password: string; use_password_migration_hook?: boolean } } } | undefined)?.password.config;
    const password: Seen['password'] = !config
      ? { kind: 'none' }
      : config.use_password_migration_hook
        ? { kind: 'hook' }
        : { kind: 'hash', verify: (pw) => kratosVerify(pw, config.hashed_password) };
    if (config?.use_password_migration_hook) assert.equal(config.hashed_password, '', 'the documented hook setup: an empty hash');
    return { who: (r.metadata_admin as { legacy_user_id: string }).legacy_user_id, email: traits.email, username: traits.username, password, record: r };
  }
  if (idp === 'okta') {
    const profile = r.profile as { login: string; email: string };
    assert.equal(profile.login, profile.email);
    const pw = (r.credentials as { password: { hash?: OktaHash; hook?: { type: string } } } | undefined)?.password;
    const password: Seen['password'] = !pw ? { kind: 'none' } : pw.hook ? { kind: 'hook' } : { kind: 'hash', verify: (x) => oktaVerify(x, pw.hash!) };
    return { who: profile.email, email: profile.email, password, record: r };
  }
  const creds = r.credentials as Credential[] | undefined;
  const password: Seen['password'] = creds?.length ? { kind: 'hash', verify: (x) => keycloakVerify(x, creds[0]!) } : { kind: 'none' };
  return { who: (r.attributes as { legacy_user_id: string[] }).legacy_user_id[0]!, email: r.email as string, username: r.username as string, password, record: r };
}

async function exportedCount(t: Target): Promise<number | null> {
  const store = await createStore(parseConfig(storeConfig(t), {}).store);
  try {
    return (await store.migrationStatus()).exported;
  } finally {
    await store.close();
  }
}

describe('the fixture schemas accept the documented example bodies', () => {
  const examples = (idp: string) =>
    (JSON.parse(readFileSync(path.resolve(`test/fixtures/${idp}/documented-examples.json`), 'utf8')) as { examples: { name: string; body: unknown }[] }).examples;

  test("Ory's import examples, Okta's imported-hash and hook examples (test/fixtures/<idp>/documented-examples.json)", () => {
    for (const e of examples('kratos')) assert.deepEqual(errors(validators.kratos, e.body), [], e.name);
    const okta = examples('okta');
    assert.equal(okta.length, 2);
    for (const e of okta) assert.deepEqual(errors(validators.okta, e.body), [], e.name);
    const bcrypt = okta[0]!.body as { profile: object; credentials: { password: { hash: object } } };
    assert.notDeepEqual(errors(validators.okta, { ...bcrypt, credentials: { password: { hash: { algorithm: 'ARGON2', value: 'x' } } } }), [], 'an algorithm Okta lacks');
    assert.notDeepEqual(errors(validators.okta, { ...bcrypt, credentials: { password: { hash: { algorithm: 'SHA-1', value: 'x', salt: 'AA==' } } } }), [], 'a salt without saltOrder');
  });

  test('a Keycloak partial import as its REST API describes it', () => {
    const kc = {
      ifResourceExists: 'SKIP',
      users: [{ username: 'jdoe', email: 'jdoe@example.com', enabled: true, credentials: [{ type: 'password', secretData: '{"value":"x","salt":"y"}', credentialData: '{"hashIterations":27500,"algorithm":"pbkdf2-sha256"}' }] }],
    };
    assert.deepEqual(errors(validators.keycloak, kc), []);
    assert.notDeepEqual(errors(validators.keycloak, { users: [{ username: 'x', enabled: true, credentials: [{ type: 'password', value: 'cleartext' }] }] }), []);
  });
});

const IDPS: Idp[] = ['kratos', 'okta', 'keycloak'];

function endToEnd(kind: 'sqlite' | 'postgres', skip: string | false) {
  describe(`export --target kratos|okta|keycloak on ${kind}`, { skip }, () => {
    const users = seedUsers();
    let t: Target;
    let config: string;
    after(async () => t?.drop());

    for (const idp of IDPS) {
      test(`${idp}: schema-valid files under --max-bytes, every hash re-verified, hook and reset users listed, ledger recorded`, async () => {
        t ??= await makeTarget(kind, users);
        config ??= writeConfig(t);
        const out = path.join(work, `${kind}-${idp}`);
        const maxBytes = 4000;
        const r = await cli(['--config', config, '--target', idp, '--out', out, '--max-bytes', String(maxBytes), '--json']);
        assert.equal(r.code, 0, r.stderr);
        const { summary, seen } = readExport(idp, out, maxBytes);
        assert.deepEqual(JSON.parse(r.stdout), summary, '--json prints the manifest');
        assert.equal(summary.target, idp);
        assert.ok(summary.files.length > 2, 'several files at this --max-bytes');

        const expected = users.filter((u) => !u.migrated_at && u.email);
        const whoOf = (u: Seed) => (idp === 'okta' ? u.email!.toLowerCase() : `legacy|${u.id}`);
        assert.deepEqual(seen.map((s) => s.who).sort(), expected.map(whoOf).sort(), 'everyone but the migrated user and the one without email');
        assert.equal(summary.counts.scanned, users.length);
        assert.equal(summary.counts.migrated, 1);
        assert.equal(summary.counts.refused, 1);
        assert.equal(summary.counts.exported, expected.length);
        if (idp !== 'okta') {
          const fileOf = (id: number) => seen.find((s) => s.who === `legacy|${id}`)!.file;
          assert.notEqual(fileOf(1001), fileOf(1002), 'dup@example.com twice');
          assert.notEqual(fileOf(1001), fileOf(1003), 'username dupuser twice');
        }

        // Every hash: the user's password passes, a wrong one fails.
        const bySeed = new Map(expected.map((u) => [whoOf(u), u]));
        let hashes = 0;
        for (const s of seen) {
          if (s.password.kind !== 'hash') continue;
          const seed = bySeed.get(s.who)!;
          assert.ok(seed.known !== undefined, `${s.who}: a hash for a user whose password is unknown`);
          assert.equal(await s.password.verify(seed.known), true, `${seed.password_scheme ?? 'bcrypt'} (${s.who})`);
          assert.equal(await s.password.verify(`${seed.known}!`), false, `${seed.password_scheme ?? 'bcrypt'}: wrong password`);
          hashes++;
        }
        assert.equal(hashes, summary.counts.with_password_hash);
        assert.ok(hashes >= 15, `${hashes} hashes exported`);

        // The CSVs: exactly the hook users in migration-hook.csv, exactly the others without a hash in needs-password-reset.csv.
        const hookRows = readCsv(path.join(out, 'migration-hook.csv'));
        const resetRows = readCsv(path.join(out, 'needs-password-reset.csv'));
        const csvWho = (row: Record<string, string>) => (idp === 'okta' ? row.email! : row.user_id!);
        assert.deepEqual(hookRows.map(csvWho).sort(), seen.filter((s) => s.password.kind === 'hook').map((s) => s.who).sort());
        assert.deepEqual(resetRows.map(csvWho).sort(), seen.filter((s) => s.password.kind === 'none').map((s) => s.who).sort());
        const reasons = new Map([...hookRows, ...resetRows].map((x) => [x.user_id, x.reason]));
        assert.equal(reasons.get('legacy|1007'), 'no_password');
        assert.equal(reasons.get('legacy|1008'), 'unknown_scheme');
        if (idp === 'keycloak') {
          assert.equal(hookRows.length, 0, 'Keycloak has no hook flag');
          assert.equal(summary.counts.with_migration_hook, undefined);
        } else {
          assert.equal(summary.counts.with_migration_hook, hookRows.length);
          assert.ok(hookRows.length > 5, 'schemes the IdP lacks go through the hook');
          for (const row of hookRows) assert.match(row.reason!, /^(cleartext|unsupported_(scheme|variant|params):)/);
          assert.ok(resetRows.some((x) => x.user_id === 'legacy|1007'), 'no password: a reset, not the hook');
        }
        assert.equal(summary.counts.without_password, resetRows.length);

        // Blocked user, verified email.
        const blocked = seen.find((s) => s.who === (idp === 'okta' ? 'blocked@example.com' : 'legacy|1006'))!.record;
        if (idp === 'kratos') assert.equal(blocked.state, 'inactive');
        if (idp === 'keycloak') assert.equal(blocked.enabled, false);
        if (idp === 'okta') assert.ok(readCsv(path.join(out, 'problems.csv')).some((p) => p.code === 'blocked_user' && p.email === 'blocked@example.com'));
        const verified = seen.find((s) => s.who === (idp === 'okta' ? 'user2@example.com' : 'legacy|2'))!.record;
        if (idp === 'kratos') assert.deepEqual(verified.verifiable_addresses, [{ value: 'user2@example.com', verified: true, via: 'email', status: 'completed' }]);
        if (idp === 'keycloak') assert.equal(verified.emailVerified, true);

        // No hash anywhere but in the import files.
        const aside = [r.stdout, r.stderr, ...['needs-password-reset.csv', 'migration-hook.csv', 'problems.csv', 'manifest.json'].map((f) => readCsvText(path.join(out, f)))].join('\n');
        for (const u of users) if (u.password_hash && u.password_hash.length > 8) assert.ok(!aside.includes(u.password_hash), `hash of user ${u.id} leaked`);

        assert.equal(summary.ledger.status, 'recorded', JSON.stringify(summary.ledger));
        assert.equal(summary.ledger.recorded, summary.counts.exported);
        assert.equal(await exportedCount(t), summary.counts.exported);
      });
    }

    test('--only-importable-hashes holds back hook and reset users alike (held-back.csv); every record has a hash', async () => {
      t ??= await makeTarget(kind, users);
      config ??= writeConfig(t);
      for (const idp of IDPS) {
        const out = path.join(work, `${kind}-${idp}-only`);
        const r = await cli(['--config', config, '--target', idp, '--out', out, '--only-importable-hashes']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /held back/);
        const { summary, seen } = readExport(idp, out, 500_000);
        assert.ok(seen.every((s) => s.password.kind === 'hash'), `${idp}: every exported user has a hash`);
        const held = readCsv(path.join(out, 'held-back.csv'));
        assert.equal(held.length, summary.counts.held_back);
        assert.ok(held.some((h) => h.user_id === 'legacy|1007' && h.reason === 'no_password'));
        assert.equal(summary.counts.exported + summary.counts.held_back + summary.counts.refused + summary.counts.migrated, users.length);
        assert.ok(!readdirSync(out).includes('migration-hook.csv') && !readdirSync(out).includes('needs-password-reset.csv'));
      }
    });
  });
}

function readCsvText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

endToEnd('sqlite', false);
endToEnd('postgres', await availability('postgres'));

describe('export: targets on the command line', () => {
  test('an unknown target is a usage error; --max-bytes above Auth0 limit is fine for the others, never for auth0', async () => {
    const t = await makeTarget('sqlite', seedUsers().slice(0, 3));
    try {
      const c = writeConfig(t);
      await assert.rejects(cli(['--config', c, '--target', 'cognito', '--out', path.join(work, 'x')]), (e: unknown) => e instanceof UsageError && /auth0, kratos, okta, keycloak/.test(e.message));
      await assert.rejects(cli(['--config', c, '--target', 'auth0', '--out', path.join(work, 'x'), '--max-bytes', '600000']), UsageError);
      const r = await cli(['--config', c, '--target', 'keycloak', '--out', path.join(work, 'big'), '--max-bytes', '600000']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^export \(keycloak\): 1 file\(s\) in /);
      const k = await cli(['--config', c, '--target', 'kratos', '--out', path.join(work, 'human-kratos')]);
      assert.match(k.stdout, /exported +3 user\(s\): \d+ with their password hash, \d+ through the migration hook/);
    } finally {
      await t.drop();
    }
  });
});
