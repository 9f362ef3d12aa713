/**
 * Runs a CommonJS bundle (scripts/bundle.mjs writes dist/src/main.cjs and the stub dist/src/main.js that calls this)
 * with V8's code cache, the start-up cost Node 20 has no built-in cache for (module.enableCompileCache is Node 22).
 *
 * Without a cache, every start parses and compiles the 3.6 MB bundle and then compiles each function it runs while
 * starting. The cache holds that compiled code: the first start writes it (cacheDelayMs after the bundle began, so
 * that it holds the functions start-up ran, not only the top level), and every later start reads it instead of
 * compiling (docs/performance.md: start to ready, with and without it).
 *
 * The cache file sits beside the bundle, so it has the code's own owner and permissions (never a shared temporary
 * directory, where another user could plant one). Its name carries a hash of the bundle's text: V8 checks only its
 * own version, flags and the source's length, so a rebuilt bundle of the same length must not meet the old cache. Its
 * first bytes are a hash of V8's data (readCache): V8 does not check that data, and a damaged one would abort every
 * start.
 * V8 rejects a cache of another version or with other flags (--max-old-space-size, --cpu-prof): the bundle is then
 * compiled as if there were none, and the cache written anew. Where the directory is read-only (a container image
 * whose dist belongs to another user), nothing is written and every start compiles: slower, never an error.
 * So the V8 flags a bundle runs with (BUNDLE_V8_FLAGS) are set here, before it compiles, and never changed after; a
 * flag that node's own command line sets is left as it is.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * V8 flags set for every bundle, before it compiles (the code cache is checked against the flags it was made with).
 *
 * --heap-growing-percent=50: after a full collection, the old generation may grow to 1.5 times what the collection
 * kept (or 8 MB more, whichever is larger) before the next one starts. V8's own factor depends on how fast it collects
 * and reached 4 here, so a server that promotes a little of every request (the gateway about 1.6 KB per lookup)
 * carried up to three times its live old generation as garbage under a steady load. Measured with the lookup
 * benchmark, the gateway beside the same build without the flag, in turns (README, "Memory under a load"): RSS at
 * the end of the storms on PostgreSQL, MariaDB and SQLite 124.4, 132.7 and 134.3 MB against 151.2, 161.8 and
 * 151.2 MB, at the same CPU per lookup (333, 324 and 278 µs against 340, 351 and 303).
 */
export const BUNDLE_V8_FLAGS = ['--heap-growing-percent=50'];

/** The name of a V8 flag as node's command line may spell it (V8 takes - and _ alike): "--heap-growing-percent". */
const flagName = (arg: string) => arg.split('=')[0]!.replaceAll('_', '-');

/** BUNDLE_V8_FLAGS but those that node's own command line sets (an operator's choice stands). */
export function bundleV8Flags(execArgv: readonly string[] = process.execArgv): string[] {
  const own = new Set(execArgv.map(flagName));
  return BUNDLE_V8_FLAGS.filter((flag) => !own.has(flagName(flag)));
}

export interface Launched {
  /** The cache file this bundle's text would use. */
  cacheFile: string;
  /** True when V8 took the cached code; false when there was none or V8 rejected it. */
  cacheUsed: boolean;
}

/** The cache file for a bundle of these bytes: beside it, named by a hash of the file as it is on disk. */
export function cacheFileFor(file: string, bytes: Buffer = readFileSync(file)): string {
  return `${file}.${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.v8-cache`;
}

/**
 * The cache as written: a SHA-256 of V8's data, then the data. V8 checks its own header (version, flags, source
 * length) but, in Node 20, not the body: a damaged body aborts the process (a fatal error in its deserializer) at every
 * start. So the data goes to V8 only when its hash matches; a file whose hash does not is removed and compiled anew.
 */
const DIGEST_BYTES = 32;

function readCache(cacheFile: string): Buffer | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(cacheFile);
  } catch {
    return undefined; // none yet (or unreadable): compile
  }
  const data = raw.subarray(DIGEST_BYTES);
  if (raw.length > DIGEST_BYTES && createHash('sha256').update(data).digest().equals(raw.subarray(0, DIGEST_BYTES))) return data;
  try {
    rmSync(cacheFile, { force: true }); // damaged or foreign: the next start writes a sound one
  } catch {
    // read-only: compile every time
  }
  return undefined;
}

/** Run `bundle` (a CommonJS file) as node would, with its code cache; write the cache when there was none. */
export function runBundle(bundle: string | URL, cacheDelayMs = 2000): Launched {
  const file = bundle instanceof URL ? fileURLToPath(bundle) : path.resolve(bundle);
  for (const flag of bundleV8Flags()) v8.setFlagsFromString(flag);
  // Read once: the bytes are hashed as they are (not decoded and encoded again), then decoded once. A shebang is not
  // JavaScript inside the module wrapper: it becomes a comment, so that line numbers stay.
  const bytes = readFileSync(file);
  const source = bytes.toString('utf8').replace(/^#!/, '//');
  const cacheFile = cacheFileFor(file, bytes);
  const cachedData = readCache(cacheFile);
  // No import() hook: code taken from a cache would lose it, so the bundle has no import() (scripts/bundle.mjs).
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const cacheUsed = cachedData !== undefined && !script.cachedDataRejected;
  if (!cacheUsed) setTimeout(() => writeCache(script, cacheFile), cacheDelayMs).unref();
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  return { cacheFile, cacheUsed };
}

/**
 * Write the cache whole or not at all: a temporary file of a name no other process uses (replicas may share the
 * directory), flushed to disk, then renamed over the cache, so that a reader never sees half of one.
 */
function writeCache(script: vm.Script, cacheFile: string): void {
  const tmp = `${cacheFile}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
  try {
    const data = script.createCachedData();
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      writeSync(fd, createHash('sha256').update(data).digest());
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, cacheFile);
  } catch {
    // A read-only directory: start-up keeps compiling.
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written
    }
  }
}
