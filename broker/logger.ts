/**
 * pino factory. Payloads and secrets never reach a log line: the redaction
 * list is a safety net, the habit is to not log them at all.
 */
import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

export const REDACT_PATHS = ['password', '*.password', 'token', '*.token', 'payload', '*.payload',
  'headers.authorization', 'req.headers.authorization']

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    name: 'vigil',
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime
  }, destination ?? pino.destination({ dest: 1, sync: true }))
}
