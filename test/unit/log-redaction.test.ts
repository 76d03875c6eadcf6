// Secrets never reach a log line: tokens, cookies and Authorization are redacted
// wherever they appear one level down, and the caller's objects are not changed.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../src/log.ts';
import { tempDir } from '../helpers/servers.ts';

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
