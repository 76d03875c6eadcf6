// Request ids: unique across requests, processes and restarts, but not secret (they travel
// in headers, logs and the denied page). A random UUID per request cost about 1% of a
// forwarded request, most of it building the string; here each process draws a random
// part once and counts. The count goes through a keyed permutation first, so that two ids a
// client sees do not tell it how many requests the process served in between.
import { randomBytes } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** ids per random part: the permuted counter is the id's last 8 hex digits */
const SPAN = 2 ** 32;
const ROUNDS = 4;

let randomPart = '';
let roundKeys = new Uint32Array(ROUNDS);
let counter = SPAN;

/**
 * An id shaped like a UUID (8-4-4-4-12 hex digits, version 4 and variant bits set): 90 random
 * bits drawn per process (and again every 2^32 ids), then the permuted counter.
 */
export function newRequestId(): string {
  if (counter >= SPAN) {
    const bytes = randomBytes(12 + ROUNDS * 4);
    randomPart = randomIdPart(bytes.subarray(0, 12));
    roundKeys = new Uint32Array(bytes.buffer.slice(bytes.byteOffset + 12, bytes.byteOffset + 12 + ROUNDS * 4));
    counter = 0;
  }
  const c = permuteCounter(counter++, roundKeys);
  // The counter's digits joined first: a short flat string, then one join with the random part.
  return randomPart + (HEX[c >>> 24]! + HEX[(c >>> 16) & 255]! + HEX[(c >>> 8) & 255]! + HEX[c & 255]!);
}

/** The first 28 characters of the id ("xxxxxxxx-xxxx-4xxx-yxxx-xxxx") from 12 random bytes. */
export function randomIdPart(bytes: Uint8Array): string {
  const b = Uint8Array.from(bytes);
  b[6] = (b[6]! & 0x0f) | 0x40; // version 4
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const h = Array.from(b, (x) => HEX[x]!);
  return `${h[0]}${h[1]}${h[2]}${h[3]}-${h[4]}${h[5]}-${h[6]}${h[7]}-${h[8]}${h[9]}-${h[10]}${h[11]}`;
}

/**
 * A permutation of the 32-bit numbers chosen by the keys: a Feistel network on 16-bit halves,
 * each round mixing one half into the other with a keyed multiply. Any round function makes a
 * Feistel network a permutation, so distinct counters give distinct ids. It hides the count
 * from whoever reads ids; it is not a cipher to rely on for secrets.
 */
export function permuteCounter(value: number, keys: Uint32Array): number {
  let left = value >>> 16;
  let right = value & 0xffff;
  for (let i = 0; i < keys.length; i++) {
    const mixed = (Math.imul(right ^ keys[i]!, 0x9e3779b1) >>> 16) ^ (keys[i]! >>> 16);
    const next = left ^ (mixed & 0xffff);
    left = right;
    right = next;
  }
  return ((left << 16) | right) >>> 0;
}
