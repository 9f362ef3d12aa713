/**
 * Runs a CommonJS bundle (scripts/bundle.mjs writes dist/src/main.cjs and the stub dist/src/main.js that calls this)
 * with V8's code cache, the start-up cost Node 20 has no built-in cache for (module.enableCompileCache is Node 22).
 *
 * Without a cache, every start parses and compiles the 3.6 MB bundle and then compiles each function it runs while
 * starting. The cache holds that compiled code: the first start writes it (cacheDelayMs after the bundle began, so
 * that it holds the functions start-up ran, not only the top level), and every later start reads it instead of
 * compiling (README, "Performance": start to ready, with and without it).
 *
 * The cache file sits beside the bundle, so it has the code's own owner and permissions (never a shared temporary
 * directory, where another user could plant one). Its name carries a hash of the bundle's text: V8 checks only its
 * own version, flags and the source's length, so a rebuilt bundle of the same length must not meet the old cache.
 * V8 rejects a cache of another version or with other flags (--cpu-prof, say): the bundle is then compiled as if there
 * were none, and the cache written anew. Where the directory is read-only (a container image whose dist belongs to
 * another user), nothing is written and every start compiles: slower, never an error.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

export interface Launched {
  /** The cache file this bundle's text would use. */
  cacheFile: string;
  /** True when V8 took the cached code; false when there was none or V8 rejected it. */
  cacheUsed: boolean;
}

/** A bundle's text as it is compiled: a shebang, not JavaScript inside the module wrapper, becomes a comment (line numbers stay). */
export function bundleSource(file: string): string {
  return readFileSync(file, 'utf8').replace(/^#!/, '//');
}

/** The cache file for a bundle with this text: beside it, named by a hash of the text. */
export function cacheFileFor(file: string, source = bundleSource(file)): string {
  return `${file}.${createHash('sha256').update(source).digest('hex').slice(0, 16)}.v8-cache`;
}

/** Run `bundle` (a CommonJS file) as node would, with its code cache; write the cache when there was none. */
export function runBundle(bundle: string | URL, cacheDelayMs = 2000): Launched {
  const file = bundle instanceof URL ? fileURLToPath(bundle) : path.resolve(bundle);
  const source = bundleSource(file);
  const cacheFile = cacheFileFor(file, source);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // none yet (or unreadable): compile
  }
  // No import() hook: code taken from a cache would lose it, so the bundle has no import() (scripts/bundle.mjs).
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const cacheUsed = cachedData !== undefined && !script.cachedDataRejected;
  if (!cacheUsed) setTimeout(() => writeCache(script, cacheFile), cacheDelayMs).unref();
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  return { cacheFile, cacheUsed };
}

/** Write the cache whole or not at all: a temporary file renamed over it, so a reader never sees half of one. */
function writeCache(script: vm.Script, cacheFile: string): void {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
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
