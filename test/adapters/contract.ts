/**
 * The UserStore contract (DESIGN.md §5), one suite run unchanged against every adapter on a real server.
 * An adapter's test file supplies a factory that creates a fresh schema, seeds it and opens the store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test as nodeTest } from 'node:test';
import type { SqlDriver } from '../../adapters/sql.js';
import { instantIso, isAmbiguous, StoreError, type LegacyUser, type UserStore } from '../../adapters/types.js';
import { lit, type TestDatabase } from '../helpers/databases.js';
import { findByLogin } from '../../src/matching.js';

const DAY_MS = 86_400_000;
const daysAgo = (n: number) => new Date(Date.now() - n * DAY_MS);

export interface SeedUser {
  id: number;
  email: string | null;
  username: string | null;
  password_hash: string;
  full_name?: string | null;
  email_confirmed?: boolean | null;
  is_disabled?: boolean;
  plan?: string | null;
  /** Seeded through RawAccess.lastLogin after the rows are inserted (each engine binds its own time type). */
  last_login?: Date | null;
}

export const SEED: SeedUser[] = [
  { id: 1, email: 'Alice@Example.com', username: 'Alice', password_hash: '$2b$10$abcdefghijklmnopqrstuuJ1vZ5c1VPnN2cH9m1GxZ6K2Z4n3Xq4W', full_name: 'Alice Doe', email_confirmed: true, plan: 'gold', last_login: daysAgo(5) },
  { id: 2, email: 'bob@example.com', username: 'bob', password_hash: 'pbkdf2_sha256$1000$salt$aGFzaA==', full_name: 'Bob', email_confirmed: false, plan: null, last_login: daysAgo(45) },
  { id: 3, email: 'ÉLODIE@Exemple.fr', username: 'élodie', password_hash: 'x', email_confirmed: null, last_login: daysAgo(200) },
  { id: 4, email: 'dup@example.com', username: 'dup-a', password_hash: 'x' },
  { id: 5, email: 'DUP@example.com', username: 'dup-b', password_hash: 'x' },
  { id: 6, email: null, username: 'no-email', password_hash: 'x', is_disabled: true },
  { id: 7, email: 'user7@example.com', username: 'dup-a@other', password_hash: 'x' },
];

export type MigrationMode = 'column' | 'table';

export interface ContractTarget {
  store: UserStore;
  cleanup(): Promise<void>;
  /** Another store on the same data, opened with this mapping (the caller closes it). */
  reopen(mapping: ContractMapping): Promise<UserStore>;
  raw: RawAccess;
}

/** Direct access to the data, as a DBA (or the legacy application) has it: nothing goes through the store. */
export interface RawAccess {
  /** A migration mark at a known time: the migration column, or a side-table row. */
  mark(id: number, at: Date): Promise<void>;
  /** users.last_login. */
  lastLogin(id: number, at: Date): Promise<void>;
  /** The export ledger's rows: user id → exported_at (ms). */
  ledger(): Promise<Map<string, number>>;
  clearLedger(): Promise<void>;
  close(): Promise<void>;
}

/** Set every seeded last_login. */
export async function seedLastLogins(raw: RawAccess, users: SeedUser[]): Promise<void> {
  for (const u of users) if (u.last_login) await raw.lastLogin(u.id, u.last_login);
}

/**
 * RawAccess on a relational fixture, through a driver of the engine (the adapter's own, opened separately): the
 * contract schema's users table (columns id, migrated_at, last_login), side table and ledger, names as given.
 */
export function sqlRaw(driver: SqlDriver, mode: MigrationMode, tables: { users: string; marks: string; ledger: string }): RawAccess {
  const d = driver.dialect;
  const q = (name: string) => name.split('.').map((p) => d.quoteIdent(p)).join('.');
  const setColumn = (column: string) => (id: number, at: Date) =>
    driver.run(`UPDATE ${q(tables.users)} SET ${d.quoteIdent(column)} = ${d.param(1)} WHERE ${d.quoteIdent('id')} = ${d.param(2)}`, [d.timestamp(at), id]).then(() => {});
  return {
    async mark(id, at) {
      if (mode === 'column') await setColumn('migrated_at')(id, at);
      else await driver.run(`INSERT INTO ${q(tables.marks)} (user_id, migrated_at) VALUES (${d.param(1)}, ${d.param(2)})`, [String(id), d.timestamp(at)]);
    },
    lastLogin: setColumn('last_login'),
    async ledger() {
      const rows = await driver.all(`SELECT user_id, exported_at FROM ${q(tables.ledger)}`, []);
      return new Map(rows.map((r) => [String(r.user_id), Date.parse(instantIso(r.exported_at) ?? '')]));
    },
    async clearLedger() {
      await driver.run(`DELETE FROM ${q(tables.ledger)}`, []);
    },
    close: () => driver.close(),
  };
}

/** Column mapping every adapter's fixture schema uses. */
export const CONTRACT_COLUMNS = {
  id: 'id',
  email: 'email',
  username: 'username',
  password: 'password_hash',
  email_verified: 'email_confirmed',
  name: 'full_name',
  blocked: 'is_disabled',
  last_login: 'last_login',
} as const;

/** The default export ledger's name (config's EXPORTS_TABLE). */
export const LEDGER_TABLE = 'legacy_gateway_exports';

/**
 * For relational servers: create the fixture tables on a fresh test database, seed SEED, open the store with the
 * contract mapping, and drop the database on cleanup. Only the CREATE TABLE statements differ per dialect.
 */
export async function openOnDatabase(
  db: TestDatabase,
  createTables: string[],
  users: SeedUser[],
  mode: MigrationMode,
  create: (store: { url: string; query_timeout_ms: number; pool_max: number } & ContractMapping) => Promise<UserStore>,
  openDriver: (url: string, opts: { max: number; queryTimeoutMs: number }) => Promise<SqlDriver>,
): Promise<ContractTarget> {
  await db.exec([
    ...createTables,
    ...users.map(
      (u) =>
        `INSERT INTO users (id, email, username, password_hash, full_name, email_confirmed, is_disabled, plan) VALUES (${[
          u.id, u.email, u.username, u.password_hash, u.full_name, u.email_confirmed, u.is_disabled ?? false, u.plan,
        ].map(lit).join(', ')})`,
    ),
  ]);
  const raw = sqlRaw(await openDriver(db.url, { max: 2, queryTimeoutMs: 5000 }), mode, { users: 'users', marks: 'legacy_gateway_migrations', ledger: LEDGER_TABLE });
  await seedLastLogins(raw, users);
  const open = (m: ContractMapping) => create({ url: db.url, query_timeout_ms: 5000, pool_max: 5, ...m });
  const store = await open(contractMapping(mode));
  return {
    store,
    reopen: open,
    raw,
    async cleanup() {
      await store.close();
      await raw.close();
      await db.drop();
    },
  };
}

/** What a test changes in the contract mapping: columns (null unmaps one), the export ledger's name. */
export interface MappingChange {
  columns?: { last_login?: string | null };
  exports_table?: string;
}

/** The mapping every adapter's contract fixture is opened with. */
export function contractMapping(mode: MigrationMode, change: MappingChange = {}) {
  const ledger = change.exports_table ? { exports_table: change.exports_table } : {};
  return {
    users: { table: 'users', joins: [], filter: [], columns: { ...CONTRACT_COLUMNS, ...change.columns }, app_metadata: ['plan'], user_metadata: [] },
    migration: mode === 'column' ? { column: 'migrated_at', ...ledger } : { table: 'legacy_gateway_migrations', ...ledger },
  };
}

export type ContractMapping = ReturnType<typeof contractMapping>;

/**
 * opts.ledger: 'table' (relational: a ledger that was never created makes exported null) or 'collection' (MongoDB:
 * a collection exists once written, so an absent ledger is an empty one).
 */
export function userStoreContract(
  name: string,
  open: (users: SeedUser[], mode: MigrationMode) => Promise<ContractTarget>,
  opts: { skip?: string | false; ledger?: 'table' | 'collection' } = {},
): void {
  for (const mode of ['column', 'table'] as const) {
    // The skip goes on every test (not only the suite) so that the runner's summary counts them as skipped.
    const test = (title: string, fn: () => Promise<void>) => nodeTest(title, { skip: opts.skip ?? false }, fn);
    describe(`UserStore contract: ${name} (migration in a ${mode})`, () => {
      let t: ContractTarget;
      let store: UserStore;
      before(async () => {
        if (opts.skip) return;
        t = await open(SEED, mode);
        store = t.store;
      });
      after(async () => {
        await t?.cleanup();
      });

      const found = async (login: string): Promise<LegacyUser> => {
        const u = await findByLogin(store, login);
        assert.ok(u && !isAmbiguous(u), `expected one user for ${login}`);
        return u;
      };

      test('ping answers', async () => {
        await store.ping();
      });

      test('findByLogin matches email and username case-insensitively and maps every column', async () => {
        for (const login of ['alice@example.com', 'ALICE@EXAMPLE.COM', 'Alice', 'aLiCe', '  alice@example.com  ']) {
          const u = await found(login);
          assert.equal(u.id, '1');
        }
        const u = await found('alice');
        assert.equal(u.email, 'Alice@Example.com');
        assert.equal(u.username, 'Alice');
        assert.equal(u.password, SEED[0]!.password_hash);
        assert.equal(u.name, 'Alice Doe');
        assert.deepEqual(u.appMetadata, { plan: 'gold' });
        assert.equal(u.migratedAt, null);
      });

      test('non-ASCII logins fold case like JavaScript does', async () => {
        assert.equal((await found('élodie@exemple.fr')).id, '3');
        assert.equal((await found('ÉLODIE')).id, '3');
      });

      test('unknown login is null; null columns are absent', async () => {
        assert.equal(await findByLogin(store, 'nobody@example.com'), null);
        const bob = await found('bob');
        assert.deepEqual(bob.appMetadata, {});
        const noEmail = await found('no-email');
        assert.equal(noEmail.email, undefined);
      });

      test('two rows sharing an email case-insensitively are ambiguous, never a guess', async () => {
        assert.ok(isAmbiguous(await findByLogin(store, 'dup@example.com')));
        // one row's email equals another row's username
        assert.ok(isAmbiguous(await findByLogin(store, 'dup-a@other')) === false);
        assert.equal((await found('dup-a')).id, '4');
      });

      test('SQL and operator payloads as logins are plain values', async () => {
        for (const evil of ["' OR '1'='1", "alice' --", 'alice"; DROP TABLE users; --', '%', '_', '*', '\\', "' UNION SELECT 1,2,3 --"]) {
          assert.equal(await findByLogin(store, evil), null, evil);
        }
        assert.equal((await store.migrationStatus()).total, SEED.length);
      });

      test('findById finds by primary key; unknown or malformed ids are null', async () => {
        assert.equal((await store.findById('2'))?.email, 'bob@example.com');
        assert.equal(await store.findById('999'), null);
        assert.equal(await store.findById('abc'), null);
        assert.equal(await store.findById("1' OR '1'='1"), null);
      });

      test('markMigrated is idempotent and keeps the first timestamp; unmark reverts', async () => {
        const first = await store.markMigrated('2');
        assert.ok(first && !Number.isNaN(Date.parse(first)), 'ISO timestamp');
        await new Promise((r) => setTimeout(r, 15));
        assert.equal(await store.markMigrated('2'), first);
        assert.equal((await found('bob')).migratedAt, first);
        assert.equal((await store.findById('2'))?.migratedAt, first);
        assert.equal(await store.unmarkMigrated('2'), true);
        assert.equal((await found('bob')).migratedAt, null);
        assert.equal(await store.unmarkMigrated('2'), true, 'unmarking an unmarked user is fine');
      });

      test('marking or unmarking an unknown user reports it', async () => {
        assert.equal(await store.markMigrated('999'), null);
        assert.equal(await store.unmarkMigrated('999'), false);
      });

      test('concurrent marks of one user produce one record with the first timestamp', async () => {
        const stamps = await Promise.all(Array.from({ length: 20 }, () => store.markMigrated('1')));
        assert.equal(new Set(stamps).size, 1, `got ${[...new Set(stamps)].join(', ')}`);
        const s = await store.migrationStatus();
        assert.equal(s.migrated, 1);
        await store.unmarkMigrated('1');
      });

      test('migrationStatus counts from the database', async () => {
        const at6 = await store.markMigrated('6');
        const at7 = await store.markMigrated('7');
        const s = await store.migrationStatus();
        // Users 6 and 7 never logged in; of the others 1 did within 30 days, 1 more within 90.
        const perDay = [...new Set([at6!.slice(0, 10), at7!.slice(0, 10)])].map((day) => ({ day, count: [at6, at7].filter((a) => a!.startsWith(day)).length }));
        assert.deepEqual(s, { total: SEED.length, migrated: 2, exported: 0, remaining: SEED.length - 2, perDay, activeRemaining: { days30: 1, days90: 2 } });
        await store.unmarkMigrated('6');
        await store.unmarkMigrated('7');
        const after = await store.migrationStatus();
        assert.deepEqual([after.migrated, after.perDay], [0, []]);
      });

      test('last_login is mapped into lastLogin (ISO 8601), absent when null', async () => {
        assert.equal((await found('alice')).lastLogin, SEED[0]!.last_login!.toISOString());
        assert.equal((await store.findById('3'))?.lastLogin, SEED[2]!.last_login!.toISOString());
        assert.equal((await found('dup-a')).lastLogin, undefined);
      });

      test('perDay: the marks per UTC day, oldest first, days without marks omitted', async () => {
        // Around midnight UTC on purpose: a session time zone must not move a mark to another day.
        const marks: [number, string][] = [
          [1, '2024-03-01T23:30:00.000Z'],
          [2, '2024-03-01T00:10:00.000Z'],
          [4, '2024-03-03T12:00:00.000Z'],
          [5, '2023-12-31T23:59:59.000Z'],
        ];
        for (const [id, at] of marks) await t.raw.mark(id, new Date(at));
        try {
          const s = await store.migrationStatus();
          assert.deepEqual(s.perDay, [
            { day: '2023-12-31', count: 1 },
            { day: '2024-03-01', count: 2 },
            { day: '2024-03-03', count: 1 },
          ]);
          assert.equal(s.migrated, 4);
          assert.equal((await store.findById('1'))?.migratedAt, '2024-03-01T23:30:00.000Z');
        } finally {
          for (const [id] of marks) await store.unmarkMigrated(String(id));
        }
      });

      test('markExported is idempotent: the first time is kept; a repeat and an overlap are fine', async () => {
        await t.raw.clearLedger();
        try {
          await store.markExported!(['1', '2']);
          const first = await t.raw.ledger();
          assert.deepEqual([...first.keys()].sort(), ['1', '2']);
          await new Promise((r) => setTimeout(r, 20));
          await store.markExported!(['2', '3', '3']);
          await store.markExported!(['1', '2', '3']);
          await store.markExported!([]);
          const after = await t.raw.ledger();
          assert.deepEqual([...after.keys()].sort(), ['1', '2', '3']);
          assert.equal(after.get('1'), first.get('1'));
          assert.equal(after.get('2'), first.get('2'));
          assert.ok(after.get('3')! >= first.get('2')!);
          // Two exports of overlapping users at once.
          await Promise.all([store.markExported!(['4', '5', '6']), store.markExported!(['6', '5', '7'])]);
          assert.equal((await t.raw.ledger()).size, 7);
        } finally {
          await t.raw.clearLedger();
        }
      });

      test('exported counts only users not migrated; remaining = total - migrated - exported', async () => {
        await t.raw.clearLedger();
        try {
          await store.markExported!(['1', '2', '3', 'zq-no-such-user']);
          await store.markMigrated('2');
          await store.markMigrated('6');
          const s = await store.migrationStatus();
          assert.deepEqual([s.total, s.migrated, s.exported, s.remaining], [SEED.length, 2, 2, SEED.length - 2 - 2]);
          // Remaining active: user 1 (5 days) is exported, user 2 (45 days) migrated: none.
          assert.deepEqual(s.activeRemaining, { days30: 0, days90: 0 });
        } finally {
          await store.unmarkMigrated('2');
          await store.unmarkMigrated('6');
          await t.raw.clearLedger();
        }
      });

      test('activeRemaining: remaining users who logged in within 30 and 90 days; null without columns.last_login', async () => {
        assert.deepEqual((await store.migrationStatus()).activeRemaining, { days30: 1, days90: 2 });
        await store.markMigrated('1');
        try {
          assert.deepEqual((await store.migrationStatus()).activeRemaining, { days30: 0, days90: 1 });
          await store.markExported!(['2']);
          assert.deepEqual((await store.migrationStatus()).activeRemaining, { days30: 0, days90: 0 });
        } finally {
          await store.unmarkMigrated('1');
          await t.raw.clearLedger();
        }
        const plain = await t.reopen(contractMapping(mode, { columns: { last_login: null } }));
        try {
          const s = await plain.migrationStatus();
          assert.equal(s.activeRemaining, null);
          assert.deepEqual([s.total, s.migrated, s.exported, s.remaining], [SEED.length, 0, 0, SEED.length]);
          assert.equal((await plain.findById('1'))?.lastLogin, undefined);
        } finally {
          await plain.close();
        }
      });

      test('without the export ledger: exported is null (a relational store) and everything else works', async () => {
        const noLedger = await t.reopen(contractMapping(mode, { exports_table: 'lg_absent_ledger' }));
        try {
          await noLedger.ping();
          const s = await noLedger.migrationStatus();
          const absent = opts.ledger === 'collection' ? 0 : null;
          assert.deepEqual([s.total, s.migrated, s.exported, s.remaining], [SEED.length, 0, absent, SEED.length]);
          assert.deepEqual(s.activeRemaining, { days30: 1, days90: 2 });
          assert.equal((await noLedger.findById('2'))?.email, 'bob@example.com');
          if (opts.ledger !== 'collection') {
            const item = (await noLedger.probe?.())?.find((p) => p.what.includes('lg_absent_ledger'));
            assert.deepEqual(item && { ok: item.ok, optional: item.optional, absent: item.absent }, { ok: true, optional: true, absent: true });
            await assert.rejects(noLedger.markExported!(['1']), (e: Error) => e instanceof StoreError && /export ledger table lg_absent_ledger does not exist/.test(e.message));
          }
        } finally {
          await noLedger.close();
        }
      });

      test('markExported takes 1,000 ids in one call', async () => {
        await t.raw.clearLedger();
        try {
          const ids = [...SEED.map((u) => String(u.id)), ...Array.from({ length: 1000 - SEED.length }, (_, i) => `zq-batch-${i}`)];
          await store.markExported!(ids);
          const ledger = await t.raw.ledger();
          assert.equal(ledger.size, 1000);
          assert.ok(ids.every((id) => ledger.has(id)));
          const s = await store.migrationStatus();
          assert.deepEqual([s.exported, s.remaining], [SEED.length, 0]);
        } finally {
          await t.raw.clearLedger();
        }
      });

      test('scan streams every user in id order', async () => {
        const ids: string[] = [];
        for await (const u of store.scan()) ids.push(u.id);
        assert.deepEqual(ids, SEED.map((s) => String(s.id)));
      });
    });
  }
}
