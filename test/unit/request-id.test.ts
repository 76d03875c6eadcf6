import { describe, expect, it } from 'vitest';
import { newRequestId, permuteCounter, randomIdPart } from '../../src/request/request-id.ts';

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const bitsSet = (n: number) => {
  let count = 0;
  for (let x = n >>> 0; x !== 0; x &= x - 1) count++;
  return count;
};

describe('request ids', () => {
  it('are UUID-shaped (version 4, RFC 9562 variant) and all different', () => {
    const ids = Array.from({ length: 70_000 }, () => newRequestId());
    for (const id of ids) expect(id).toMatch(UUID_SHAPE);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('share one random part per process and do not show how many requests came between', () => {
    const ids = Array.from({ length: 1000 }, () => newRequestId());
    expect(new Set(ids.map((id) => id.slice(0, 28))).size).toBe(1);
    const tails = ids.map((id) => parseInt(id.slice(28), 16));
    // A plain counter would differ by one from each id to the next, in a bit or two; a
    // permuted one differs in about half of its 32 bits.
    const steps = tails.slice(1).map((t, i) => t - tails[i]!);
    expect(steps.filter((d) => d === 1).length).toBeLessThan(5);
    const flipped = tails.slice(1).reduce((sum, t, i) => sum + bitsSet(t ^ tails[i]!), 0) / (tails.length - 1);
    expect(flipped).toBeGreaterThan(12);
    expect(flipped).toBeLessThan(20);
  });

  it('permute the counter one to one, whatever the keys', () => {
    for (const keys of [new Uint32Array(4), Uint32Array.of(0xffffffff, 1, 0x9e3779b9, 0x12345678)]) {
      const seen = new Set<number>();
      let outOfRange = 0;
      for (const c of [...Array.from({ length: 1 << 18 }, (_, i) => i), 0xffffffff, 0x80000000]) {
        const v = permuteCounter(c, keys);
        if (v >>> 0 !== v) outOfRange++;
        seen.add(v);
      }
      expect(outOfRange).toBe(0);
      expect(seen.size).toBe((1 << 18) + 2);
    }
    // other keys, another order
    expect(permuteCounter(7, Uint32Array.of(1, 2, 3, 4))).not.toBe(permuteCounter(7, Uint32Array.of(5, 6, 7, 8)));
  });

  it('set the version and variant bits whatever the random bytes are', () => {
    expect(randomIdPart(new Uint8Array(12).fill(0xff))).toBe('ffffffff-ffff-4fff-bfff-ffff');
    expect(randomIdPart(new Uint8Array(12))).toBe('00000000-0000-4000-8000-0000');
    const bytes = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(randomIdPart(bytes)).toBe('01020304-0506-4708-890a-0b0c');
    expect(bytes[6]).toBe(7); // the caller's bytes are left as they were
  });
});
