/**
 * The last file of `npm test`: every log line the run's gateways wrote (in-process test gateways and gateway child
 * processes, collected in LG_TEST_LOG_DIR by test/helpers/logsink.ts) is scanned for what must never be logged:
 * the test users' passwords and emails, password hashes and salts, bearer tokens (any JWT), the database password
 * planted in every PostgreSQL test URL, and the other secrets the suites plant. None may appear.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DEMO_USERS } from '../../src/demo.js';
import { USERS as KIT_USERS } from '../clients/kit.js';
import { PLANTED_DB_PASSWORD } from '../helpers/databases.js';
import { DOOR_USERS } from '../helpers/doors.js';
import { TEST_USERS } from '../helpers/harness.js';

const dir = process.env.LG_TEST_LOG_DIR;

/** Secrets planted by suites (logging.test.ts, the front-door suites, the Redis suite). */
const PLANTED = ['Pl4nted-Secret-Password-9f3e', 'r3dis-Pa55word-1c9e', 'limiter-key-secret-shared-by-replicas', PLANTED_DB_PASSWORD];

/** Shapes that are a leak wherever they appear: a JWT, and the password-hash formats the suites seed. */
const PATTERNS: [string, RegExp][] = [
  ['a JWT (bearer token)', /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}/],
  ['a bcrypt hash', /\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}/],
  ['an argon2 hash', /\$argon2(?:id|i|d)\$v=\d+\$/],
  ['a Django PBKDF2 hash', /pbkdf2_sha(?:256|1)\$\d+\$/],
  ['a crypt(3) SHA hash', /\$[56]\$(?:rounds=\d+\$)?[./A-Za-z0-9]{8,16}\$[./A-Za-z0-9]{43,86}/],
  ['an ASP.NET Identity v3 hash', /AQAAAA[EI][A-Za-z0-9+/]{40,}/],
];

function needles(): string[] {
  const users = [...DEMO_USERS, ...TEST_USERS, ...DOOR_USERS, ...KIT_USERS];
  const out = new Set<string>(PLANTED);
  for (const u of users) {
    // Short or common passwords ("value", "password") also occur as plain words; the distinctive ones are checked.
    if (u.password.length >= 10) out.add(u.password);
    if (u.email) {
      out.add(u.email);
      out.add(u.email.toLowerCase());
    }
  }
  return [...out];
}

test('no log line of the whole run holds a password, hash, salt, token, email or database password', { skip: dir ? false : 'run through `npm test` (LG_TEST_LOG_DIR collects the logs of the whole run)' }, () => {
  assert.ok(existsSync(dir!), `LG_TEST_LOG_DIR ${dir} exists`);
  const files = readdirSync(dir!).filter((f) => f.endsWith('.log'));
  let lines = 0;
  const findings: string[] = [];
  const list = needles();
  for (const f of files) {
    for (const line of readFileSync(path.join(dir!, f), 'utf8').split('\n')) {
      if (!line) continue;
      lines++;
      for (const n of list) if (line.includes(n)) findings.push(`${f}: "${n}" in ${line.slice(0, 300)}`);
      for (const [what, re] of PATTERNS) if (re.test(line)) findings.push(`${f}: ${what} in ${line.slice(0, 300)}`);
    }
  }
  console.log(`# log scan: ${lines} lines from ${files.length} processes, ${list.length} planted values and ${PATTERNS.length} patterns`);
  assert.ok(files.length >= 10 && lines >= 5000, `the run's logs were collected (${files.length} files, ${lines} lines)`);
  assert.deepEqual(findings.slice(0, 20), [], `${findings.length} leak(s)`);
});
