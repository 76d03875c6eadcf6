// Request ids: unique across requests, processes and restarts, but not secret (they travel
// in headers, logs and the denied page). A random UUID per request cost about 1% of a
// forwarded request, most of it building the string; here each process draws a random
// part once and counts.
import { randomBytes } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** ids per random part: the counter is the id's last 8 hex digits */
const SPAN = 2 ** 32;

let randomPart = '';
let counter = SPAN;

/**
 * An id shaped like a UUID (8-4-4-4-12 hex digits, version 4 and variant bits set): 90 random
 * bits drawn per process (and again every 2^32 ids), then a counter.
 */
export function newRequestId(): string {
  if (counter >= SPAN) {
    randomPart = randomIdPart(randomBytes(12));
    counter = 0;
  }
  const c = counter++;
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
