/**
 * `legacy-gateway demo`: a SQLite legacy store with a handful of users in real legacy formats,
 * a local signing key and JWKS, a token, and the gateway on loopback. For trying it out, never for production.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { hashSync as bcryptHashSync } from '@node-rs/bcrypt';
import type BetterSqlite3 from 'better-sqlite3';
import { parseConfig, type Config } from './config.js';
import { startLocalIssuer } from './devtokens.js';
import { collectWhenIdle } from './idlegc.js';
import type { Logger } from './logger.js';
import { onShutdownSignal, startServer } from './server.js';

export interface DemoUser {
  id: number;
  email: string | null;
  username: string | null;
  password: string;
  scheme: 'bcrypt' | 'django_pbkdf2_sha256' | 'aspnet_identity_v3';
  name?: string;
  given_name?: string;
  family_name?: string;
  email_confirmed?: number;
  is_disabled?: number;
  plan?: string;
  locale?: string;
}

export const DEMO_USERS: DemoUser[] = [
  { id: 1, email: 'Alice@Example.com', username: 'Alice', password: 'correct horse battery staple', scheme: 'bcrypt', name: 'Alice Doe', given_name: 'Alice', family_name: 'Doe', email_confirmed: 1, plan: 'gold', locale: 'en' },
  { id: 2, email: 'bob@example.com', username: 'bob', password: 'hunter2-but-longer', scheme: 'django_pbkdf2_sha256', name: 'Bob Roe', email_confirmed: 1, plan: 'free' },
  { id: 3, email: 'carol@example.com', username: 'carol', password: 'Pässwörd-ünïcode', scheme: 'aspnet_identity_v3', name: 'Carol Poe', email_confirmed: 0, plan: 'silver', locale: 'de' },
  { id: 4, email: 'dave@example.com', username: 'dave', password: 'dave-was-disabled', scheme: 'bcrypt', name: 'Dave Blocked', email_confirmed: 1, is_disabled: 1 },
  { id: 5, email: null, username: 'erin', password: 'erin-has-no-email', scheme: 'bcrypt', name: 'Erin' },
];

/** Hash a demo password in its legacy format (the formats the legacy apps wrote; proven elsewhere against their reference tools). */
export function legacyHash(scheme: DemoUser['scheme'], password: string): string {
  switch (scheme) {
    case 'bcrypt':
      return bcryptHashSync(password, 10);
    case 'django_pbkdf2_sha256': {
      const salt = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
      const it = 260000;
      return `pbkdf2_sha256$${it}$${salt}$${pbkdf2Sync(password, salt, it, 32, 'sha256').toString('base64')}`;
    }
    case 'aspnet_identity_v3': {
      const salt = randomBytes(16);
      const it = 10000;
      const header = Buffer.alloc(13);
      header[0] = 0x01;
      header.writeUInt32BE(1, 1); // HMACSHA256
      header.writeUInt32BE(it, 5);
      header.writeUInt32BE(salt.length, 9);
      return Buffer.concat([header, salt, pbkdf2Sync(password, salt, it, 32, 'sha256')]).toString('base64');
    }
  }
}

export const DEMO_SCHEMA = `
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email TEXT,
  username TEXT,
  password_hash TEXT,
  full_name TEXT,
  given_name TEXT,
  family_name TEXT,
  email_confirmed INTEGER,
  is_disabled INTEGER NOT NULL DEFAULT 0,
  plan TEXT,
  locale TEXT
);
CREATE TABLE legacy_gateway_migrations (
  user_id TEXT PRIMARY KEY,
  migrated_at TEXT NOT NULL
);
CREATE TABLE legacy_gateway_exports (
  user_id TEXT PRIMARY KEY,
  exported_at TEXT NOT NULL
);`;

/** Create a fresh SQLite legacy store at file with the given users. */
export function createDemoDatabase(file: string, users: DemoUser[] = DEMO_USERS): void {
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  rmSync(file, { force: true });
  for (const ext of ['-wal', '-shm']) rmSync(file + ext, { force: true });
  const db = new Database(file);
  db.exec(DEMO_SCHEMA);
  const insert = db.prepare(
    `INSERT INTO users (id, email, username, password_hash, full_name, given_name, family_name, email_confirmed, is_disabled, plan, locale)
     VALUES (@id, @email, @username, @password_hash, @name, @given_name, @family_name, @email_confirmed, @is_disabled, @plan, @locale)`,
  );
  for (const u of users) {
    insert.run({
      id: u.id,
      email: u.email,
      username: u.username,
      password_hash: legacyHash(u.scheme, u.password),
      name: u.name ?? null,
      given_name: u.given_name ?? null,
      family_name: u.family_name ?? null,
      email_confirmed: u.email_confirmed ?? null,
      is_disabled: u.is_disabled ?? 0,
      plan: u.plan ?? null,
      locale: u.locale ?? null,
    });
  }
  db.close();
}

/** The configuration the demo runs with (and the tests build on). */
export function demoConfig(file: string, issuer: string, audience: string, port: number): Config {
  return parseConfig(
    {
      server: { host: '127.0.0.1', port },
      // The local issuer serves its JWKS over plain http on loopback: allowed here, and only with this flag.
      auth: { issuer, audience, jwks_uri: `${issuer}.well-known/jwks.json`, allow_insecure_http: true },
      store: {
        adapter: 'sqlite',
        url: file,
        users: {
          table: 'users',
          columns: {
            id: 'id', email: 'email', username: 'username', password: 'password_hash',
            email_verified: 'email_confirmed', name: 'full_name', given_name: 'given_name',
            family_name: 'family_name', blocked: 'is_disabled',
          },
          app_metadata: ['plan'],
          user_metadata: ['locale'],
        },
        migration: { table: 'legacy_gateway_migrations' },
      },
      passwords: { scheme: 'auto' },
      profile: { user_id_prefix: 'legacy|' },
    },
    {},
  );
}

export async function runDemo(logger: Logger, port: number, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'demo.sqlite');
  createDemoDatabase(file);
  const issuer = await startLocalIssuer('https://legacy-gateway.demo', 'demo-client');
  const config = demoConfig(file, issuer.issuer, issuer.audience, port);
  const running = await startServer(config, logger);
  collectWhenIdle({ logger });
  const token = await issuer.mint({}, { expiresIn: '12h' });
  const alice = DEMO_USERS[0]!;
  const out = process.stdout;
  out.write(`
=====================================================================
  legacy-gateway DEMO MODE — not for production
  Loopback only (${running.url}). Demo store: ${file}
  Local JWKS: ${issuer.jwksUri}  (key made just now, gone on exit)
=====================================================================

Demo users (login / password / legacy format):
${DEMO_USERS.map((u) => `  ${(u.email ?? u.username)!.padEnd(20)} ${u.password.padEnd(30)} ${u.scheme}${u.is_disabled ? ' (disabled)' : ''}`).join('\n')}

A token valid for 12 h, with every scope:
  export TOKEN='${token}'

Verify a demo user's legacy password:
  curl -s -X POST ${running.url}/v1/credentials/verify -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"login":"${alice.email}","password":"${alice.password}"}'

Look a user up without a password, mark them migrated, see the status:
  curl -s -X POST ${running.url}/v1/users/lookup -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"login":"bob"}'
  curl -s -X PUT ${running.url}/v1/users/legacy%7C2/migration -H "Authorization: Bearer $TOKEN"
  curl -s ${running.url}/v1/migration/status -H "Authorization: Bearer $TOKEN"

Ctrl-C to stop.
`);
  onShutdownSignal(async () => {
    await running.close();
    await issuer.close();
  }, config.server.shutdown_grace_ms);
}
