// A line Portcullis puts together itself (writePreserialized: the access and decision lines)
// is the line pino writes for the same record, time field included: at any millisecond,
// across a second's end, at either level, from a child logger with bindings of its own.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger, isoTime, writePreserialized } from '../../src/log.ts';
import { tempDir } from '../helpers/servers.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

function loggers() {
  const file = join(tempDir(), 'log.jsonl');
  const ours = createLogger({ level: 'info', destination: file, sync: true });
  const written: string[] = [];
  const theirs = pino({ level: 'info', base: { service: 'portcullis' }, timestamp: isoTime, formatters: { level: (label) => ({ level: label }) } }, { write: (line: string) => void written.push(line) });
  return { ours, theirs, ourLines: () => readFileSync(file, 'utf8').split(/(?<=\n)/), theirLines: () => written };
}

const fields = '"type":"access","request_id":"d06cb9de-ae4c-4804-ba6f-2309cf405c28","route":"app","status":200';
const record = JSON.parse(`{${fields}}`) as object;

describe('a line put together by writePreserialized', () => {
  it('is pino’s line at every millisecond, across a second’s end, at info and warn, with the message’s escapes', () => {
    const { ours, theirs, ourLines, theirLines } = loggers();
    const second = Date.UTC(2026, 10, 30, 13, 59, 58);
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1005, 1999, 2000, 500].map((ms) => second + ms);
    const now = vi.spyOn(Date, 'now');
    for (const time of times) {
      now.mockReturnValue(time);
      writePreserialized(ours, 'info', fields, 'request');
      theirs.info(record, 'request');
      writePreserialized(ours, 'warn', fields, 'a "quoted"\nmessage');
      theirs.warn(record, 'a "quoted"\nmessage');
    }
    expect(ourLines()).toHaveLength(times.length * 2);
    expect(ourLines()).toEqual(theirLines());
    expect(ourLines()[0]).toContain('"time":"2026-11-30T13:59:58.000Z"');
    expect(ourLines()[13]).toContain('"level":"warn","time":"2026-11-30T13:59:58.999Z"');
    expect(ourLines()[18]).toContain('"time":"2026-11-30T13:59:59.999Z"');
    expect(ourLines()[20]).toContain('"time":"2026-11-30T14:00:00.000Z"');
  });

  it('from child loggers, each with its own bindings, taking turns', () => {
    const { ours, theirs, ourLines, theirLines } = loggers();
    vi.spyOn(Date, 'now').mockReturnValue(Date.UTC(2026, 10, 30, 14, 0, 0, 42));
    const [a, b] = [ours.child({ worker: 1 }), ours.child({ worker: 2, zone: 'eu' })];
    const [ra, rb] = [theirs.child({ worker: 1 }), theirs.child({ worker: 2, zone: 'eu' })];
    for (let i = 0; i < 3; i++) {
      writePreserialized(a, 'info', fields, 'request');
      ra.info(record, 'request');
      writePreserialized(b, 'info', fields, 'request');
      rb.info(record, 'request');
      writePreserialized(ours, 'info', fields, 'request');
      theirs.info(record, 'request');
    }
    expect(ourLines()).toEqual(theirLines());
    expect(ourLines()[1]).toContain(',"service":"portcullis","worker":2,"zone":"eu","type":"access"');
  });
});
