// docs/policy.md documents every reason code and every criterion key.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reasonCodes } from '../../src/policy/reasons.ts';
import { CRITERIA } from '../../src/policy/schema.ts';

const docs = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'policy.md'), 'utf8');

describe('docs/policy.md', () => {
  it.each(Object.keys(reasonCodes))('lists the reason code %s in the table', (code) => {
    expect(docs).toContain(`| \`${code}\` |`);
  });

  it.each([...CRITERIA, 'not', 'on_unknown', 'shadow_policy', 'networks'])('documents the key %s', (key) => {
    expect(docs).toContain(`\`${key}`);
  });
});
