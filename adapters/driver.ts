/**
 * Loading a database driver package on demand. Every adapter calls this from inside its open function, so a
 * deployment only ever loads the driver it uses, and a missing or broken driver is reported with what to do.
 */
import { createRequire } from 'node:module';
import { StoreError } from './types.js';

/** The npm package a module specifier belongs to: "mysql2/promise" → "mysql2", "@scope/pkg/sub" → "@scope/pkg". */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * require() a driver package (all of them are CommonJS) for an adapter.
 * `from` is where resolution starts (this module by default; tests point it elsewhere).
 */
export function loadDriver<T>(specifier: string, adapter: string, from: string | URL = import.meta.url): T {
  const pkg = packageName(specifier);
  try {
    return createRequire(from)(specifier) as T;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const missing = /Cannot find module '([^']+)'/.exec(err.message ?? '')?.[1];
    if (err.code === 'MODULE_NOT_FOUND' && (missing === specifier || missing === pkg)) {
      throw new StoreError(`the ${adapter} adapter needs the "${pkg}" package: npm install ${pkg}`, { cause: e, transient: false });
    }
    if (err.code === 'MODULE_NOT_FOUND' && missing && !missing.startsWith('.') && !missing.startsWith('/')) {
      const dep = packageName(missing);
      throw new StoreError(
        `the ${adapter} adapter's "${pkg}" package cannot load its dependency "${dep}": reinstall it (npm install ${pkg})`,
        { cause: e, transient: false },
      );
    }
    // Present but broken: a native module built for another Node.js version or platform, a partial install, ...
    throw new StoreError(
      `the ${adapter} adapter's "${pkg}" package failed to load (${err.code ?? err.name ?? 'error'}): reinstall or rebuild it (npm rebuild ${pkg})`,
      { cause: e, transient: false },
    );
  }
}
