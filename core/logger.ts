/**
 * Structured logs (pino). Credentials are redacted at every level: they must never reach a log
 * line, whatever a plugin decides to log.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers.apikey',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers.apikey',
  'headers["x-api-key"]',
];

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination as never) : pino(options);
}
