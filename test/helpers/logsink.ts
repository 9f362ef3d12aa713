/**
 * Every log line the gateways of a test run write, collected for test/zz/log-scan.test.ts: when LG_TEST_LOG_DIR is
 * set (`npm test` sets it), each line a test gateway logs (in-process, or a child process's stdout and stderr) is
 * also appended to a file there. The scan at the end of the run reads them all.
 */
import { appendFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.LG_TEST_LOG_DIR;
const file = dir ? path.join(dir, `gateway-${process.pid}.log`) : undefined;

/** Append text (one or more log lines) to this process's file; a no-op outside a full run. */
export function sinkLog(text: string): void {
  if (file) appendFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}
