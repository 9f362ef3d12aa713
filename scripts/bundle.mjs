#!/usr/bin/env node
/**
 * After `tsc`: bundle the CLI (dist/src/main.js) and the benchmark's server child (dist/bench/child.js) with esbuild,
 * each into one CommonJS file beside it (main.cjs, child.cjs), and replace the entry with a stub that runs that file
 * through src/launch.ts, which keeps V8's code cache for it. Start-up then reads one file instead of resolving, reading
 * and compiling some 400 modules (express, express-oauth2-jwt-bearer, zod, yaml, pino, cockatiel, ...), and from the
 * second start on takes the compiled code from the cache (docs/performance.md: start to ready).
 * CommonJS, not an ES module: V8's code cache is reachable from vm.Script, which runs scripts, not modules.
 *
 * Left outside the bundle, loaded from node_modules at run time as before: the database drivers and other packages
 * the gateway loads only when configured (pg, mysql2, mssql, oracledb, mongodb, better-sqlite3, ioredis,
 * prom-client) and the native bindings (@node-rs/*). Every other module under dist/ stays as tsc wrote it: the tests
 * import those, and the crypt worker thread (src/passwords/unix.ts) runs dist/src/passwords/unix.js, which the
 * bundles name through the LG_CRYPT_WORKER define.
 *
 *   node scripts/bundle.mjs [distDir]     (npm run build runs it; so does the Dockerfile)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const dist = path.resolve(process.argv[2] ?? 'dist');
const EXTERNAL = ['pg', 'pg-native', 'mysql2', 'mssql', 'oracledb', 'mongodb', 'better-sqlite3', 'ioredis', 'prom-client', '@node-rs/*'];
// The sources are ES modules: strict mode, as modules always are (the directive must come first, before the banner's
// own line, or it is no directive), and import.meta.url is the bundle's own file URL.
const BANNER = ['"use strict";', "const __lgImportMetaUrl = require('node:url').pathToFileURL(__filename).href;"].join('\n');

/**
 * The bundle as ASCII text. V8 keeps a script's source for as long as its functions live, one byte per character
 * only when every character is Latin-1; a single arrow or "≈" makes the whole 3.6 MB source two bytes per character,
 * twice over at start-up (the source and its module wrapper). esbuild's default charset (ascii) already escapes every
 * non-ASCII character in code (strings, regular expressions, identifiers); only comments keep theirs (the sources'
 * own and the packages'). Those become \uXXXX text, which in a comment means nothing. U+2028 and U+2029 end a line
 * even inside a // comment, so they become "\n".
 * Measured with the CLI idle on MariaDB: RSS 102 MB before, 95 MB after (docs/performance.md).
 */
function asciiOnly(text) {
  return text.replace(/[\u2028\u2029]/g, '\n').replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const targets = [
  // [the entry tsc wrote (replaced by the stub), the crypt worker's file relative to it, src/launch.js relative to it]
  ['src/main.js', './passwords/unix.js', './launch.js'],
  ['bench/child.js', '../src/passwords/unix.js', '../src/launch.js'],
];

for (const [entry, worker, launcher] of targets) {
  const file = path.join(dist, entry);
  // The container build compiles src and adapters only (tsconfig.build.json): no benchmark there.
  if (!existsSync(file)) continue;
  const bundle = file.replace(/\.js$/, '.cjs');
  const shebang = readFileSync(file, 'utf8').startsWith('#!') ? '#!/usr/bin/env node\n' : '';
  await build({
    entryPoints: [file],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: EXTERNAL,
    banner: { js: BANNER },
    define: { LG_CRYPT_WORKER: JSON.stringify(worker), 'import.meta.url': '__lgImportMetaUrl' },
    // import() becomes require(): code V8 takes from a cache loses the hook import() needs (ERR_VM_DYNAMIC_IMPORT_
    // CALLBACK_MISSING), and every package the bundle leaves outside is CommonJS (the drivers, prom-client, @node-rs/*).
    supported: { 'dynamic-import': false },
    legalComments: 'none',
    // No keepNames: esbuild gives a class whose name another module already uses a suffix (the token library's
    // InvalidRequestError is InvalidRequestError2 here), so code must tell classes apart with instanceof, never by
    // name (src/auth.ts isTokenError; test/src/bundle.test.ts asks the bundle and the modules the same refused
    // tokens). Keeping every name cost 2.7 MB of idle RSS (90.3-90.4 against 87.6 MB, 7 starts each, alternating).
    logLevel: 'warning',
  });
  writeFileSync(bundle, asciiOnly(readFileSync(bundle, 'utf8')));
  // The stub finds its neighbours from its real path: started through a symlink with --preserve-symlinks-main, its
  // import.meta.url is the link's.
  writeFileSync(
    file,
    `${shebang}// Runs ${path.basename(bundle)} (scripts/bundle.mjs) with V8's code cache (src/launch.ts).\n` +
      "import { realpathSync } from 'node:fs';\n" +
      "import { fileURLToPath, pathToFileURL } from 'node:url';\n" +
      'const here = pathToFileURL(realpathSync(fileURLToPath(import.meta.url)));\n' +
      `const { runBundle } = await import(new URL(${JSON.stringify(launcher)}, here).href);\n` +
      `runBundle(new URL(${JSON.stringify(`./${path.basename(bundle)}`)}, here));\n`,
  );
}
