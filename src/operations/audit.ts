/** `legacy-gateway audit`: scaffolding until it is built (issue #10). */
import type { CliIO } from './cli.js';

export async function run(_args: string[], io: CliIO): Promise<number> {
  io.stderr.write('audit: not built yet\n');
  return 1;
}
