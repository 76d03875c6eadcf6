// Short-lived values Portcullis hands to the browser and must get back unchanged:
// the login state and the per-host sign-in hand-off. Sealed with AES-256-GCM under
// a key derived from the cookie secret, with a purpose label as associated data
// so one kind can never be replayed as another.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

export type Purpose = 'login' | 'handoff' | 'csrf';

export class Sealer {
  readonly #key: Buffer;
  readonly #macKey: Buffer;

  constructor(secret: string | Buffer) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'portcullis', 'seal v1', 32));
    this.#macKey = Buffer.from(hkdfSync('sha256', secret, 'portcullis', 'mac v1', 32));
  }

  /** base64url(iv | ciphertext | tag) of {v, exp} */
  seal(purpose: Purpose, value: unknown, ttlMs: number, now = Date.now()): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(purpose));
    const plain = Buffer.from(JSON.stringify({ v: value, exp: now + ttlMs }));
    return Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]).toString('base64url');
  }

  /** The value, or undefined when forged, altered, of another purpose, malformed or expired. */
  unseal<T>(purpose: Purpose, token: string | undefined, now = Date.now()): T | undefined {
    if (!token || token.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
    const buf = Buffer.from(token, 'base64url');
    if (buf.length < 12 + 16 + 2) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, buf.subarray(0, 12));
      decipher.setAAD(Buffer.from(purpose));
      decipher.setAuthTag(buf.subarray(buf.length - 16));
      const plain = Buffer.concat([decipher.update(buf.subarray(12, buf.length - 16)), decipher.final()]);
      const { v, exp } = JSON.parse(plain.toString('utf8')) as { v: T; exp: number };
      return typeof exp === 'number' && exp > now ? v : undefined;
    } catch {
      return undefined;
    }
  }

  /** A token tied to one value (such as a session id), for CSRF protection of forms. */
  mac(purpose: Purpose, value: string): string {
    return createHmac('sha256', this.#macKey).update(purpose).update('\0').update(value).digest('base64url');
  }

  verifyMac(purpose: Purpose, value: string, mac: string | undefined): boolean {
    if (!mac) return false;
    const expected = Buffer.from(this.mac(purpose, value));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
