// The example configurations in config/ must stay valid as the schema changes.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigText } from '../../src/config/load.ts';

const dir = join(import.meta.dirname, '..', '..', 'config');
const env = { OIDC_CLIENT_SECRET: 'x', PORTCULLIS_COOKIE_SECRET: 'y'.repeat(32), DEMO_IDP_ISSUER: 'http://127.0.0.1:8092', DEMO_CLIENT_SECRET: 'z', DEMO_COOKIE_SECRET: 'w'.repeat(32) };

describe('the example configurations', () => {
  // Portcullis configurations, not the policy test files that sit beside them.
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && /^routes:/m.test(readFileSync(join(dir, f), 'utf8')));
  it('exist', () => expect(files.length).toBeGreaterThanOrEqual(2));
  it.each(files)('%s passes the schema', (file) => {
    expect(() => loadConfigText(readFileSync(join(dir, file), 'utf8'), file, env)).not.toThrow();
  });
});
