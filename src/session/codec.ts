// Session data <-> compact bytes, before sealing. A realistic session is
// mostly tokens: JWTs whose header and payload are base64url-encoded JSON that
// repeats the session's own claims, and whose signature (256 bytes for RS256)
// is random. Compressing the base64url text as it is wastes a quarter of every
// byte and hides the JSON from the compressor; mixing random bytes into the
// compressed stream also spoils the compressor's statistics for the text
// around them. So every token-shaped string (two to five dot-separated
// base64url segments, 64 characters or more) is taken apart:
//
//   - a segment that is canonical base64url of JSON ("eyJ...") is decoded and
//     compressed with the rest of the text, next to the claims it repeats;
//   - any other segment (a signature, an encrypted part, an opaque id) is kept
//     as packed 6-bit characters outside the compressed stream: 3 bytes per 4
//     characters, whatever their trailing bits, so even a non-canonical
//     segment comes back character for character.
//
// The text is compressed with raw DEFLATE and a fixed preset dictionary of the
// names every session repeats (SessionData fields, OIDC claim names, JOSE
// header names), which are most of what is left once the tokens are taken
// apart: the dictionary makes them nearly free (DEFLATE, because node:zlib
// documents preset dictionaries for it and not for brotli). pako's port of zlib
// does the work, writing the same bytes as node:zlib (see raw-deflate.ts).
//
// Plaintext (codec 2):
//   codec (1) = 2 | varint rawLength | raw (packed segments, in order) | deflateRaw(text)
//   text = varint tokenCount | per token: varint segmentCount, per segment
//          varint (length << 1 | packed) | the JSON segments' bytes, in order | JSON
// For a JSON segment the length is its decoded byte length; for a packed one
// the number of characters. In the JSON a token becomes "\0<index>"; a string
// that really starts with "\0" is written with one more "\0" in front.
//
// Another codec byte (such as 1, the brotli format before this one) is refused:
// decodeSessionData returns undefined, so the session is treated as absent and
// its user signs in again; it is never misread. The dictionary is part of the
// format: changing a single byte of it needs a new codec number.
import { RawDeflate } from './raw-deflate.ts';

const CODEC = 2;
/** a decoded session larger than this is refused (defense in depth: the bytes are authenticated anyway) */
const MAX_PLAINTEXT = 1 << 20;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){1,4}$/;
/** shorter token-shaped strings ("1.2.3", "a.b") stay text: taking them apart would not pay */
const MIN_TOKEN_CHARS = 64;
const ESCAPE = '\u0000';

/** Frozen with codec 2 (see above). Most-repeated names last: DEFLATE codes near matches more cheaply. */
const DICTIONARY = Buffer.from(
  [
    // JOSE headers and OIDC / OAuth claims (OpenID Connect Core §2 and §5.1, RFC 9068, RFC 8176)
    '{"alg":"RS256","typ":"JWT","kid":"',
    '{"alg":"ES256","typ":"at+jwt","kid":"',
    '{"ver":1,"jti":"',
    '{"iss":"https://',
    '","sub":"',
    '","aud":"',
    '","exp":',
    ',"iat":',
    ',"nbf":',
    ',"auth_time":',
    ',"nonce":"',
    '","sid":"',
    '","at_hash":"',
    '","c_hash":"',
    '","acr":"',
    '","amr":["pwd","mfa","otp","hwk"]',
    ',"azp":"',
    '","client_id":"',
    '","cid":"',
    '","uid":"',
    '","scp":["openid","profile","email","offline_access"]',
    ',"scope":"openid profile email offline_access',
    '","roles":["',
    '","email":"',
    '","email_verified":true',
    ',"name":"',
    '","given_name":"',
    '","family_name":"',
    '","preferred_username":"',
    '","locale":"',
    '","zoneinfo":"',
    '","picture":"https://',
    '","groups":["',
    // SessionData (src/auth/session-data.ts), in the order sign-in writes it
    '{"v":1,"sub":"',
    '","email":"',
    '","emailVerified":true,"name":"',
    '","groups":["',
    '"],"claims":{',
    '},"acr":"',
    '","amr":["',
    '"],"authTime":',
    ',"sid":"',
    '","idToken":"\u00000","accessToken":"\u00001","refreshToken":"',
    '","tokenExpiresAt":',
    ',"createdAt":',
    ',"refreshedAt":',
    ',"stepUpAt":',
    ',"deviceId":"',
  ].join(''),
);

/** Level 9: the text is a few hundred bytes to a few KiB, where it costs tens of microseconds. */
const deflate = new RawDeflate(DICTIONARY, 9);

function writeVarint(value: number, out: number[]): void {
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/** Reads varints from bytes; any overrun or oversized value throws, and the caller refuses the input. */
class Reader {
  readonly bytes: Uint8Array;
  offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.offset = offset;
  }

  varint(): number {
    let value = 0;
    for (let shift = 1; shift <= 0x80 ** 4; shift *= 0x80) {
      const byte = this.bytes[this.offset++];
      if (byte === undefined) throw new RangeError('truncated');
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
    throw new RangeError('varint too long');
  }

  take(length: number): Uint8Array {
    if (this.offset + length > this.bytes.length) throw new RangeError('truncated');
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }
}

/** Characters of a packed segment -> bytes it takes (3 per 4 characters, the last group padded). */
const packedBytes = (chars: number): number => Math.ceil(chars / 4) * 3;

/** The decoded JSON of a canonical "eyJ..." segment, or undefined. */
function jsonSegment(segment: string): Buffer | undefined {
  if (!segment.startsWith('eyJ')) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

/**
 * Any base64url characters, 6 bits each: padded with "A" (zero bits) to whole groups of four,
 * which decode to three bytes each and encode back to the very same four characters.
 */
function packSegment(segment: string): Buffer | undefined {
  const bytes = Buffer.from(segment.padEnd(Math.ceil(segment.length / 4) * 4, 'A'), 'base64url');
  return bytes.length === packedBytes(segment.length) && unpackSegment(bytes, segment.length) === segment ? bytes : undefined;
}

function unpackSegment(bytes: Uint8Array, chars: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url').slice(0, chars);
}

interface Parts {
  table: number[];
  json: Buffer[];
  packed: Buffer[];
}

/** Take a token-shaped string apart into `into`; false (and nothing added) to keep it as text. */
function takeApart(text: string, into: Parts): boolean {
  if (text.length < MIN_TOKEN_CHARS || !TOKEN_SHAPE.test(text)) return false;
  const segments = text.split('.');
  const table: number[] = [];
  const json: Buffer[] = [];
  const packed: Buffer[] = [];
  writeVarint(segments.length, table);
  for (const segment of segments) {
    const decoded = jsonSegment(segment);
    if (decoded) {
      writeVarint(decoded.length * 2, table);
      json.push(decoded);
      continue;
    }
    const bytes = packSegment(segment);
    if (!bytes) return false;
    writeVarint(segment.length * 2 + 1, table);
    packed.push(bytes);
  }
  into.table.push(...table);
  into.json.push(...json);
  into.packed.push(...packed);
  return true;
}

export function encodeSessionData(data: unknown): Buffer {
  const parts: Parts = { table: [], json: [], packed: [] };
  let tokens = 0;
  const json = JSON.stringify(data, (_key, value: unknown) => {
    if (typeof value !== 'string') return value;
    if (value.startsWith(ESCAPE)) return ESCAPE + value;
    return takeApart(value, parts) ? `${ESCAPE}${tokens++}` : value;
  });
  const head: number[] = [];
  writeVarint(tokens, head);
  const text = Buffer.concat([Buffer.from(head), Buffer.from(parts.table), ...parts.json, Buffer.from(json, 'utf8')]);
  const raw = Buffer.concat(parts.packed);
  const prefix: number[] = [CODEC];
  writeVarint(raw.length, prefix);
  // concat copies the compressed bytes out of the compressor's shared space
  return Buffer.concat([Buffer.from(prefix), raw, deflate.compress(text)]);
}

/** Bytes -> data; undefined if the bytes are not something encodeSessionData (codec 2) wrote. */
export function decodeSessionData(bytes: Uint8Array): unknown {
  if (bytes[0] !== CODEC) return undefined;
  try {
    const outer = new Reader(bytes, 1);
    const raw = new Reader(outer.take(outer.varint()));
    // A view into the decompressor's shared space: everything below is read out of it before returning.
    const inflated = deflate.decompress(bytes.subarray(outer.offset), MAX_PLAINTEXT);
    const text = Buffer.from(inflated.buffer, inflated.byteOffset, inflated.byteLength);
    const inner = new Reader(text);
    const count = inner.varint();
    const layout: { packed: boolean; length: number }[][] = [];
    for (let t = 0; t < count; t++) {
      const segments = inner.varint();
      if (segments < 2 || segments > 5) throw new RangeError('bad token');
      const token: { packed: boolean; length: number }[] = [];
      for (let s = 0; s < segments; s++) {
        const word = inner.varint();
        token.push({ packed: word % 2 === 1, length: Math.floor(word / 2) });
      }
      layout.push(token);
    }
    const tokens = layout.map((token) =>
      token
        .map(({ packed, length }) => {
          if (packed) return unpackSegment(raw.take(packedBytes(length)), length);
          const segment = inner.take(length);
          return Buffer.from(segment.buffer, segment.byteOffset, segment.byteLength).toString('base64url');
        })
        .join('.'),
    );
    if (raw.offset !== raw.bytes.length) throw new RangeError('unused packed bytes');
    return JSON.parse(text.subarray(inner.offset).toString('utf8'), (_key, value: unknown) => {
      if (typeof value !== 'string' || !value.startsWith(ESCAPE)) return value;
      if (value.startsWith(ESCAPE + ESCAPE)) return value.slice(1);
      const token = tokens[Number(value.slice(1))];
      if (token === undefined) throw new Error('dangling token reference');
      return token;
    });
  } catch {
    return undefined;
  }
}
