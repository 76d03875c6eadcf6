// Sealing a session record: AES-256-GCM under a key derived with HKDF-SHA256
// from the ticket's secret. The secret lives only in the browser's cookie, so
// a copy of the store (a Redis dump, a replica, a backup) reveals no tokens,
// and an entry cannot be opened without the cookie that points to it.
//
// The ticket id and the caller's "bound" bytes (the record's timestamps) are
// authenticated as associated data: an entry copied under another id, or one
// whose lifetime was edited in the store, fails to open.
//
// Sealed format (raw bytes): version (1) | nonce (12) | ciphertext | tag (16).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Ticket } from './ticket.ts';

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HKDF_INFO = Buffer.from('portcullis session seal v1');
/** version + nonce + tag: what sealing adds to the plaintext */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

function deriveKey(secret: Uint8Array): Buffer {
  // No salt: the secret is 256 uniformly random bits, so HKDF-Extract needs none (RFC 5869 §3.1).
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), HKDF_INFO, 32));
}

function associatedData(id: string, bound: Uint8Array): Buffer {
  const idBytes = Buffer.from(id, 'latin1');
  return Buffer.concat([Buffer.from([VERSION, idBytes.length]), idBytes, bound]);
}

/**
 * Encrypt a session record for the ticket. A fresh random nonce per call: a
 * key only ever seals one session's few updates, far below GCM's limits.
 */
export function seal(ticket: Ticket, plaintext: Uint8Array, bound: Uint8Array = Buffer.alloc(0)): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(ticket.secret), nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(ticket.id, bound));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), nonce, body, cipher.getAuthTag()]);
}

/**
 * Decrypt and authenticate; undefined when anything is wrong (other secret,
 * other id, other bound bytes, edited or truncated bytes, unknown version).
 * The tag comparison is OpenSSL's, which is constant-time.
 */
export function unseal(ticket: Ticket, sealed: Uint8Array, bound: Uint8Array = Buffer.alloc(0)): Buffer | undefined {
  if (sealed.length < SEAL_OVERHEAD || sealed[0] !== VERSION) return undefined;
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const nonce = bytes.subarray(1, 1 + NONCE_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const body = bytes.subarray(1 + NONCE_BYTES, bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(ticket.secret), nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(ticket.id, bound));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return undefined;
  }
}
