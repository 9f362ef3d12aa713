/**
 * pino logger. Request bodies are never logged; known secret-bearing paths are redacted as a second line of defence.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  '*.password',
  'hash',
  '*.hash',
  'salt',
  '*.salt',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  'req.headers.cookie',
  'params.*',
  'url',
  '*.url',
  'originalUrl',
  '*.originalUrl',
  'query',
  '*.query',
  'input',
  '*.input',
];

/**
 * The redaction paths for lines whose fields are fixed by the code that writes them (the request line): the
 * explicit paths only. A wildcard path makes pino run its redactor on EVERY field of EVERY line (the request
 * line's cost, in the profile); explicit paths touch only the fields they name.
 */
export const FIXED_LINE_REDACT_PATHS = REDACT_PATHS.filter((p) => !p.includes('*'));

/**
 * A child logger for lines with fixed, code-chosen fields (method, route, status, a sanitised id/ip, a number):
 * explicit redaction paths only, no wildcard scan. Never log a free-form object (an error, a row, a request part)
 * through it: use the parent logger, whose wildcard paths are the second line of defence for those.
 */
export function fixedFieldsLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: FIXED_LINE_REDACT_PATHS, censor: '[redacted]' } });
}

let stampMs = NaN;
let stamp = '';
/**
 * pino's "time" field as an ISO 8601 string, as pino.stdTimeFunctions.isoTime writes it, formatted once per
 * millisecond: a request writes two lines (the request line and its audit event), and a busy gateway many per
 * millisecond, each of which formatted the same date again.
 */
export function isoTime(): string {
  const now = Date.now();
  if (now !== stampMs) {
    stampMs = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

/**
 * The logger. Without a destination it writes to stdout SYNCHRONOUSLY, as node's own console does:
 * - a line is in the kernel's hands when the call returns, so a crash (SIGKILL, out of memory) loses no audit line;
 *   pino's default asynchronous stdout keeps lines in memory until a thread-pool write completes;
 * - no thread-pool hop per write: the asynchronous stream sent each flush through libuv's pool, whose completion woke
 *   the event loop a second time per request (twice the wake-ups, five futex calls and four context switches per
 *   lookup at a steady 1,500/s), and whose threads the password verifications need;
 * - the price: a log reader that stops reading stalls the gateway (back-pressure) instead of growing its memory.
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
  return pino(
    {
      level,
      base: { service: 'legacy-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: isoTime,
    },
    destination,
  );
}

/**
 * An error's class name, for logs. Never log an error's message, stack or properties: they can carry input values
 * (a URL with its query string, a login, a driver's echo of a bound parameter).
 */
export function errorClass(e: unknown): string {
  if (e === null || typeof e !== 'object') return typeof e;
  const name = (e as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && /^[A-Za-z_$][\w$]{0,63}$/.test(name) ? name : 'Object';
}

/** A Node/driver error code (ECONNREFUSED, ERR_INVALID_URL), when the error has one of that shape; never free text. */
export function errorCode(e: unknown): string | undefined {
  const code = e && typeof e === 'object' ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : undefined;
}

export type { Logger };
