// For tests that check Portcullis's log lines are the bytes pino itself would write: our
// logger writing synchronously to a temp file, and plain pino with the same level label,
// base and no timestamp, collecting its lines.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger as PinoLogger } from 'pino';
import { createLogger, type Logger } from '../../src/log.ts';
import { tempDir } from './servers.ts';

export interface PinoComparison {
  /** Portcullis's logger */
  readonly logger: Logger;
  /** plain pino */
  readonly reference: PinoLogger;
  /** the lines our logger wrote, without their time field */
  ours(): string[];
  /** the lines pino wrote */
  theirs(): string[];
}

export function comparedWithPino(): PinoComparison {
  const file = join(tempDir(), 'log.jsonl');
  const logger = createLogger({ level: 'info', destination: file, sync: true });
  const written: string[] = [];
  const reference = pino({ level: 'info', base: { service: 'portcullis' }, timestamp: false, formatters: { level: (label) => ({ level: label }) } }, { write: (line: string) => void written.push(line.trim()) });
  return {
    logger,
    reference,
    ours: () => readFileSync(file, 'utf8').trim().split('\n').map((line) => line.replace(/,"time":"[^"]+"/, '')),
    theirs: () => written,
  };
}
