/**
 * The bench scripts' command lines: --help (-h) prints the usage; an unknown option, a missing value, a number that
 * is not a positive number or a count that is not a whole number is one line naming it, then the usage, and exit
 * status 2 (never a stack trace).
 */
import { parseArgs } from 'node:util';

export function benchArgs<D extends Record<string, string | undefined>>(
  usage: string,
  defaults: D,
  numeric: readonly (keyof D & string)[] = [],
  counts: readonly (keyof D & string)[] = [],
): { [K in keyof D]: string | undefined } {
  const options: Record<string, { type: 'string'; default?: string } | { type: 'boolean'; short: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [k, v] of Object.entries(defaults)) options[k] = v === undefined ? { type: 'string' } : { type: 'string', default: v };
  const fail = (msg: string) => usageError(msg, usage);
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    // node's own messages name the option ("Unknown option '--secs'", "Option '--seconds <value>' argument missing").
    return fail(e instanceof Error ? e.message.split('\n')[0]! : String(e));
  }
  if (values.help) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  for (const k of numeric) {
    const v = values[k];
    if (typeof v === 'string' && !(Number(v) > 0 && Number.isFinite(Number(v)))) fail(`--${k}: must be a positive number, got ${JSON.stringify(v.slice(0, 40))}`);
  }
  for (const k of counts) {
    const v = values[k];
    if (typeof v === 'string' && !(Number.isSafeInteger(Number(v)) && Number(v) > 0)) fail(`--${k}: must be a whole number above 0, got ${JSON.stringify(v.slice(0, 40))}`);
  }
  return values as { [K in keyof D]: string | undefined };
}

/** A bad command line: the message, the usage, exit status 2. */
export function usageError(msg: string, usage: string): never {
  process.stderr.write(`${msg}\n\n${usage.trim()}\n`);
  process.exit(2);
}
