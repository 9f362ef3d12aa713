/**
 * What every operator command shares: its flags parsed strictly (an unknown flag is an error, not ignored), the
 * config loaded from --config / LEGACY_GATEWAY_CONFIG, and the store opened and always closed.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createStore, type UserStore } from '../../adapters/index.js';
import { configPathFrom, loadConfigFile, type Config } from '../config.js';

export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export const processIO: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env };

/** A usage problem: printed with the command's usage line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parse a command's flags (plus --config/-c); unknown flags and stray positionals are UsageErrors. */
export function parseFlags<O extends Options>(args: string[], options: O) {
  try {
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, ...options }, allowPositionals: false, strict: true });
    return values as { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string } & { config?: string };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function loadConfig(flag: string | undefined, io: CliIO): Config {
  const file = configPathFrom(flag, io.env);
  if (!file) throw new UsageError('needs --config FILE (or LEGACY_GATEWAY_CONFIG)');
  return loadConfigFile(file, io.env);
}

/** Open the configured store, run fn, close the store whatever happens. */
export async function withStore<T>(config: Config, fn: (store: UserStore) => Promise<T>): Promise<T> {
  const store = await createStore(config.store);
  try {
    return await fn(store);
  } finally {
    await store.close().catch(() => {});
  }
}
