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

export type { Logger };
