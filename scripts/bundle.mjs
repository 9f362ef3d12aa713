#!/usr/bin/env node
/**
 * After `tsc`: bundle the CLI (dist/src/main.js) and the benchmark's server child (dist/bench/child.js) in place with
 * esbuild, each into one ES module. Start-up then compiles one file instead of resolving, reading and compiling
 * some 400 modules (express, express-oauth2-jwt-bearer, zod, yaml, pino, cockatiel, ...): on the development machine
 * start to ready fell from about 450 ms to 250 ms and idle RSS by about 12 MB (README, "Performance").
 *
 * Left outside the bundle, loaded from node_modules at run time as before: the database drivers and other packages
 * the gateway loads only when configured (pg, mysql2, mssql, oracledb, mongodb, better-sqlite3, ioredis,
 * prom-client) and the native bindings (@node-rs/*). Every other module under dist/ stays as tsc wrote it: the tests
 * import those, and the crypt worker thread (src/passwords/unix.ts) runs dist/src/passwords/unix.js, which the
 * bundles name through the LG_CRYPT_WORKER define.
 *
 *   node scripts/bundle.mjs [distDir]     (npm run build runs it; so does the Dockerfile)
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const dist = path.resolve(process.argv[2] ?? 'dist');
const EXTERNAL = ['pg', 'pg-native', 'mysql2', 'mssql', 'oracledb', 'mongodb', 'better-sqlite3', 'ioredis', 'prom-client', '@node-rs/*'];
// CommonJS packages inside an ES module bundle still call require(), and a few read __dirname/__filename.
const BANNER = [
  "import { createRequire as __lgCreateRequire } from 'node:module';",
  "import { fileURLToPath as __lgFileURLToPath } from 'node:url';",
  'const require = __lgCreateRequire(import.meta.url);',
  'const __filename = __lgFileURLToPath(import.meta.url);',
  "const __dirname = __lgFileURLToPath(new URL('.', import.meta.url));",
].join('\n');

const targets = [
  // [the entry tsc wrote (overwritten by its bundle), the crypt worker's file relative to it]
  ['src/main.js', './passwords/unix.js'],
  ['bench/child.js', '../src/passwords/unix.js'],
];

for (const [entry, worker] of targets) {
  const file = path.join(dist, entry);
  // The container build compiles src and adapters only (tsconfig.build.json): no benchmark there.
  if (!existsSync(file)) continue;
  await build({
    entryPoints: [file],
    outfile: file,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    banner: { js: BANNER },
    define: { LG_CRYPT_WORKER: JSON.stringify(worker) },
    legalComments: 'none',
    logLevel: 'warning',
  });
}
