// Session data <-> compact bytes, before sealing. A realistic session is
// mostly JWTs (ID and access token). Base64url hides their JSON from the
// compressor and inflates the signatures by a third, so every JWT-shaped
// string is stored as its decoded parts and rebuilt exactly on the way back
// (only when re-encoding gives the very same string). The token claims then
// compress together with the session's own copy of the claims.
//
// Plaintext: codec (1) = 1 | brotli( n (1) | n × [len (2) | bytes] × 3 | JSON ).
// In the JSON a JWT becomes "\0<index>"; a string that really starts with
// "\0" is written with one more "\0" in front.
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';

const CODEC = 1;
const MAX_JWTS = 255;
const MAX_PART = 0xffff;
/** a decoded session larger than this is refused (defense in depth: the bytes are authenticated anyway) */
const MAX_PLAINTEXT = 1 << 20;
const JWS_COMPACT = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const ESCAPE = '\u0000';

function splitJwt(text: string): Buffer[] | undefined {
  if (text.length > 3 * MAX_PART || !JWS_COMPACT.test(text)) return undefined;
  const parts = text.split('.').map((part) => Buffer.from(part, 'base64url'));
  const exact = parts.every((bytes, i) => bytes.length <= MAX_PART && bytes.toString('base64url') === text.split('.')[i]);
  return exact ? parts : undefined;
}

export function encodeSessionData(data: unknown): Buffer {
  const jwts: Buffer[][] = [];
  const json = JSON.stringify(data, (_key, value: unknown) => {
    if (typeof value !== 'string') return value;
    if (value.startsWith(ESCAPE)) return ESCAPE + value;
    const parts = jwts.length < MAX_JWTS ? splitJwt(value) : undefined;
    if (!parts) return value;
    jwts.push(parts);
    return `${ESCAPE}${jwts.length - 1}`;
  });
  const chunks: Buffer[] = [Buffer.from([jwts.length])];
  for (const parts of jwts) {
    for (const part of parts) {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(part.length);
      chunks.push(length, part);
    }
  }
  chunks.push(Buffer.from(json, 'utf8'));
  const frame = Buffer.concat(chunks);
  // Quality 5: within a few percent of the best ratio at a fraction of a millisecond.
  const packed = brotliCompressSync(frame, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: frame.length } });
  return Buffer.concat([Buffer.from([CODEC]), packed]);
}

/** Bytes -> data; undefined if the bytes are not something encodeSessionData wrote. */
export function decodeSessionData(bytes: Uint8Array): unknown {
  if (bytes[0] !== CODEC) return undefined;
  try {
    const frame = brotliDecompressSync(bytes.subarray(1), { maxOutputLength: MAX_PLAINTEXT });
    let offset = 1;
    const jwts: string[] = [];
    for (let i = 0; i < frame[0]!; i++) {
      const parts: string[] = [];
      for (let p = 0; p < 3; p++) {
        const length = frame.readUInt16BE(offset);
        parts.push(frame.subarray(offset + 2, offset + 2 + length).toString('base64url'));
        offset += 2 + length;
      }
      jwts.push(parts.join('.'));
    }
    return JSON.parse(frame.subarray(offset).toString('utf8'), (_key, value: unknown) => {
      if (typeof value !== 'string' || !value.startsWith(ESCAPE)) return value;
      if (value.startsWith(ESCAPE + ESCAPE)) return value.slice(1);
      const jwt = jwts[Number(value.slice(1))];
      if (jwt === undefined) throw new Error('dangling token reference');
      return jwt;
    });
  } catch {
    return undefined;
  }
}
