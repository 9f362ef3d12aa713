/** An operator command's stdout and stderr, captured in memory (for run(args, io) of src/operations/*). */
import { PassThrough } from 'node:stream';
import type { CliIO } from '../../src/operations/cli.js';

export function captureIO(env: NodeJS.ProcessEnv = {}): CliIO & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  stdout.on('data', (b: Buffer) => o.push(b));
  stderr.on('data', (b: Buffer) => e.push(b));
  return { stdout, stderr, env, out: () => Buffer.concat(o).toString('utf8'), err: () => Buffer.concat(e).toString('utf8') };
}
