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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'legacy-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
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
