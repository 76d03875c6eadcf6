import { describe, expect, it } from 'vitest';
import { newRequestId, randomIdPart } from '../../src/request/request-id.ts';

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('are UUID-shaped (version 4, RFC 9562 variant) and all different', () => {
    const ids = Array.from({ length: 70_000 }, () => newRequestId());
    for (const id of [ids[0]!, ids[255]!, ids[256]!, ids[65_535]!, ids[65_536]!, ids[69_999]!]) expect(id).toMatch(UUID_SHAPE);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('count up in the last eight hex digits behind one random part per process', () => {
    const a = newRequestId();
    const b = newRequestId();
    expect(b.slice(0, 28)).toBe(a.slice(0, 28));
    expect(parseInt(b.slice(28), 16)).toBe(parseInt(a.slice(28), 16) + 1);
  });

  it('set the version and variant bits whatever the random bytes are', () => {
    expect(randomIdPart(new Uint8Array(12).fill(0xff))).toBe('ffffffff-ffff-4fff-bfff-ffff');
    expect(randomIdPart(new Uint8Array(12))).toBe('00000000-0000-4000-8000-0000');
    const bytes = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(randomIdPart(bytes)).toBe('01020304-0506-4708-890a-0b0c');
    expect(bytes[6]).toBe(7); // the caller's bytes are left as they were
  });
});
