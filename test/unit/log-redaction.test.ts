// Secrets never reach a log line: tokens, cookies and Authorization are redacted
// wherever they appear one level down, and the caller's objects are not changed.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../src/log.ts';
import { tempDir } from '../helpers/servers.ts';
import { comparedWithPino } from '../helpers/pino-reference.ts';

describe('log redaction', () => {
  it('redacts authorization, cookie and token fields and leaves the logged object untouched', () => {
    const file = join(tempDir(), 'log.jsonl');
    const logger = createLogger({ level: 'info', destination: file, sync: true });
    const headers = { authorization: 'Bearer secret-access-token', cookie: 'portcullis=ticket.secret', accept: 'text/html' };
    const tokens = { id_token: 'eyJ.id.token', refresh_token: 'rt-secret', access_token: 'at-secret' };
    logger.info({ type: 'test', headers, tokens, client_secret_holder: { client_secret: 'cs-secret' } }, 'line');
    logger.child({ session: { token: 'child-token' } }).info({ type: 'child' }, 'child line');
    const text = readFileSync(file, 'utf8');
    for (const secret of ['secret-access-token', 'ticket.secret', 'eyJ.id.token', 'rt-secret', 'at-secret', 'cs-secret', 'child-token']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
    expect(text).toContain('text/html');
    expect(headers.authorization).toBe('Bearer secret-access-token');
  });
});

describe('the fast path for plain records', () => {
  // Lines the hot path writes (access and decision lines) skip pino's serializer; they must be
  // the bytes pino itself would write, and anything needing redaction must still be redacted.
  it('writes nested decision-like records exactly as pino would', async () => {
    const { logger, reference, ours, theirs } = comparedWithPino();
    const records = [
      { type: 'decision', request_id: 'r1', reasons: [{ criterion: 'groups', outcome: 'pass', code: 'groups-matched', rule: undefined }], shadow: { policy: 'p', would: undefined, reasons: [] }, path: '/a"b\\c\u2028', n: 1.5, ok: true },
      { type: 'access', status: 200, user: undefined, empty: {}, list: ['a', 'b'] },
      { type: 'odd', nested: { deeper: { deepest: { tooDeep: 1 } } } },
    ];
    for (const record of records) {
      logger.info(record, 'message "quoted"');
      reference.info(record, 'message "quoted"');
    }
    expect(ours()).toEqual(theirs());
  });

  it('still redacts a secret-named field inside a nested object', () => {
    const file = join(tempDir(), 'nested.jsonl');
    const logger = createLogger({ level: 'info', destination: file, sync: true });
    logger.info({ type: 'decision', reasons: [{ code: 'x' }], session: { access_token: 'nested-secret' } }, 'line');
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('nested-secret');
    expect(text).toContain('"code":"x"');
  });
});

describe('the log output buffer', () => {
  it('is bounded: when the output cannot keep up, lines are dropped and counted, never buffered without end', async () => {
    const { LogDestination } = await import('../../src/log.ts');
    const { openSync, statSync, rmSync } = await import('node:fs');
    const file = join(tempDir(), 'bounded.jsonl');
    const dest = new LogDestination(openSync(file, 'a'));
    const line = `{"level":"info","pad":"${'x'.repeat(10 * 1024)}"}\n`;
    // One synchronous burst: the first batch's write cannot finish before the loop ends, so
    // everything after it waits in the buffer. 48 MiB of lines against a 32 MiB bound.
    for (let i = 0; i < 4800; i++) dest.write(line);
    await new Promise<void>((resolve) => dest.flush(() => resolve()));
    await new Promise<void>((resolve) => dest.flush(() => resolve()));
    const text = readFileSync(file, 'utf8');
    const dropped = text.split('\n').filter((l) => l.includes('"log lines dropped'));
    expect(dropped).toHaveLength(1);
    const count = (JSON.parse(dropped[0]!) as { dropped: number }).dropped;
    expect(count).toBeGreaterThan(0);
    const written = text.split('\n').filter((l) => l.includes('"pad"')).length;
    expect(written + count).toBe(4800);
    expect(statSync(file).size).toBeLessThan(40 * 1024 * 1024);
    rmSync(file);
  });
});
