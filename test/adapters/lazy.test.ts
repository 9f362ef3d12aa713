/**
 * Drivers are loaded lazily: a deployment only loads the driver package of its own adapter (a mysql deployment
 * never loads tedious), and a missing driver is reported with what to do.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type BetterSqlite3 from 'better-sqlite3';
import { loadDriver, packageName } from '../../adapters/driver.js';
import { StoreError } from '../../adapters/types.js';

const run = promisify(execFile);
const INDEX = new URL('../../adapters/index.js', import.meta.url);
const DRIVERS = ['better-sqlite3', 'pg', 'mysql2', 'mssql', 'tedious', 'oracledb', 'mongodb'] as const;

/**
 * In a fresh process: import the compiled adapters/index.js, create a store of one kind (or none), and report
 * which driver packages ended up in require.cache (every driver is CommonJS, so a loaded one is there).
 */
const CHILD = `
import { createRequire } from 'node:module';
const [indexUrl, storeJson] = process.argv.slice(1);
const { createStore } = await import(indexUrl);
const store = JSON.parse(storeJson);
let created = null;
let error = null;
if (store) {
  try {
    created = await createStore(store);
  } catch (e) {
    error = String(e && e.message);
  }
}
const cache = Object.keys(createRequire(new URL(indexUrl)).cache);
const loaded = ${JSON.stringify(DRIVERS)}.filter((d) => cache.some((f) => f.includes('/node_modules/' + d + '/')));
try { await created?.close(); } catch {}
process.stdout.write(JSON.stringify({ loaded, error }));
process.exit(0);
`;

async function loadedBy(store: Record<string, unknown> | null): Promise<{ loaded: string[]; error: string | null }> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CHILD, INDEX.href, JSON.stringify(store)], { timeout: 20_000 });
  return JSON.parse(stdout) as { loaded: string[]; error: string | null };
}

const dir = mkdtempSync(path.join(tmpdir(), 'lg-lazy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function storeConfig(adapter: string, url: string) {
  return {
    adapter,
    url,
    table_prefix: '',
    users: { table: 'users', joins: [], filter: [], columns: { id: 'id', email: 'email', password: 'pw' }, app_metadata: [], user_metadata: [] },
    queries: {},
    migration: { table: 'legacy_gateway_migrations' },
    query_timeout_ms: 1000,
    pool_max: 1,
  };
}

describe('drivers are loaded lazily', () => {
  test('importing the adapters loads no driver', async () => {
    const r = await loadedBy(null);
    assert.deepEqual(r.loaded, []);
  });

  test('a sqlite store loads better-sqlite3 only', async () => {
    const file = path.join(dir, 'lazy.sqlite');
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    new Database(file).close();
    const r = await loadedBy(storeConfig('sqlite', file));
    assert.equal(r.error, null);
    assert.deepEqual(r.loaded, ['better-sqlite3']);
  });

  test('a mysql store (server unreachable) loads mysql2 only: never tedious, mssql or pg', async () => {
    const r = await loadedBy(storeConfig('mysql', 'mysql://root@127.0.0.1:1/legacy'));
    assert.deepEqual(r.loaded, ['mysql2'], `error: ${r.error}`);
  });

  test('a postgres store (server unreachable) loads pg only', async () => {
    const r = await loadedBy(storeConfig('postgres', 'postgres://postgres@127.0.0.1:1/legacy'));
    assert.deepEqual(r.loaded, ['pg'], `error: ${r.error}`);
  });

  test('an mssql store (server unreachable) loads mssql and tedious only', async () => {
    const r = await loadedBy(storeConfig('mssql', 'mssql://sa:pw@127.0.0.1:1/legacy?encrypt=false'));
    assert.equal(r.error, null);
    assert.deepEqual(r.loaded, ['mssql', 'tedious']);
  });

  test('an oracle store (server unreachable) loads oracledb only, and opening it connects to nothing', async () => {
    const r = await loadedBy(storeConfig('oracle', 'oracle://app:pw@127.0.0.1:1/FREEPDB1'));
    assert.equal(r.error, null);
    assert.deepEqual(r.loaded, ['oracledb']);
  });

  test('a mongodb store (server unreachable) loads mongodb only', async () => {
    const r = await loadedBy({ ...storeConfig('mongodb', 'mongodb://127.0.0.1:1/legacy'), users: { table: 'users', joins: [], filter: [], columns: { id: '_id', email: 'email', password: 'hash' }, app_metadata: [], user_metadata: [] } });
    assert.equal(r.error, null);
    assert.deepEqual(r.loaded, ['mongodb']);
  });
});

describe('loadDriver: a missing driver is actionable', () => {
  test('a package that is not installed: "needs the X package: npm install X"', () => {
    assert.throws(
      () => loadDriver('lg-no-such-driver-package', 'example'),
      (e: Error) => {
        assert.ok(e instanceof StoreError);
        assert.equal(e.message, 'the example adapter needs the "lg-no-such-driver-package" package: npm install lg-no-such-driver-package');
        return true;
      },
    );
  });

  test('a subpath or scoped package names the package to install', () => {
    assert.throws(() => loadDriver('lg-no-such-driver-package/promise', 'mysql'), {
      message: 'the mysql adapter needs the "lg-no-such-driver-package" package: npm install lg-no-such-driver-package',
    });
    assert.throws(() => loadDriver('@lg-no-such-scope/driver/sub', 'x'), {
      message: 'the x adapter needs the "@lg-no-such-scope/driver" package: npm install @lg-no-such-scope/driver',
    });
    assert.deepEqual(['mysql2/promise', '@scope/pkg/sub', 'pg'].map(packageName), ['mysql2', '@scope/pkg', 'pg']);
  });

  test('an installed package loads', () => {
    const pg = loadDriver<{ Pool: unknown }>('pg', 'postgres');
    assert.equal(typeof pg.Pool, 'function');
  });

  test('a package whose own dependency is missing, or that fails to load, says so', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'lg-drivers-'));
    try {
      const pkg = (name: string, main: string) => {
        mkdirSync(path.join(root, 'node_modules', name), { recursive: true });
        writeFileSync(path.join(root, 'node_modules', name, 'package.json'), JSON.stringify({ name, main: 'index.js' }));
        writeFileSync(path.join(root, 'node_modules', name, 'index.js'), main);
      };
      pkg('lg-fake-needs-dep', "require('lg-fake-missing-dep/lib');");
      pkg('lg-fake-broken', "throw Object.assign(new Error('was compiled against a different Node.js version'), { code: 'ERR_DLOPEN_FAILED' });");
      const from = pathToFileURL(path.join(root, 'index.js'));
      assert.throws(() => loadDriver('lg-fake-needs-dep', 'fake', from), {
        message: 'the fake adapter\'s "lg-fake-needs-dep" package cannot load its dependency "lg-fake-missing-dep": reinstall it (npm install lg-fake-needs-dep)',
      });
      assert.throws(() => loadDriver('lg-fake-broken', 'fake', from), {
        message: 'the fake adapter\'s "lg-fake-broken" package failed to load (ERR_DLOPEN_FAILED): reinstall or rebuild it (npm rebuild lg-fake-broken)',
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

// Keep the compiled location honest: this test imports adapters/index.js next to its own build output.
assert.ok(fileURLToPath(INDEX).endsWith(path.join('adapters', 'index.js')));
