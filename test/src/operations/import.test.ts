/**
 * `legacy-gateway import --target auth0`: the real command (in-process through run(), and as a child process that is
 * killed with SIGKILL mid-run) against the local Auth0 Management API stand-in (test/helpers/auth0-standin.ts).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { UsageError } from '../../../src/operations/cli.js';
import { run as exportRun } from '../../../src/operations/export.js';
import { run } from '../../../src/operations/import.js';
import { run as reconcileRun } from '../../../src/operations/reconcile.js';
import { Auth0Standin, runCommand, startAuth0Standin, type CommandResult, type StandinOptions } from '../../helpers/auth0-standin.js';

const MAIN = fileURLToPath(new URL('../../../src/main.js', import.meta.url));
const root = mkdtempSync(path.join(tmpdir(), 'lg-import-'));
after(() => rmSync(root, { recursive: true, force: true }));

const BCRYPT = '$2b$10$C9hB01.YxRSTcn/ZOOo4j.TW7xCKKFKBSF.C7E0xiUwumqIDqWUXG';
const POLL = ['--poll-interval-ms', '20'];

function user(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    email: `user${i}@example.com`,
    email_verified: true,
    user_id: `legacy|${i}`,
    username: `user${i}`,
    app_metadata: { plan: 'gold' },
    custom_password_hash: { algorithm: 'bcrypt', hash: { value: BCRYPT } },
    ...extra,
  };
}

let dirs = 0;
/** An export directory: one users-NNNN.json per array, plus a manifest.json like the exporter's. */
function exportDir(files: unknown[][], manifest: Record<string, unknown> = { complete: true }): string {
  const dir = path.join(root, `export-${++dirs}`);
  mkdirSync(dir);
  const listed = files.map((users, i) => {
    const name = `users-${String(i + 1).padStart(4, '0')}.json`;
    const text = JSON.stringify(users);
    writeFileSync(path.join(dir, name), text);
    return { name, users: users.length, bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') };
  });
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ target: 'auth0', files: listed, ...manifest }));
  return dir;
}

function range(from: number, n: number, extra?: Record<string, unknown>) {
  return Array.from({ length: n }, (_, k) => user(from + k, extra));
}

function configFor(s: Auth0Standin, over: Record<string, unknown> = {}): string {
  const file = path.join(root, `config-${++dirs}.yaml`);
  const config = {
    auth: { issuer: 'https://issuer.example/', audience: 'aud' },
    store: { adapter: 'sqlite', url: path.join(root, 'unused.sqlite'), users: { table: 'users', columns: { id: 'id', email: 'email', password: 'password_hash' } } },
    targets: {
      auth0: {
        domain: s.domain,
        client_id: s.clientId,
        client_secret: s.clientSecret,
        connection_id: s.connections[0],
        management_url: s.url,
        allow_insecure_http: true,
        ...over,
      },
    },
  };
  writeFileSync(file, JSON.stringify(config));
  return file;
}

type Result = CommandResult;
const cli = (args: string[]): Promise<Result> => runCommand(run, args);

function child(args: string[]): { proc: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [MAIN, 'import', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, output: () => out, exited };
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function state(dir: string): { files: Record<string, { status: string; job_id?: string; external_id: string }> } {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'import-state.json'), 'utf8'));
  } catch {
    return { files: {} };
  }
}

function report(dir: string) {
  return JSON.parse(readFileSync(path.join(dir, 'import-report.json'), 'utf8')) as {
    files: { file: string; status: string; job_id: string | null; external_id: string; inserted: number; updated: number; failed: number; total: number; problem: string | null; errors: { user: Record<string, unknown>; errors: { code: string; message: string }[] }[] }[];
    totals: { inserted: number; updated: number; failed: number; total: number; completed: number; unfinished: number; error_codes: Record<string, number> };
  };
}

let standin: Auth0Standin | undefined;
async function standinWith(o: StandinOptions = {}): Promise<Auth0Standin> {
  standin = await startAuth0Standin(o);
  return standin;
}
afterEach(async () => {
  await standin?.close();
  standin = undefined;
});

describe('import against the Auth0 stand-in', () => {
  test('submits every file once with send_completion_email=false, reports inserted and per-user errors without hashes', async () => {
    const s = await standinWith();
    // File 2: user 6 twice (same email, other user_id and username), and an invalid email.
    const dir = exportDir([range(1, 5), [...range(6, 3), user(6, { user_id: 'legacy|dup6', username: 'other6' }), user(99, { email: 'not-an-email' })], range(20, 4)]);
    const r = await cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 1, r.stderr); // some users failed
    assert.equal(s.submissions.length, 3);
    for (const sub of s.submissions) {
      assert.equal(sub.fields.send_completion_email, 'false');
      assert.equal(sub.fields.upsert, 'false');
      assert.equal(sub.fields.connection_id, s.connections[0]);
      assert.match(sub.fields.external_id!, /^users-000\d-[0-9a-f]{16}$/);
      assert.equal(s.errorDownloads.get(sub.job_id), 1, 'errors downloaded once per job');
    }
    assert.equal(new Set(s.submissions.map((x) => x.fields.external_id)).size, 3);
    assert.ok(s.peakActiveJobs <= 2);
    const rep = report(dir);
    assert.equal(rep.totals.inserted, s.connectionUsers().size);
    assert.equal(rep.totals.inserted, 5 + 3 + 4);
    assert.equal(rep.totals.failed, 2);
    assert.deepEqual(rep.totals.error_codes, { DUPLICATED_USER: 1, FORMAT: 1 });
    const second = rep.files[1]!;
    assert.equal(second.status, 'completed');
    assert.deepEqual([second.inserted, second.failed, second.total], [3, 2, 5]);
    const codes = second.errors.map((e) => [e.user.email, e.errors[0]!.code]);
    assert.deepEqual(codes, [['user6@example.com', 'DUPLICATED_USER'], ['not-an-email', 'FORMAT']]);
    assert.equal(second.errors[0]!.errors[0]!.message, 'A user with this email was already provided.');
    const text = readFileSync(path.join(dir, 'import-report.json'), 'utf8');
    assert.doesNotMatch(text, /custom_password_hash|password_hash|\*\*\*\*\*|\$2b\$/);
    assert.doesNotMatch(r.stdout + r.stderr, /\$2b\$|standin-secret-value/);
    assert.match(r.stdout, /total: inserted 12, updated 0, failed 2 of 14 \(DUPLICATED_USER 1, FORMAT 1\)/);
  });

  test('a clean import exits 0; a re-run submits nothing and reports the same', async () => {
    const s = await standinWith();
    const dir = exportDir([range(1, 3), range(4, 3)]);
    const args = ['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL, '--json'];
    const first = await cli(args);
    assert.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout);
    assert.equal(out.complete, true);
    assert.equal(out.totals.inserted, 6);
    assert.deepEqual(out.files.map((f: { status: string }) => f.status), ['completed', 'completed']);
    assert.deepEqual(out.warnings, []);
    const again = await cli(args);
    assert.equal(again.code, 0);
    assert.equal(s.submissions.length, 2);
    assert.deepEqual(JSON.parse(again.stdout).totals, out.totals);
    assert.ok(!existsSync(path.join(dir, 'import.lock')), 'lock released');
  });

  test('never more than 2 jobs at once, even when the tenant would accept more', async () => {
    const s = await standinWith({ maxActiveJobs: 10, processingMs: 150 });
    const dir = exportDir(Array.from({ length: 6 }, (_, i) => range(i * 10, 3)));
    const r = await cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.submissions.length, 6);
    assert.equal(s.peakActiveJobs, 2, 'two jobs in flight at a time, never more');
    assert.equal(s.tooManyJobsRefusals, 0);
  });

  test('429s are retried after Retry-After (token and job requests) and X-RateLimit-Reset (polls)', async () => {
    const s = await standinWith();
    const reset = Math.ceil(Date.now() / 1000) + 4;
    s.inject('token', 1, { status: 429, headers: { 'retry-after': '1' } });
    s.inject('create', 2, { status: 429, headers: { 'retry-after': '1' } });
    s.inject('job', 1, { status: 429, headers: { 'x-ratelimit-limit': '50', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) } });
    const dir = exportDir([range(1, 2)]);
    const r = await cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.submissions.length, 1);
    const gaps = (p: (path: string) => boolean) => {
      const list = s.requests.filter((q) => p(q.path));
      return list.slice(1).map((q, i) => ({ status: list[i]!.status, gap: q.at - list[i]!.at, next: q }));
    };
    const token = gaps((p) => p === '/oauth/token');
    assert.equal(token[0]!.status, 429);
    assert.ok(token[0]!.gap >= 950, `token retried after ${token[0]!.gap} ms`);
    const creates = gaps((p) => p === '/api/v2/jobs/users-imports');
    assert.deepEqual(creates.map((c) => c.status), [429, 429]);
    for (const c of creates) assert.ok(c.gap >= 950, `job request retried after ${c.gap} ms`);
    assert.equal(creates[1]!.next.status, 201);
    const polls = gaps((p) => /^\/api\/v2\/jobs\/job_[^/]+$/.test(p));
    assert.equal(polls[0]!.status, 429);
    assert.ok(polls[0]!.next.at >= reset * 1000 - 50, 'poll retried once the rate-limit window reset');
    assert.equal(report(dir).totals.inserted, 2);
  });

  test('a 429 for "2 active import jobs" (another import on the tenant) is waited out', async () => {
    const s = await standinWith({ processingMs: 400 });
    s.addForeignJob();
    const dir = exportDir([range(1, 2), range(3, 2), range(5, 2)]);
    const r = await cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(s.tooManyJobsRefusals >= 1, 'the documented 429 happened');
    assert.equal(s.submissions.length, 3, 'each file accepted once');
    assert.equal(report(dir).totals.inserted, 6);
  });

  test('the token is refreshed before it expires, and again when the API refuses it', async () => {
    const s = await standinWith({ tokenLifetimeS: 1, processingMs: 700 });
    const dir = exportDir([range(1, 2), range(3, 2), range(5, 2)]);
    const pending = cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL]);
    await until('a first job', () => s.submissions.length >= 1);
    s.revokeTokens();
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(s.tokensIssued >= 3, `tokens issued: ${s.tokensIssued}`);
    const statuses = s.requests.filter((q) => q.path.startsWith('/api/v2/')).map((q) => q.status);
    assert.ok(statuses.includes(401), 'the revoked token was refused once');
    assert.equal(s.submissions.length, 3);
  });

  test('a kill -9 mid-run: the re-run keeps polling the submitted jobs and never submits a file twice', async () => {
    const s = await standinWith();
    s.hold();
    const dir = exportDir(Array.from({ length: 5 }, (_, i) => range(i * 10, 4)));
    const config = configFor(s);
    const c = child(['--config', config, '--target', 'auth0', '--files', dir, ...POLL]);
    await until('two jobs recorded as submitted', () => Object.values(state(dir).files).filter((f) => f.status === 'submitted').length === 2);
    await until('a few polls', () => s.requests.filter((q) => q.path.startsWith('/api/v2/jobs/job_')).length >= 4);
    c.proc.kill('SIGKILL');
    await c.exited;
    assert.equal(s.submissions.length, 2);
    assert.ok(existsSync(path.join(dir, 'import.lock')), 'the dead run left its lock behind');
    s.release();
    const r = await cli(['--config', config, '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.submissions.length, 5);
    const st = state(dir);
    for (const f of Object.values(st.files)) assert.equal(s.submissionsOf(f.external_id).length, 1, `${f.external_id} submitted once`);
    assert.equal(report(dir).totals.inserted, 20);
    assert.equal(s.connectionUsers().size, 20);
  });

  test('killed while a job request was unanswered: the file is reported unknown, not resubmitted unless asked', async () => {
    const s = await standinWith();
    s.hangNextCreates(1);
    const dir = exportDir([range(1, 3), range(4, 3)]);
    const config = configFor(s);
    const c = child(['--config', config, '--target', 'auth0', '--files', dir, ...POLL]);
    await until('one file done, the other waiting for an answer', () => {
      const statuses = Object.values(state(dir).files).map((f) => f.status).sort();
      return s.submissions.length === 2 && statuses.join() === 'completed,submitting';
    });
    c.proc.kill('SIGKILL');
    await c.exited;
    const hung = Object.entries(state(dir).files).find(([, f]) => f.status === 'submitting')!;
    const r = await cli(['--config', config, '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 1);
    assert.equal(s.submissionsOf(hung[1].external_id).length, 1, 'not submitted a second time');
    assert.equal(state(dir).files[hung[0]]!.status, 'unknown');
    assert.match(r.stdout, /--retry-unknown/);
    // The operator checked and asks for it: the stand-in's hung job did import the users, so they come back as duplicates.
    const retry = await cli(['--config', config, '--target', 'auth0', '--files', dir, ...POLL, '--retry-unknown']);
    assert.equal(retry.code, 1);
    assert.equal(s.submissionsOf(hung[1].external_id).length, 2);
    const line = report(dir).files.find((f) => f.file === hung[0])!;
    assert.equal(line.failed, 3);
    assert.ok(line.errors.every((e) => e.errors[0]!.code === 'DUPLICATED_USER'));
  });

  test('a job whose data Auth0 deleted (24 h) before the resume is reported expired', async () => {
    const s = await standinWith();
    s.hold();
    const dir = exportDir([range(1, 3)]);
    const config = configFor(s);
    const c = child(['--config', config, '--target', 'auth0', '--files', dir, ...POLL]);
    await until('the job', () => Object.values(state(dir).files).some((f) => f.status === 'submitted'));
    c.proc.kill('SIGKILL');
    await c.exited;
    s.release();
    s.advance(25 * 3600_000);
    const r = await cli(['--config', config, '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 1);
    const line = report(dir).files[0]!;
    assert.equal(line.status, 'expired');
    assert.match(line.problem!, /24 h/);
    assert.equal(s.submissions.length, 1);
  });

  test('upsert: --upsert sends upsert=true and Auth0 counts updates', async () => {
    const s = await standinWith();
    const config = configFor(s);
    assert.equal((await cli(['--config', config, '--target', 'auth0', '--files', exportDir([range(1, 3)]), ...POLL])).code, 0);
    const dir = exportDir([range(1, 4, { app_metadata: { plan: 'silver' } })]);
    const r = await cli(['--config', config, '--target', 'auth0', '--files', dir, ...POLL, '--upsert']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.submissions.at(-1)!.fields.upsert, 'true');
    assert.deepEqual([report(dir).totals.updated, report(dir).totals.inserted], [3, 1]);
    assert.deepEqual(s.connectionUsers().get('user1@example.com')!.app_metadata, { plan: 'silver' });
  });
});

describe('import failures are clear, never a stack trace, never a secret', () => {
  const noTrace = (r: Result) => assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at |standin-secret-value|wrong-secret/);

  test('bad client credentials: 401 from the token endpoint', async () => {
    const s = await standinWith();
    const dir = exportDir([range(1, 2)]);
    const r = await cli(['--config', configFor(s, { client_secret: 'wrong-secret' }), '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refused the client credentials \(401 access_denied: Unauthorized\).*client_secret/);
    assert.match(r.stderr, /run the same command again to resume/);
    noTrace(r);
    assert.equal(s.submissions.length, 0);
    assert.equal(state(dir).files['users-0001.json']!.status, 'new');
  });

  test('missing scope: 403 names the scopes needed', async () => {
    const s = await standinWith({ scopes: ['read:users'] });
    const r = await cli(['--config', configFor(s), '--target', 'auth0', '--files', exportDir([range(1, 2)]), ...POLL]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /403 insufficient_scope: Insufficient scope, expected any of: create:users.*create:users and read:users/);
    noTrace(r);
  });

  test('413 and files Auth0 would refuse: the file is rejected with the reason, the others go on', async () => {
    const s = await standinWith({ maxFileBytes: 2000 });
    const dir = exportDir([range(10, 30), range(50, 2)]);
    writeFileSync(path.join(dir, 'users-0003.json'), '{"email": "not an array"}');
    writeFileSync(path.join(dir, 'users-0004.json'), JSON.stringify(range(100, 4000)).slice(0, 510_000));
    const r = await cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL, '--json']);
    assert.equal(r.code, 1);
    noTrace(r);
    const files = Object.fromEntries(JSON.parse(r.stdout).files.map((f: { file: string }) => [f.file, f])) as Record<string, { status: string; problem: string }>;
    assert.equal(files['users-0001.json']!.status, 'rejected');
    assert.match(files['users-0001.json']!.problem, /too large \(413 .*smaller --max-bytes/);
    assert.equal(files['users-0002.json']!.status, 'completed');
    assert.match(files['users-0003.json']!.problem, /not a JSON array/);
    assert.match(files['users-0004.json']!.problem, /over Auth0's 500000-byte file limit/);
    assert.equal(s.submissions.length, 1, 'only the good file created a job');
    // Rejected files had no job: once fixed they are submitted on the next run.
    writeFileSync(path.join(dir, 'users-0001.json'), JSON.stringify(range(10, 2)));
    const again = await cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL, '--json']);
    const fixed = JSON.parse(again.stdout).files.find((f: { file: string }) => f.file === 'users-0001.json');
    assert.equal(fixed.status, 'completed');
    assert.equal(s.submissions.length, 2);
  });

  test('400: the request is refused with Auth0\'s message', async () => {
    const s = await standinWith();
    s.inject('create', 1, { status: 400, body: { statusCode: 400, error: 'Bad Request', message: "Payload validation error: 'Missing required property: users'.", errorCode: 'invalid_body' } });
    const dir = exportDir([range(1, 2)]);
    const r = await cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 1);
    noTrace(r);
    assert.match(r.stdout, /rejected\s*\n\s+Auth0 refused the request \(400 invalid_body: Payload validation error/);
  });

  test('usage problems exit 2 through UsageError', async () => {
    const s = await standinWith();
    const dir = exportDir([range(1, 1)]);
    const config = configFor(s);
    await assert.rejects(cli(['--config', config, '--files', dir]), (e: unknown) => e instanceof UsageError && /--target auth0/.test(e.message));
    await assert.rejects(cli(['--config', config, '--target', 'okta', '--files', dir]), /only auth0/);
    await assert.rejects(cli(['--config', config, '--target', 'auth0', '--files', path.join(root, 'nope')]), /no such directory/);
    await assert.rejects(cli(['--config', config, '--target', 'auth0', '--files', root]), /no users-NNNN.json files/);
    await assert.rejects(cli(['--config', config, '--target', 'auth0', '--files', dir, '--poll-interval-ms', 'soon']), /--poll-interval-ms/);
    const bare = path.join(root, 'bare.json');
    writeFileSync(bare, JSON.stringify({ auth: { issuer: 'https://i.example/', audience: 'a' }, store: { adapter: 'sqlite', url: 'x', users: { table: 'users', columns: { id: 'id', email: 'email', password: 'p' } } } }));
    await assert.rejects(cli(['--config', bare, '--target', 'auth0', '--files', dir]), /no targets.auth0/);
  });

  test('a state file from another connection is refused', async () => {
    const s = await standinWith({ connections: ['con_standin00000001', 'con_other0000000002'] });
    const dir = exportDir([range(1, 1)]);
    assert.equal((await cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL])).code, 0);
    const r = await cli(['--config', configFor(s, { connection_id: 'con_other0000000002' }), '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /connection_id = con_standin00000001, not con_other0000000002/);
  });

  test('manifest.json: an incomplete export, a changed or missing file are warned about; the files present are imported', async () => {
    const s = await standinWith();
    const dir = exportDir([range(1, 2), range(3, 2), range(5, 2)], { complete: false, error: 'store unreachable' });
    writeFileSync(path.join(dir, 'users-0002.json'), JSON.stringify(range(3, 1)));
    rmSync(path.join(dir, 'users-0003.json'));
    const r = await cli(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).warnings, [
      'manifest.json says the export did not complete (store unreachable): only the files it finished are imported',
      'users-0002.json changed since the export wrote it',
      'users-0003.json is listed in manifest.json but missing',
    ]);
    assert.match(r.stderr, /import: warning: users-0003.json is listed in manifest.json but missing/);
    assert.equal(JSON.parse(r.stdout).totals.inserted, 3);
  });

  test('the real executable: exit codes and the human summary', async () => {
    const s = await standinWith();
    const dir = exportDir([range(1, 2)]);
    const c = child(['--config', configFor(s), '--target', 'auth0', '--files', dir, ...POLL]);
    assert.equal(await c.exited, 0, c.output());
    assert.match(c.output(), /users-0001\.json\s+job_\w+\s+completed\s+inserted 2, updated 0, failed 0 of 2/);
    const u = child(['--config', configFor(s), '--files', dir]);
    assert.equal(await u.exited, 2);
    assert.match(u.output(), /import: needs --target auth0/);
  });
});

describe('the whole journey on a SQLite store: export → import → reconcile', () => {
  test('the exporter\'s files are accepted as they are, and an Auth0 export of the result marks every user', async () => {
    const s = await standinWith();
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    const db = path.join(root, 'journey.sqlite');
    const d = new Database(db);
    d.exec('CREATE TABLE users (id integer PRIMARY KEY, email text, username text, password_hash text, email_confirmed integer); CREATE TABLE legacy_gateway_migrations (user_id TEXT PRIMARY KEY, migrated_at TEXT NOT NULL); CREATE TABLE legacy_gateway_exports (user_id TEXT PRIMARY KEY, exported_at TEXT NOT NULL)');
    const insert = d.prepare('INSERT INTO users VALUES (?, ?, ?, ?, 1)');
    for (let i = 1; i <= 40; i++) insert.run(i, `Person${i}@Example.com`, `person${i}`, BCRYPT);
    d.close();
    const config = configFor(s);
    const raw = JSON.parse(readFileSync(config, 'utf8'));
    raw.store = { adapter: 'sqlite', url: db, users: { table: 'users', columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash', email_verified: 'email_confirmed' } }, migration: { table: 'legacy_gateway_migrations' } };
    raw.profile = { user_id_prefix: 'legacy|' };
    writeFileSync(config, JSON.stringify(raw));
    const out = path.join(root, 'journey-out');
    const exported = await runCommand(exportRun, ['--config', config, '--target', 'auth0', '--out', out, '--max-bytes', '2000']);
    assert.equal(exported.code, 0, exported.stderr);
    const imported = await cli(['--config', config, '--target', 'auth0', '--files', out, ...POLL, '--json']);
    assert.equal(imported.code, 0, imported.stderr);
    const result = JSON.parse(imported.stdout);
    assert.ok(result.files.length > 1, 'several files');
    assert.deepEqual(result.warnings, []);
    assert.deepEqual([result.totals.inserted, result.totals.failed], [40, 0]);
    // What an Auth0 users-exports job would list for this connection: auth0| + the imported user_id.
    const ndjson = path.join(root, 'journey-auth0-export.ndjson');
    writeFileSync(ndjson, [...s.connectionUsers().values()].map((u) => JSON.stringify({ user_id: `auth0|${String(u.user_id)}`, email: u.email })).join('\n'));
    const rec = await runCommand(reconcileRun, ['--config', config, '--from', ndjson, '--json']);
    assert.equal(rec.code, 0, rec.stderr);
    assert.deepEqual(JSON.parse(rec.stdout).counts, { records: 40, marked: 40, would_mark: 0, already_marked: 0, absent: 0, skipped: 0, malformed: 0 });
  });
});
