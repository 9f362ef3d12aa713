/**
 * What the client-kit tests share: the kit's files as they are in clients/auth0/ (read as text, never imported), and
 * a running environment — a real gateway on a real PostgreSQL store, the local client-credentials token endpoint
 * signing with the key the gateway trusts, and the configuration / secrets the README tells an operator to set.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashSync } from '@node-rs/bcrypt';
import { StoreError, type UserStore } from '../../adapters/types.js';
import { createPostgresDatabase, lit, type TestDatabase } from '../helpers/databases.js';
import { closeAndDrop, startTestGateway, wrapStore, type TestGateway } from '../helpers/harness.js';
import { startTokenEndpoint, type TokenEndpoint } from './local-oauth.js';

/** The repository root: the first directory up from here (or the working directory) with clients/auth0/login.js. */
export const ROOT = ((): string => {
  for (const start of [path.dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      if (existsSync(path.join(dir, 'clients', 'auth0', 'login.js')) && existsSync(path.join(dir, 'package.json'))) return dir;
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error('cannot find the repository root (clients/auth0/login.js)');
})();

export const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');

/** The kit, as pasted into Auth0. */
export const KIT = {
  login: read('clients/auth0/login.js'),
  getUser: read('clients/auth0/get_user.js'),
  markMigrated: read('clients/auth0/mark-migrated.action.js'),
  denyAudience: read('clients/auth0/deny-gateway-audience.action.js'),
  noopLogin: read('clients/auth0/noop/login.js'),
  noopGetUser: read('clients/auth0/noop/get_user.js'),
};

export interface SeedUser {
  id: number;
  email: string | null;
  username: string;
  password: string;
  name?: string;
  given_name?: string;
  family_name?: string;
  verified?: boolean;
  blocked?: boolean;
  plan?: string;
  locale?: string;
}

export const USERS: SeedUser[] = [
  { id: 1, email: 'Alice@Example.com', username: 'Alice', password: 'correct horse battery staple', name: 'Alice Doe', given_name: 'Alice', family_name: 'Doe', verified: true, plan: 'gold', locale: 'en' },
  { id: 2, email: 'bob@example.com', username: 'bob', password: 'bob-password-1', name: 'Bob Roe', verified: true, plan: 'free' },
  { id: 3, email: 'carol@example.com', username: 'carol', password: 'carol-password-1', name: 'Carol Poe', verified: false, plan: 'silver', locale: 'de' },
  { id: 4, email: 'dave@example.com', username: 'dave', password: 'dave-was-disabled', name: 'Dave Blocked', verified: true, blocked: true },
  { id: 5, email: 'erin@example.com', username: 'erin', password: 'erin-password-1', name: 'Erin' },
  { id: 6, email: 'frank@example.com', username: 'frank', password: 'frank-password-1', name: 'Frank Forgetful', verified: true, plan: 'gold', locale: 'fr' },
  { id: 7, email: 'gina@example.com', username: 'gina', password: 'gina-password-1', name: 'Gina', verified: true, plan: 'free', locale: 'it' },
  { id: 8, email: 'hank@example.com', username: 'hank', password: 'hank-password-1', name: 'Hank', verified: true, plan: 'free' },
  { id: 9, email: 'ivy@example.com', username: 'ivy', password: 'ivy-password-1', name: 'Ivy', verified: true, plan: 'gold', locale: 'en' },
];

export const SCHEMA = [
  `CREATE TABLE users (id integer PRIMARY KEY, email varchar(255), username varchar(255), password_hash text NOT NULL,
    full_name text, given_name text, family_name text, email_confirmed boolean, is_disabled boolean NOT NULL DEFAULT false,
    plan text, locale text)`,
  'CREATE TABLE legacy_gateway_migrations (user_id varchar(255) PRIMARY KEY, migrated_at timestamptz NOT NULL)',
];

export const CONNECTION = 'legacy-users';
export const CLIENT_ID = 'kit-m2m-client';
export const CLIENT_SECRET = 'kit-m2m-secret-0123456789abcdef';
export const SCOPES = 'verify:credentials read:users migrate:users';

/** How the store under the gateway misbehaves: 'slow' holds every read for slowMs, 'fail' throws a StoreError. */
export interface StoreFault {
  mode: 'pass' | 'slow' | 'fail';
  slowMs: number;
}

export interface KitEnv {
  db: TestDatabase;
  gw: TestGateway;
  tokens: TokenEndpoint;
  fault: StoreFault;
  /** The script configuration an operator sets (README), over this environment. */
  configuration(over?: Record<string, string>): Record<string, string>;
  /** The Action secrets an operator sets (README), over this environment. */
  secrets(over?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

function faulty(store: UserStore, fault: StoreFault, timers: Set<NodeJS.Timeout>): UserStore {
  const gate = async () => {
    if (fault.mode === 'fail') throw new StoreError('read: injected failure (test)');
    if (fault.mode === 'slow') await new Promise<void>((resolve) => timers.add(setTimeout(resolve, fault.slowMs)));
  };
  const over: Parameters<typeof wrapStore>[1] = {
    findCandidates: (real) => async (login: string) => {
      await gate();
      return real.findCandidates(login);
    },
    findById: (real) => async (id: string) => {
      await gate();
      return real.findById(id);
    },
    markMigrated: (real) => async (id: string) => {
      await gate();
      return real.markMigrated(id);
    },
  };
  if (store.verifyCredentials) {
    over.verifyCredentials = (real) => async (login: string, password: string) => {
      await gate();
      return real.verifyCredentials!(login, password);
    };
  }
  return wrapStore(store, over);
}

/** A real gateway on a fresh PostgreSQL database seeded with USERS, and the token endpoint in front of its issuer. */
export async function startKitEnv(): Promise<KitEnv> {
  const db = await createPostgresDatabase();
  const fault: StoreFault = { mode: 'pass', slowMs: 0 };
  const timers = new Set<NodeJS.Timeout>();
  let gw: TestGateway | undefined;
  try {
    await db.exec([
      ...SCHEMA,
      ...USERS.map(
        (u) =>
          `INSERT INTO users (id, email, username, password_hash, full_name, given_name, family_name, email_confirmed, is_disabled, plan, locale) VALUES (${[
            u.id, u.email, u.username, hashSync(u.password, 4), u.name ?? null, u.given_name ?? null, u.family_name ?? null,
            u.verified ?? null, u.blocked ?? false, u.plan ?? null, u.locale ?? null,
          ].map(lit).join(', ')})`,
      ),
    ]);
    gw = await startTestGateway({
      logLevel: 'warn',
      // These tests drive the scripts' own budgets with a store that fails or never answers: the gateway's own
      // deadline is set past them, and its breaker never opens (both are tested in test/http/breaker.test.ts).
      config: { resilience: { breaker: { failures: 1000 }, deadline_ms: 30_000 } } as never,
      store: {
        adapter: 'postgres',
        url: db.url,
        users: {
          table: 'users',
          columns: {
            id: 'id', email: 'email', username: 'username', password: 'password_hash', email_verified: 'email_confirmed',
            name: 'full_name', given_name: 'given_name', family_name: 'family_name', blocked: 'is_disabled',
          },
          app_metadata: ['plan'],
          user_metadata: ['locale'],
        },
        migration: { table: 'legacy_gateway_migrations' },
      },
      wrapStore: (s) => faulty(s, fault, timers),
    });
    const tokens = await startTokenEndpoint(gw.issuer, { [CLIENT_ID]: { secret: CLIENT_SECRET, scope: SCOPES } });
    const base = {
      AUTH0_DOMAIN: tokens.domain,
      GATEWAY_URL: gw.url,
      GATEWAY_AUDIENCE: gw.issuer.audience,
      GATEWAY_CLIENT_ID: CLIENT_ID,
      GATEWAY_CLIENT_SECRET: CLIENT_SECRET,
    };
    const started = gw;
    return {
      db,
      gw: started,
      tokens,
      fault,
      configuration: (over = {}) => ({ ...base, ...over }),
      secrets: (over = {}) => ({ ...base, LEGACY_CONNECTION: CONNECTION, GATEWAY_USER_ID_PREFIX: 'legacy|', ...over }),
      async close() {
        for (const t of timers) clearTimeout(t);
        try {
          await tokens.close();
        } finally {
          started.running.server.closeAllConnections();
          await closeAndDrop(started, db);
        }
      },
    };
  } catch (e) {
    await closeAndDrop(gw, db);
    throw e;
  }
}

/** A loopback port where nothing listens (the gateway "down"). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
