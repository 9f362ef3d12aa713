/**
 * Front-door tests: a real gateway on a real PostgreSQL database, reached through the fault-injecting proxy (so a
 * test can cut or stall the store), with the given front_doors configured. The seeded users cover a match, a
 * wrong password, a blocked account, an ambiguous email and a user already migrated.
 */
import { hashSync } from '@node-rs/bcrypt';
import pg from 'pg';
import type { UserStore } from '../../adapters/types.js';
import type { Config } from '../../src/config.js';
import { availability, createPostgresDatabase, env, lit, type TestDatabase } from './databases.js';
import { startFaultProxy, type FaultProxy } from './faultproxy.js';
import { startTestGateway, type TestGateway } from './harness.js';

export interface DoorUser {
  id: number;
  email: string;
  username: string;
  password: string;
  given: string;
  family: string;
  blocked?: boolean;
  verified?: boolean;
  plan?: string | null;
}

/** Cost 4: these tests are about the doors, not about bcrypt's cost. */
export const DOOR_USERS: DoorUser[] = [
  { id: 1, email: 'Isaac.Brock@Example.com', username: 'isaac', password: 'Okta', given: 'Isaac', family: 'Brock', verified: true, plan: 'gold' },
  { id: 2, email: 'pw-migration@example.org', username: 'kratos-user', password: 'the-password', given: 'Pat', family: 'Migration', verified: true },
  { id: 3, email: 'bob@company.com', username: 'bob', password: 'bob-password-1', given: 'Bob', family: 'Smith', verified: false, plan: 'free' },
  { id: 4, email: 'richard@example.com', username: 'johnny123', password: 'password', given: 'Richard', family: 'Roe', verified: true },
  { id: 5, email: 'user@contoso.com', username: 'contoso-user', password: 'value', given: 'Casey', family: 'Jensen', verified: true },
  { id: 6, email: 'casey@contoso.com', username: 'casey', password: 'Entra-Pass-1', given: 'Casey', family: 'Entra', verified: true },
  { id: 7, email: 'blocked@example.com', username: 'blocked-user', password: 'blocked-pass', given: 'Bea', family: 'Locked', blocked: true },
  // Two rows sharing an email case-insensitively: that login is ambiguous; each username is not.
  { id: 8, email: 'Dup@Example.com', username: 'dup-one', password: 'dup-one-pass', given: 'Dup', family: 'One' },
  { id: 9, email: 'dup@example.com', username: 'dup-two', password: 'dup-two-pass', given: 'Dup', family: 'Two' },
  { id: 10, email: 'noel@example.com', username: 'noël', password: 'pässwörd ünïcødé', given: 'Noël', family: 'Unicode', verified: true },
];

export const USER_ID_PREFIX = 'legacy|';

export interface DoorGateway {
  gw: TestGateway;
  db: TestDatabase;
  proxy: FaultProxy;
  /** Rows straight from the database (not through the gateway). */
  rows(sql: string): Promise<Record<string, unknown>[]>;
  /** Legacy ids marked migrated, read from the side table (now: a door's mark may still be on its way). */
  migratedIds(): Promise<string[]>;
  /**
   * A door marks after it has answered: poll the side table until it holds exactly `expected` (sorted as
   * migratedIds sorts) or `timeoutMs` passes; the last read either way (assert it equals `expected`).
   */
  marksEventually(expected: string[], timeoutMs?: number): Promise<string[]>;
  /** Store markMigrated calls that have started and not yet settled. */
  marksInFlight(): number;
  /** Clear every migration mark (between tests), once the marks in flight have settled. */
  clearMarks(): Promise<void>;
  close(): Promise<void>;
}

/** Skip reason when PostgreSQL is not reachable (and TEST_REQUIRE_DB is not set), else false. */
export const postgresSkip = () => availability('postgres');

export async function startDoorGateway(opts: {
  front_doors: Record<string, unknown>;
  config?: Record<string, unknown>;
  users?: DoorUser[];
  queryTimeoutMs?: number;
  /** The store the gateway gets is wrapStore(the real store) (test/helpers/harness.ts wrapStore). */
  wrapStore?: (store: UserStore) => UserStore;
}): Promise<DoorGateway> {
  // Marks in flight, counted at the store: clearMarks waits for them, so a late mark never lands in the next test.
  let inFlight = 0;
  let settled: (() => void)[] = [];
  const idle = () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => settled.push(r)));
  const track = (store: UserStore): UserStore =>
    new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop !== 'markMigrated' || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
        return async (id: string) => {
          inFlight++;
          try {
            return await (v as UserStore['markMigrated']).call(target, id);
          } finally {
            if (--inFlight === 0) {
              const waiting = settled;
              settled = [];
              for (const r of waiting) r();
            }
          }
        };
      },
    });
  const db = await createPostgresDatabase();
  let proxy: FaultProxy | undefined;
  try {
    await db.exec([
      `CREATE TABLE users (id integer PRIMARY KEY, email varchar(255), username varchar(255), password_hash text NOT NULL,
        given_name text, family_name text, email_confirmed boolean, is_disabled boolean NOT NULL DEFAULT false, plan text)`,
      'CREATE TABLE legacy_gateway_migrations (user_id varchar(255) PRIMARY KEY, migrated_at timestamptz NOT NULL)',
      ...(opts.users ?? DOOR_USERS).map(
        (u) =>
          `INSERT INTO users (id, email, username, password_hash, given_name, family_name, email_confirmed, is_disabled, plan) VALUES (${[
            u.id, u.email, u.username, hashSync(u.password, 4), u.given, u.family, u.verified ?? null, u.blocked ?? false, u.plan ?? null,
          ].map(lit).join(', ')})`,
      ),
    ]);
    const server = new URL(env.postgresUrl);
    proxy = await startFaultProxy({ host: server.hostname, port: Number(server.port || 5432) });
    const gw = await startTestGateway({
      store: {
        adapter: 'postgres',
        url: proxy.url(db.url),
        query_timeout_ms: opts.queryTimeoutMs ?? 1000,
        pool_max: 4,
        users: {
          table: 'users',
          columns: {
            id: 'id', email: 'email', username: 'username', password: 'password_hash',
            given_name: 'given_name', family_name: 'family_name', email_verified: 'email_confirmed', blocked: 'is_disabled',
          },
          app_metadata: ['plan'],
        },
        migration: { table: 'legacy_gateway_migrations' },
      },
      config: { profile: { user_id_prefix: USER_ID_PREFIX }, front_doors: opts.front_doors, ...(opts.config ?? {}) } as Partial<Config>,
      logLevel: 'debug',
      wrapStore: (s) => track(opts.wrapStore ? opts.wrapStore(s) : s),
    });
    const rows = async (sql: string) => {
      const c = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        return (await c.query(sql)).rows as Record<string, unknown>[];
      } finally {
        await c.end();
      }
    };
    const p = proxy;
    const migratedIds = async () => (await rows('SELECT user_id FROM legacy_gateway_migrations ORDER BY user_id')).map((r) => String(r.user_id));
    return {
      gw,
      db,
      proxy: p,
      rows,
      migratedIds,
      async marksEventually(expected, timeoutMs = 2000) {
        const until = Date.now() + timeoutMs;
        const want = JSON.stringify(expected);
        for (;;) {
          const ids = await migratedIds();
          if (JSON.stringify(ids) === want || Date.now() > until) return ids;
          await new Promise((r) => setTimeout(r, 20));
        }
      },
      marksInFlight: () => inFlight,
      async clearMarks() {
        // A mark starts right after its door's answer: give it a moment to reach the store, then let it settle.
        await new Promise((r) => setTimeout(r, 20));
        await idle();
        await rows('DELETE FROM legacy_gateway_migrations');
      },
      async close() {
        p.resume();
        // A mark still on its way would meet a closed pool: let it land (bounded).
        await Promise.race([idle(), new Promise((r) => setTimeout(r, 5000).unref())]);
        try {
          gw.running.server.closeAllConnections();
          await gw.close();
        } finally {
          await p.close().catch(() => {});
          await db.drop();
        }
      },
    };
  } catch (e) {
    await proxy?.close().catch(() => {});
    await db.drop();
    throw e;
  }
}
