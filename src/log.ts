// Structured JSON logs with pino. Access and decision lines go through an
// asynchronous destination so logging never blocks a request; redaction is
// compiled once and covers every place a secret could hide.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level: LevelWithSilent;
  /** write to this file descriptor instead of stdout (tests use a file) */
  destination?: number | string;
  sync?: boolean;
}

export function createLogger({ level, destination = 1, sync = false }: LogOptions): Logger {
  return pino(
    {
      level,
      base: { service: 'portcullis' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['*.authorization', '*.cookie', '*.token', '*.access_token', '*.id_token', '*.refresh_token', '*.client_secret', 'headers.authorization', 'headers.cookie'],
        censor: '[redacted]',
      },
    },
    pino.destination({ dest: destination, sync, minLength: sync ? 0 : 4096 }),
  );
}
