import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config.js';
import { createDemoDatabase, demoConfig } from '../../src/demo.js';
import { createLogger } from '../../src/logger.js';
import { buildGateway } from '../../src/server.js';

type Raw = Record<string, any>;

/** The smallest config that should validate: only what has no default. */
function minimal(): Raw {
  return {
    auth: { issuer: 'https://tenant.example.com/', audience: 'https://legacy-gateway.example.com' },
    store: {
      adapter: 'sqlite',
      url: '/tmp/legacy.db',
      users: { table: 'users', columns: { id: 'id', email: 'email', password: 'password_hash' } },
    },
  };
}

/** Run parseConfig expecting a ConfigError; return its problems. */
function problemsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.ok(Array.isArray(e.problems) && e.problems.length > 0, 'ConfigError without problems');
    for (const p of e.problems) assert.match(p, /^\S+: .+/, `problem not in "path: message" form: ${p}`);
    // The error message carries every problem too (what the operator sees on start-up).
    for (const p of e.problems) assert.ok(e.message.includes(p), `message misses ${p}`);
    return e.problems;
  }
  assert.fail('expected parseConfig to throw ConfigError');
}

function hasProblem(problems: string[], prefix: string, pattern?: RegExp): void {
  const hit = problems.find((p) => p.startsWith(prefix) && (!pattern || pattern.test(p)));
  assert.ok(hit, `expected a problem starting with "${prefix}"${pattern ? ` matching ${pattern}` : ''}; got:\n  ${problems.join('\n  ')}`);
}

describe('parseConfig: minimal config and defaults', () => {
  test('a minimal valid config parses and receives the documented defaults', () => {
    const c = parseConfig(minimal(), {});
    assert.equal(c.server.port, 8080);
    assert.equal(c.server.host, '0.0.0.0');
    assert.deepEqual(c.server.allow_ips, []);
    assert.equal(c.server.trust_proxy, false);
    assert.equal(c.passwords.scheme, 'auto');
    assert.deepEqual(c.passwords.params, {});
    assert.deepEqual(c.store.migration, { table: 'legacy_gateway_migrations' });
    assert.deepEqual(c.auth.algorithms, ['RS256', 'PS256', 'ES256']);
    assert.equal(c.auth.require_client_subject, true);
    assert.deepEqual(c.auth.clients, []);
    assert.equal(c.profile.user_id_prefix, '');
    assert.deepEqual(c.limits.login_failures, { max: 10, window_s: 900 });
    assert.equal(c.limits.redis_url, null);
    assert.deepEqual(c.store.users.app_metadata, []);
    // What was given is kept as given.
    assert.equal(c.auth.issuer, 'https://tenant.example.com/');
    assert.equal(c.store.users.table, 'users');
    assert.equal(c.store.users.columns.password, 'password_hash');
  });

  test('explicit values override defaults', () => {
    const raw = minimal();
    raw.server = { port: 9090 };
    raw.passwords = { scheme: 'bcrypt' };
    raw.store.migration = { column: 'migrated_at' };
    raw.auth.algorithms = ['ES256'];
    raw.auth.require_client_subject = false;
    const c = parseConfig(raw, {});
    assert.equal(c.server.port, 9090);
    assert.equal(c.server.host, '0.0.0.0');
    assert.equal(c.passwords.scheme, 'bcrypt');
    assert.deepEqual(c.store.migration, { column: 'migrated_at' });
    assert.deepEqual(c.auth.algorithms, ['ES256']);
    assert.equal(c.auth.require_client_subject, false);
  });

  test('username alone (no email column) is enough', () => {
    const raw = minimal();
    raw.store.users.columns = { id: 'id', username: 'login', password: 'pw' };
    const c = parseConfig(raw, {});
    assert.equal(c.store.users.columns.username, 'login');
    assert.equal(c.store.users.columns.email, undefined);
  });

  test('schema-qualified identifiers are accepted', () => {
    const raw = minimal();
    raw.store.users.table = 'dbo.aspnet_Users';
    const c = parseConfig(raw, {});
    assert.equal(c.store.users.table, 'dbo.aspnet_Users');
  });
});

describe('parseConfig: ${VAR} interpolation', () => {
  test('${VAR} is replaced from the env object passed in, not process.env', () => {
    const raw = minimal();
    raw.store.url = '${LEGACY_DB_URL}';
    raw.auth.audience = 'https://${AUD_HOST}/api';
    const c = parseConfig(raw, { LEGACY_DB_URL: 'postgres://u:p@db/legacy', AUD_HOST: 'gw.example.com' });
    assert.equal(c.store.url, 'postgres://u:p@db/legacy');
    assert.equal(c.auth.audience, 'https://gw.example.com/api');
  });

  test('${VAR:-default} uses the default when unset or empty, the value when set', () => {
    const raw = minimal();
    raw.store.url = '${LEGACY_DB_URL:-sqlite-default.db}';
    raw.passwords = { scheme: '${SCHEME:-auto}', params: { pepper: '${PEPPER:-}x' } };
    assert.equal(parseConfig(raw, {}).store.url, 'sqlite-default.db');
    assert.equal(parseConfig(raw, { LEGACY_DB_URL: '' }).store.url, 'sqlite-default.db');
    const c = parseConfig(raw, { LEGACY_DB_URL: 'real.db', SCHEME: 'bcrypt', PEPPER: 'pep' });
    assert.equal(c.store.url, 'real.db');
    assert.equal(c.passwords.scheme, 'bcrypt');
    assert.equal(c.passwords.params.pepper, 'pepx');
  });

  test('interpolation reaches into arrays', () => {
    const raw = minimal();
    raw.auth.clients = ['${CLIENT_A}', 'fixed'];
    assert.deepEqual(parseConfig(raw, { CLIENT_A: 'abc' }).auth.clients, ['abc', 'fixed']);
  });

  test('a missing env var is reported with the path where it was used', () => {
    const raw = minimal();
    raw.store.url = '${LEGACY_DB_URL}';
    const problems = problemsOf(raw, {});
    hasProblem(problems, 'store.url: ', /LEGACY_DB_URL/);
    hasProblem(problems, 'store.url: ', /not set/);
  });

  test('a missing env var inside an array carries the index in its path', () => {
    const raw = minimal();
    raw.auth.clients = ['ok', '${MISSING_CLIENT}'];
    const problems = problemsOf(raw, {});
    // Either path spelling is fine (auth.clients[1] or auth.clients.1), as long as the index is there.
    assert.ok(
      problems.some((p) => /^auth\.clients(\[1\]|\.1): /.test(p) && p.includes('MISSING_CLIENT')),
      problems.join('\n'),
    );
  });

  test('the secret value itself never appears in problems', () => {
    const raw = minimal();
    raw.store.url = '${LEGACY_DB_URL}';
    raw.store.adapter = 'db2';
    const problems = problemsOf(raw, { LEGACY_DB_URL: 'postgres://user:Sup3rS3cret@db/x' });
    assert.ok(!problems.join('\n').includes('Sup3rS3cret'));
  });
});

describe('parseConfig: every problem at once', () => {
  test('a config with many distinct errors lists all of them, each as "path: message"', () => {
    const raw = minimal();
    raw.auth.issuer = 'not a url';
    raw.auth.algorithms = ['HS256'];
    raw.store.adapter = 'db2';
    delete raw.store.users.columns.password;
    raw.store.users.table = 'users; DROP TABLE x';
    raw.server = { port: 70000 };
    raw.bogus_section = {};
    const problems = problemsOf(raw, {});
    hasProblem(problems, 'auth.issuer: ');
    hasProblem(problems, 'auth.algorithms.0: ');
    hasProblem(problems, 'store.adapter: ');
    assert.ok(problems.includes('store.users.columns.password: required'), problems.join('\n'));
    hasProblem(problems, 'store.users.table: ', /identifier/);
    hasProblem(problems, 'server.port: ');
    hasProblem(problems, '(root): ', /bogus_section/);
    assert.ok(problems.length >= 7, `expected at least 7 problems, got ${problems.length}`);
  });

  test('missing env var and schema errors are reported together', () => {
    const raw = minimal();
    raw.store.url = '${NOPE_URL}';
    raw.store.adapter = 'db2';
    const problems = problemsOf(raw, {});
    hasProblem(problems, 'store.url: ', /NOPE_URL/);
    hasProblem(problems, 'store.adapter: ');
  });

  test('missing email AND username column is reported with a hint', () => {
    const raw = minimal();
    delete raw.store.users.columns.email;
    const problems = problemsOf(raw, {});
    assert.ok(problems.includes('store.users.columns.email: required (or set columns.username)'), problems.join('\n'));
  });

  test('the email/username rule is reported alongside other column problems (not hidden by them)', () => {
    const raw = minimal();
    delete raw.store.users.columns.email;
    delete raw.store.users.columns.password;
    const problems = problemsOf(raw, {});
    assert.ok(problems.includes('store.users.columns.password: required'), problems.join('\n'));
    assert.ok(
      problems.includes('store.users.columns.email: required (or set columns.username)'),
      `email/username problem missing when another column is also wrong; got:\n  ${problems.join('\n  ')}`,
    );
  });

  test('an empty config reports the required sections', () => {
    const problems = problemsOf({}, {});
    hasProblem(problems, 'auth: ');
    hasProblem(problems, 'store: ');
    const problems2 = problemsOf(null, {});
    hasProblem(problems2, 'auth: ');
  });
});

describe('parseConfig: refusals', () => {
  test('unknown keys are refused at every level, with their names', () => {
    const raw = minimal();
    raw.auth.isuer = 'typo';
    raw.store.users.columns.pasword = 'typo';
    raw.server = { prot: 1 };
    raw.extra = true;
    const problems = problemsOf(raw, {});
    hasProblem(problems, 'auth: ', /isuer/);
    hasProblem(problems, 'store.users.columns: ', /pasword/);
    hasProblem(problems, 'server: ', /prot/);
    hasProblem(problems, '(root): ', /extra/);
  });

  for (const bad of ['users; DROP TABLE x', 'id"--', 'a b', 'users`', "o'brien", '1users', '', 'a.b.c', 'x--']) {
    test(`identifier ${JSON.stringify(bad)} is refused for the table name`, () => {
      const raw = minimal();
      raw.store.users.table = bad;
      hasProblem(problemsOf(raw, {}), 'store.users.table: ');
    });
    test(`identifier ${JSON.stringify(bad)} is refused for a column name`, () => {
      const raw = minimal();
      raw.store.users.columns.email = bad;
      hasProblem(problemsOf(raw, {}), 'store.users.columns.email: ');
    });
  }

  test('injection is refused in metadata columns and the migration column/table too', () => {
    const raw = minimal();
    raw.store.users.app_metadata = ['plan', 'x; DELETE FROM users'];
    raw.store.migration = { column: 'migrated_at"; --' };
    const problems = problemsOf(raw, {});
    hasProblem(problems, 'store.users.app_metadata.1: ');
    hasProblem(problems, 'store.migration');
    const raw2 = minimal();
    raw2.store.migration = { table: 'm; DROP TABLE users' };
    hasProblem(problemsOf(raw2, {}), 'store.migration');
  });

  test('an injected value arriving through ${VAR} is refused as well', () => {
    const raw = minimal();
    raw.store.users.table = '${TABLE}';
    hasProblem(problemsOf(raw, { TABLE: 'users; DROP TABLE x' }), 'store.users.table: ');
  });

  test('an unknown adapter is refused', () => {
    const raw = minimal();
    raw.store.adapter = 'db2';
    hasProblem(problemsOf(raw, {}), 'store.adapter: ', /sqlite/);
  });

  test('every documented adapter is accepted', () => {
    for (const adapter of ['sqlite', 'postgres', 'mysql', 'mssql', 'oracle', 'mongodb']) {
      const raw = minimal();
      raw.store.adapter = adapter;
      assert.equal(parseConfig(raw, {}).store.adapter, adapter);
    }
  });

  test('adapter http needs store.http instead of a table and a password column', () => {
    const raw = minimal() as any;
    raw.store.adapter = 'http';
    hasProblem(problemsOf(raw, {}), 'store.http: ', /required/);
  });

  test('a relational store needs a table and a password column', () => {
    const raw = minimal() as any;
    delete raw.store.users.table;
    delete raw.store.users.columns.password;
    const problems = problemsOf(raw, {});
    hasProblem(problems, 'store.users.table: ', /required/);
    hasProblem(problems, 'store.users.columns.password: ', /required/);
  });

  test('algorithms outside the allow-list (HS256, none) are refused', () => {
    for (const alg of ['HS256', 'none', 'RS512', 'rs256']) {
      const raw = minimal();
      raw.auth.algorithms = ['RS256', alg];
      hasProblem(problemsOf(raw, {}), 'auth.algorithms.1: ');
    }
    const raw = minimal();
    raw.auth.algorithms = [];
    hasProblem(problemsOf(raw, {}), 'auth.algorithms: ');
  });

  test('a migration block with both column and table is refused', () => {
    const raw = minimal();
    raw.store.migration = { column: 'migrated_at', table: 'legacy_gateway_migrations' };
    hasProblem(problemsOf(raw, {}), 'store.migration');
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lgw-config-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a missing file is a ConfigError naming the file', () => {
    const file = path.join(dir, 'does-not-exist.yaml');
    assert.throws(
      () => loadConfigFile(file, {}),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.problems.length, 1);
        assert.ok(e.problems[0]!.startsWith(`${file}: `), e.problems[0]);
        assert.match(e.problems[0]!, /cannot read/);
        assert.match(e.problems[0]!, /ENOENT/);
        return true;
      },
    );
  });

  test('invalid YAML is a ConfigError naming the file', () => {
    const file = path.join(dir, 'broken.yaml');
    writeFileSync(file, 'auth:\n  issuer: [unclosed\n  audience: x\n');
    assert.throws(
      () => loadConfigFile(file, {}),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.problems.length, 1);
        assert.ok(e.problems[0]!.startsWith(`${file}: `), e.problems[0]);
        assert.match(e.problems[0]!, /not valid YAML/);
        return true;
      },
    );
  });

  test('a valid YAML file with ${VAR} parses, using the env object passed in', () => {
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      [
        'server: { port: 9000 }',
        'auth:',
        '  issuer: https://tenant.example.com/',
        '  audience: https://legacy-gateway.example.com',
        'store:',
        '  adapter: postgres',
        '  url: ${LEGACY_DB_URL}',
        '  users:',
        '    table: users',
        '    columns: { id: id, email: email, username: username, password: password_hash, salt: salt }',
        '    app_metadata: [plan]',
        '  migration: { column: migrated_at }',
        'passwords:',
        '  scheme: ${SCHEME:-auto}',
        '',
      ].join('\n'),
    );
    const c = loadConfigFile(file, { LEGACY_DB_URL: 'postgres://gw@db:5432/legacy' });
    assert.equal(c.store.url, 'postgres://gw@db:5432/legacy');
    assert.equal(c.store.adapter, 'postgres');
    assert.equal(c.server.port, 9000);
    assert.equal(c.passwords.scheme, 'auto');
    assert.deepEqual(c.store.migration, { column: 'migrated_at' });
    assert.deepEqual(c.store.users.app_metadata, ['plan']);
    assert.equal(c.store.users.columns.salt, 'salt');
  });

  test('a YAML file with validation problems reports them all via ConfigError.problems', () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(
      file,
      ['auth:', '  issuer: nope', '  audience: x', 'store:', '  adapter: db2', '  url: ${DB}', '  users: { table: "a b", columns: { id: id, email: email } }', ''].join('\n'),
    );
    assert.throws(
      () => loadConfigFile(file, {}),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        hasProblem(e.problems, 'auth.issuer: ');
        hasProblem(e.problems, 'store.adapter: ');
        hasProblem(e.problems, 'store.url: ', /DB/);
        hasProblem(e.problems, 'store.users.table: ');
        assert.ok(e.problems.includes('store.users.columns.password: required'), e.problems.join('\n'));
        return true;
      },
    );
  });
});

describe('config.example.yaml (the README points newcomers at it)', () => {
  test('parses, with LEGACY_DB_URL from the environment', async () => {
    const { loadConfigFile } = await import('../../src/config.js');
    const path = await import('node:path');
    const c = loadConfigFile(path.resolve(process.cwd(), 'config.example.yaml'), { LEGACY_DB_URL: 'postgres://gw@db/legacy' });
    assert.equal(c.store.adapter, 'postgres');
    assert.equal(c.store.url, 'postgres://gw@db/legacy');
    assert.equal(c.profile.user_id_prefix, 'legacy|');
    // The hardening knobs it documents are the defaults.
    assert.equal(c.auth.allow_insecure_http, false);
    assert.deepEqual(c.auth.jwks, { cache_max_age_s: 600, cooldown_s: 30, timeout_ms: 5000 });
    assert.equal(c.server.trust_proxy, false);
    assert.equal(c.server.headers_timeout_ms, 10_000);
    assert.equal(c.server.request_timeout_ms, 30_000);
    assert.equal(c.server.shutdown_grace_ms, 10_000);
  });
});

describe('auth: https only, unless auth.allow_insecure_http', () => {
  for (const key of ['issuer', 'jwks_uri'] as const) {
    test(`an http:// auth.${key} is a config error, loopback included`, () => {
      for (const url of ['http://tenant.example.com/', 'http://127.0.0.1:8080/', 'http://localhost/', 'http://[::1]:9/']) {
        const raw = minimal();
        raw.auth[key] = key === 'jwks_uri' ? `${url}.well-known/jwks.json` : url;
        hasProblem(problemsOf(raw), `auth.${key}: `, /https:\/\/.*allow_insecure_http/);
      }
    });

    test(`auth.allow_insecure_http: true accepts an http:// auth.${key}`, () => {
      const raw = minimal();
      raw.auth[key] = key === 'jwks_uri' ? 'http://127.0.0.1:9/.well-known/jwks.json' : 'http://127.0.0.1:9/';
      raw.auth.allow_insecure_http = true;
      const c = parseConfig(raw, {});
      assert.equal(c.auth.allow_insecure_http, true);
      assert.match(c.auth[key]!, /^http:\/\//);
    });
  }

  test('other schemes are refused even with the flag', () => {
    for (const url of ['ftp://tenant.example.com/', 'file:///etc/jwks.json', 'ws://tenant.example.com/']) {
      const raw = minimal();
      raw.auth.issuer = url;
      raw.auth.allow_insecure_http = true;
      hasProblem(problemsOf(raw), 'auth.issuer: ', /https/);
    }
  });

  test('the flag defaults to false; an https issuer needs nothing', () => {
    assert.equal(parseConfig(minimal(), {}).auth.allow_insecure_http, false);
  });

  test('the issuer problem is reported alongside other problems', () => {
    const raw = minimal();
    raw.auth.issuer = 'http://tenant.example.com/';
    raw.auth.clock_tolerance_s = -1;
    const problems = problemsOf(raw);
    hasProblem(problems, 'auth.issuer: ');
    hasProblem(problems, 'auth.clock_tolerance_s: ');
  });
});

describe('auth.jwks: key cache settings', () => {
  test('defaults: 600 s cache, 30 s cooldown, 5000 ms timeout', () => {
    assert.deepEqual(parseConfig(minimal(), {}).auth.jwks, { cache_max_age_s: 600, cooldown_s: 30, timeout_ms: 5000 });
  });

  test('explicit values are kept; a partial block gets the other defaults', () => {
    const raw = minimal();
    raw.auth.jwks = { cache_max_age_s: 60 };
    assert.deepEqual(parseConfig(raw, {}).auth.jwks, { cache_max_age_s: 60, cooldown_s: 30, timeout_ms: 5000 });
  });

  test('negative, fractional or unknown settings are refused', () => {
    const raw = minimal();
    raw.auth.jwks = { cache_max_age_s: -1, cooldown_s: 1.5, timeout_ms: 10, ttl: 5 };
    const problems = problemsOf(raw);
    hasProblem(problems, 'auth.jwks.cache_max_age_s: ');
    hasProblem(problems, 'auth.jwks.cooldown_s: ');
    hasProblem(problems, 'auth.jwks.timeout_ms: ');
    hasProblem(problems, 'auth.jwks: ', /unknown key\(s\): ttl/);
  });
});

describe('server.trust_proxy: a hop count or the proxies\' addresses, never "trust everyone"', () => {
  const withTrust = (v: unknown) => {
    const raw = minimal();
    raw.server = { trust_proxy: v };
    return raw;
  };

  test('false (the default), a hop count and a list of addresses/CIDRs are accepted', () => {
    assert.equal(parseConfig(minimal(), {}).server.trust_proxy, false);
    assert.equal(parseConfig(withTrust(false), {}).server.trust_proxy, false);
    assert.equal(parseConfig(withTrust(0), {}).server.trust_proxy, 0);
    assert.equal(parseConfig(withTrust(2), {}).server.trust_proxy, 2);
    assert.deepEqual(parseConfig(withTrust(['10.0.0.0/8', '::1', '192.168.1.7']), {}).server.trust_proxy, ['10.0.0.0/8', '::1', '192.168.1.7']);
  });

  test('true is refused with a message saying what to use instead', () => {
    hasProblem(problemsOf(withTrust(true)), 'server.trust_proxy: ', /hop count.*list of the proxies' addresses\/CIDR/);
  });

  for (const v of ['loopback', '10.0.0.1', 'true', '1', '', -1, 1.5, { a: 1 }, null]) {
    test(`${JSON.stringify(v)} is refused`, () => {
      hasProblem(problemsOf(withTrust(v)), 'server.trust_proxy: ');
    });
  }

  test('list entries are validated like allow_ips, each with its index', () => {
    const problems = problemsOf(withTrust(['10.0.0.0/8', 'loopback', '010.0.0.1', '10.0.0.0/99']));
    for (const i of [1, 2, 3]) hasProblem(problems, `server.trust_proxy.${i}: `, /not an IP address or CIDR range/);
    assert.ok(!problems.some((p) => p.startsWith('server.trust_proxy.0')), problems.join('\n'));
  });
});

describe('server timeouts, shutdown grace and the metrics listener', () => {
  test('defaults: headers 10 s, request 30 s, keep-alive 5 s, shutdown grace 10 s; no separate metrics listener', () => {
    const c = parseConfig(minimal(), {});
    assert.equal(c.server.headers_timeout_ms, 10_000);
    assert.equal(c.server.request_timeout_ms, 30_000);
    assert.equal(c.server.keep_alive_timeout_ms, 5_000);
    assert.equal(c.server.shutdown_grace_ms, 10_000);
    assert.equal(c.metrics, undefined);
  });

  test('explicit values are kept', () => {
    const raw = minimal();
    raw.server = { headers_timeout_ms: 1000, request_timeout_ms: 2000, keep_alive_timeout_ms: 0, shutdown_grace_ms: 500 };
    raw.metrics = { port: 9464 };
    const c = parseConfig(raw, {});
    assert.equal(c.server.headers_timeout_ms, 1000);
    assert.equal(c.server.request_timeout_ms, 2000);
    assert.equal(c.server.keep_alive_timeout_ms, 0);
    assert.equal(c.server.shutdown_grace_ms, 500);
    assert.deepEqual(c.metrics, { host: '127.0.0.1', port: 9464 });
  });

  test('a headers timeout longer than the request timeout, zero or negative timeouts are refused', () => {
    const raw = minimal();
    raw.server = { headers_timeout_ms: 5000, request_timeout_ms: 4000 };
    hasProblem(problemsOf(raw), 'server.headers_timeout_ms: ', /request_timeout_ms/);
    raw.server = { headers_timeout_ms: 0, request_timeout_ms: -1 };
    const problems = problemsOf(raw);
    hasProblem(problems, 'server.headers_timeout_ms: ');
    hasProblem(problems, 'server.request_timeout_ms: ');
  });

  test('metrics needs a port; unknown keys are refused', () => {
    const raw = minimal();
    raw.metrics = { host: '127.0.0.1' };
    hasProblem(problemsOf(raw), 'metrics.port: ', /required/);
    raw.metrics = { port: 9464, path: '/m' };
    hasProblem(problemsOf(raw), 'metrics: ', /unknown key\(s\): path/);
  });
});

describe('parseConfig: numbers and empty values from the environment', () => {
  test('a number field given whole by ${VAR} takes the variable\'s digits as a number', () => {
    const raw = minimal();
    raw.server = { port: '${PORT}', shutdown_grace_ms: '${GRACE:-2500}' };
    raw.store.pool_max = '${POOL}';
    raw.limits = { login_failures: { max: '${MAX_FAILURES}' } };
    const c = parseConfig(raw, { PORT: '9090', POOL: '4', MAX_FAILURES: '7' });
    assert.equal(c.server.port, 9090);
    assert.equal(c.server.shutdown_grace_ms, 2500);
    assert.equal(c.store.pool_max, 4);
    assert.equal(c.limits.login_failures.max, 7);
  });

  test('the number still meets the schema\'s bounds', () => {
    const raw = minimal();
    raw.server = { port: '${PORT}' };
    hasProblem(problemsOf(raw, { PORT: '70000' }), 'server.port: ');
  });

  for (const bad of ['8080abc', '80 80', '-1', '0x1f', '1e3', ' ']) {
    test(`PORT=${JSON.stringify(bad)} is not a number: refused`, () => {
      const raw = minimal();
      raw.server = { port: '${PORT}' };
      hasProblem(problemsOf(raw, { PORT: bad }), 'server.port: ', /number/);
    });
  }

  test('only interpolated values are coerced: a quoted "8080" in the file, or digits with text around ${VAR}, are not', () => {
    const quoted = minimal();
    quoted.server = { port: '8080' };
    hasProblem(problemsOf(quoted), 'server.port: ', /number/);
    const glued = minimal();
    glued.server = { port: '80${SUFFIX}' };
    hasProblem(problemsOf(glued, { SUFFIX: '80' }), 'server.port: ', /number/);
  });

  test('string fields keep digit-only values as strings (a numeric password or client id)', () => {
    const raw = minimal();
    raw.auth.clients = ['${CLIENT}'];
    raw.store.url = '${DB_URL}';
    const c = parseConfig(raw, { CLIENT: '123456', DB_URL: '42' });
    assert.deepEqual(c.auth.clients, ['123456']);
    assert.equal(c.store.url, '42');
  });

  test('an empty variable is reported as empty, with the way to allow it; an unset one as not set', () => {
    const raw = minimal();
    raw.store.url = '${LEGACY_DB_URL}';
    raw.server = { port: '${PORT}' };
    const problems = problemsOf(raw, { LEGACY_DB_URL: '' });
    hasProblem(problems, 'store.url: ', /environment variable LEGACY_DB_URL is empty .*\$\{LEGACY_DB_URL:-\}/);
    assert.ok(!problems.some((p) => p.startsWith('store.url: ') && /not set/.test(p)), problems.join('\n'));
    hasProblem(problems, 'server.port: ', /environment variable PORT is not set/);
    // Reported once per path: not again as "required" or "expected number".
    assert.equal(problems.filter((p) => p.startsWith('server.port: ')).length, 1, problems.join('\n'));
    assert.equal(problems.filter((p) => p.startsWith('store.url: ')).length, 1, problems.join('\n'));
  });

  test('a YAML file with port: ${PORT} starts with the number', () => {
    const d = mkdtempSync(path.join(tmpdir(), 'lg-cfg-num-'));
    try {
      const file = path.join(d, 'gw.yaml');
      writeFileSync(file, ['server:', '  port: ${PORT}', 'auth: { issuer: "https://t.example/", audience: aud }', 'store:', '  adapter: sqlite', '  url: x.db', '  users: { table: users, columns: { id: id, email: email, password: pw } }', ''].join('\n'));
      assert.equal(loadConfigFile(file, { PORT: '8181' }).server.port, 8181);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('server.allow_ips_files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-allowfiles-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("Auth0's ip-ranges.json for one region and a text list are added to allow_ips at load", () => {
    const auth0 = path.join(dir, 'ip-ranges.json');
    writeFileSync(auth0, JSON.stringify({ last_updated_at: '2026-01-01T00:00:00Z', regions: { eu: { ipv4_cidrs: ['198.51.100.0/28'] }, us: { ipv4_cidrs: ['192.0.2.1/32'] } }, changelog: [] }));
    const text = path.join(dir, 'extra.txt');
    writeFileSync(text, '203.0.113.7\n');
    const raw = minimal();
    raw.server = { allow_ips: ['10.0.0.0/8'], allow_ips_files: [{ path: auth0, format: 'auth0', regions: ['eu'] }, { path: text }] };
    const c = parseConfig(raw, {});
    assert.deepEqual(c.server.allow_ips, ['10.0.0.0/8', '198.51.100.0/28', '203.0.113.7']);
  });

  test('an unreadable file or an unknown region is a configuration problem naming the entry', () => {
    const raw = minimal();
    raw.server = { allow_ips_files: [{ path: path.join(dir, 'nope.json'), format: 'auth0' }] };
    hasProblem(problemsOf(raw), 'server.allow_ips_files.0.path', /cannot read the file/);
  });
});

describe('limits.redis_url and limits.redis.key_secret', () => {
  const withRedis = (redis_url: string, redis: Raw = {}) => ({ ...minimal(), limits: { redis_url, redis } });

  for (const bad of ['redis://:s3cret-pw@127.0.0.1:notaport', 'redis://:s3cret-pw@127.0.0.1:99999', 'rediss://:s3cret#pw@127.0.0.1:6379', 'redis://:s3cret%zzpw@127.0.0.1:6379',
    // An unencoded / ? or # in a password: the URL parser reads the user as the host and the password's digits as
    // the port, and the rest as a path, query or fragment.
    'redis://admin:31337/s3cret@redis.internal:6379', 'redis://admin:31337?s3cret@redis.internal:6379', 'redis://admin:31337#s3cret@redis.internal:6379',
    // A database number that is not a number.
    'redis://:s3cret@127.0.0.1:6379/abc']) {
    test(`${bad.replace('s3cret', '***')} is refused at validation, naming limits.redis_url and never echoing the URL`, () => {
      const problems = problemsOf(withRedis(bad));
      hasProblem(problems, 'limits.redis_url', /not a valid URL/);
      for (const p of problems) assert.ok(!p.includes('s3cret'), `the password leaked: ${p}`);
    });
  }

  test('valid URLs (a percent-encoded password, a database number, rediss) pass', () => {
    for (const ok of ['redis://127.0.0.1:6379', 'redis://:p%40ss%23word@redis.internal:6380/2', 'rediss://user:pw@redis.example.com', 'redis://[::1]:6379/0?family=6']) {
      assert.equal(parseConfig(withRedis(ok), {}).limits.redis_url, ok);
    }
  });

  test('key_secret: optional, taken from ${VAR} like other secrets, at least 16 characters', () => {
    assert.equal(parseConfig(withRedis('redis://127.0.0.1:6379'), {}).limits.redis.key_secret, undefined);
    const c = parseConfig(withRedis('redis://127.0.0.1:6379', { key_secret: '${LIMITER_KEY}' }), { LIMITER_KEY: 'a-shared-secret-of-32-characters' });
    assert.equal(c.limits.redis.key_secret, 'a-shared-secret-of-32-characters');
    hasProblem(problemsOf(withRedis('redis://127.0.0.1:6379', { key_secret: '${LIMITER_KEY}' }), {}), 'limits.redis.key_secret', /LIMITER_KEY is not set/);
    const short = problemsOf(withRedis('redis://127.0.0.1:6379', { key_secret: 'short-secret' }));
    hasProblem(short, 'limits.redis.key_secret', /at least 16/);
    for (const p of short) assert.ok(!p.includes('short-secret'), p);
  });

  test('buildGateway: when the limiters cannot be created, the store it opened is closed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lg-limiters-fail-'));
    const Database = createRequire(import.meta.url)('better-sqlite3') as { prototype: { close(): unknown } };
    const realClose = Database.prototype.close;
    let closes = 0;
    Database.prototype.close = function (this: unknown) {
      closes++;
      return realClose.call(this);
    };
    try {
      const file = path.join(dir, 'legacy.sqlite');
      createDemoDatabase(file);
      closes = 0;
      const config = demoConfig(file, 'https://issuer.example/', 'https://legacy-gateway.example.com', 0);
      // A URL the validation would refuse, standing in for any failure of createLimiters after the store is open.
      config.limits.redis_url = 'redis://:s3cret-pw@127.0.0.1:notaport';
      await assert.rejects(buildGateway(config, createLogger('silent')));
      assert.equal(closes, 1, 'the store buildGateway opened was closed');
    } finally {
      Database.prototype.close = realClose;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
