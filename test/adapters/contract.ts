/**
 * The UserStore contract (DESIGN.md §5), one suite run unchanged against every adapter on a real server.
 * An adapter's test file supplies a factory that creates a fresh schema, seeds it and opens the store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test as nodeTest } from 'node:test';
import { isAmbiguous, type LegacyUser, type UserStore } from '../../adapters/types.js';
import { lit, type TestDatabase } from '../helpers/databases.js';
import { findByLogin } from '../../src/matching.js';

export interface SeedUser {
  id: number;
  email: string | null;
  username: string | null;
  password_hash: string;
  full_name?: string | null;
  email_confirmed?: boolean | null;
  is_disabled?: boolean;
  plan?: string | null;
}

export const SEED: SeedUser[] = [
  { id: 1, email: 'Alice@Example.com', username: 'Alice', password_hash: '$2b$10$abcdefghijklmnopqrstuuJ1vZ5c1VPnN2cH9m1GxZ6K2Z4n3Xq4W', full_name: 'Alice Doe', email_confirmed: true, plan: 'gold' },
  { id: 2, email: 'bob@example.com', username: 'bob', password_hash: 'pbkdf2_sha256$1000$salt$aGFzaA==', full_name: 'Bob', email_confirmed: false, plan: null },
  { id: 3, email: 'ÉLODIE@Exemple.fr', username: 'élodie', password_hash: 'x', email_confirmed: null },
  { id: 4, email: 'dup@example.com', username: 'dup-a', password_hash: 'x' },
  { id: 5, email: 'DUP@example.com', username: 'dup-b', password_hash: 'x' },
  { id: 6, email: null, username: 'no-email', password_hash: 'x', is_disabled: true },
  { id: 7, email: 'user7@example.com', username: 'dup-a@other', password_hash: 'x' },
];

export type MigrationMode = 'column' | 'table';

export interface ContractTarget {
  store: UserStore;
  cleanup(): Promise<void>;
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
} as const;

/**
 * For relational servers: create the fixture tables on a fresh test database, seed SEED, open the store with the
 * contract mapping, and drop the database on cleanup. Only the CREATE TABLE statements differ per dialect.
 */
export async function openOnDatabase(
  db: TestDatabase,
  createTables: string[],
  users: SeedUser[],
  mode: MigrationMode,
  create: (store: { url: string; query_timeout_ms: number; pool_max: number } & ReturnType<typeof contractMapping>) => Promise<UserStore>,
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
  const store = await create({ url: db.url, query_timeout_ms: 5000, pool_max: 5, ...contractMapping(mode) });
  return {
    store,
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
}

/** The mapping every adapter's contract fixture is opened with. */
export function contractMapping(mode: MigrationMode) {
  return {
    users: { table: 'users', joins: [], filter: [], columns: { ...CONTRACT_COLUMNS }, app_metadata: ['plan'], user_metadata: [] },
    migration: mode === 'column' ? { column: 'migrated_at' } : { table: 'legacy_gateway_migrations' },
  };
}

export function userStoreContract(
  name: string,
  open: (users: SeedUser[], mode: MigrationMode) => Promise<ContractTarget>,
  opts: { skip?: string | false } = {},
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
        await store.markMigrated('6');
        await store.markMigrated('7');
        const s = await store.migrationStatus();
        assert.deepEqual(s, { total: SEED.length, migrated: 2, remaining: SEED.length - 2 });
        await store.unmarkMigrated('6');
        await store.unmarkMigrated('7');
        assert.equal((await store.migrationStatus()).migrated, 0);
      });

      test('scan streams every user in id order', async () => {
        const ids: string[] = [];
        for await (const u of store.scan()) ids.push(u.id);
        assert.deepEqual(ids, SEED.map((s) => String(s.id)));
      });
    });
  }
}
