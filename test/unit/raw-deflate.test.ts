import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { RawDeflate } from '../../src/session/raw-deflate.ts';

const dictionary = Buffer.from('{"sub":"","email":"","groups":["","idToken":"eyJhbGciOiJSUzI1NiJ9');
const zlibOptions = { level: 9, dictionary };

/** Text that compresses (JSON with repeats) followed by bytes that do not. */
const mixed = (n: number): Buffer => Buffer.concat([Buffer.from(JSON.stringify({ sub: 'ann', groups: Array.from({ length: n }, (_, i) => `group-${i}`) })), randomBytes(n)]);

describe('raw DEFLATE with a preset dictionary, reused state', () => {
  it('writes byte for byte what node:zlib writes, and reads what node:zlib writes, call after call', () => {
    const codec = new RawDeflate(dictionary, 9);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.nat(3000).map(mixed), fc.string().map((s) => Buffer.from(s))), (input) => {
        expect(Buffer.from(codec.compress(input))).toEqual(deflateRawSync(input, zlibOptions));
        expect(Buffer.from(codec.decompress(deflateRawSync(input, zlibOptions), 1 << 20))).toEqual(Buffer.from(input));
      }),
    );
  });

  it('grows its output space for inputs larger than it started with, both ways', () => {
    const codec = new RawDeflate(dictionary, 9);
    for (const input of [mixed(40_000), randomBytes(100_000), Buffer.alloc(300_000, 'a')]) {
      const compressed = Buffer.from(codec.compress(input));
      expect(compressed).toEqual(deflateRawSync(input, zlibOptions));
      expect(inflateRawSync(compressed, { dictionary })).toEqual(input);
      expect(Buffer.from(codec.decompress(compressed, 1 << 20))).toEqual(input);
    }
  });

  it('refuses output past the limit, and takes exactly the limit', () => {
    const codec = new RawDeflate(dictionary, 9);
    const input = Buffer.alloc(70_000, 'x');
    const compressed = deflateRawSync(input, zlibOptions);
    expect(codec.decompress(compressed, 70_000).length).toBe(70_000);
    expect(() => codec.decompress(compressed, 69_999)).toThrow(/more than 69999 bytes/);
    expect(() => codec.decompress(deflateRawSync(Buffer.alloc(3 << 20), zlibOptions), 1 << 20)).toThrow(/more than/);
  });

  it('refuses broken streams, and works again on the next call', () => {
    const codec = new RawDeflate(dictionary, 9);
    const input = mixed(500);
    const good = deflateRawSync(input, zlibOptions);
    const bad = [
      good.subarray(0, good.length - 1), // truncated
      good.subarray(0, 10),
      Buffer.alloc(0),
      Buffer.concat([good, Buffer.from([0])]), // bytes after the end
      Buffer.from([0xff, 0xff, 0xff, 0xff]), // not DEFLATE
    ];
    for (const bytes of bad) {
      expect(() => codec.decompress(bytes, 1 << 20)).toThrow();
      expect(Buffer.from(codec.decompress(good, 1 << 20))).toEqual(input);
    }
    expect(() => codec.decompress(Buffer.concat([good, Buffer.from([0])]), 1 << 20)).toThrow(/after the end/);
  });

  it('hands out results in shared space: the next call overwrites them', () => {
    const codec = new RawDeflate(dictionary, 9);
    const first = codec.decompress(deflateRawSync(Buffer.from('first'), zlibOptions), 100);
    const copy = Buffer.from(first);
    codec.decompress(deflateRawSync(Buffer.from('other'), zlibOptions), 100);
    expect(Buffer.from(first)).not.toEqual(copy);
  });
});
