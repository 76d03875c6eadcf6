// README documents every configuration key, and every error code is described.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaKeyPaths } from '../helpers/schema-paths.ts';
import { errorCatalogue } from '../../src/errors.ts';

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

describe('the documentation', () => {
  it.each(schemaKeyPaths())('README documents the configuration key %s', (path) => {
    expect(readme).toContain('`' + path + '`');
  });

  it.each(Object.entries(errorCatalogue))('error %s has a status, a title and a hint that says what to do', (_code, entry) => {
    expect(entry.status).toBeGreaterThanOrEqual(400);
    expect(entry.title.length).toBeGreaterThan(3);
    expect(entry.hint.length).toBeGreaterThan(20);
  });
});
