// The session ticket is the only thing the browser holds: "<id>.<secret>".
// The id names the store entry; the secret never reaches the store and is the
// only way to decrypt it (see seal.ts). Design from oauth2-proxy's
// pkg/sessions/persistence/ticket.go, with a strict, fixed-length format.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const TICKET_ID_BYTES = 16; // 128 bits: unguessable store key
export const TICKET_SECRET_BYTES = 32; // 256 bits: HKDF input for the AES-256-GCM key

const ID_CHARS = Math.ceil((TICKET_ID_BYTES * 8) / 6); // 22
const SECRET_CHARS = Math.ceil((TICKET_SECRET_BYTES * 8) / 6); // 43
export const TICKET_LENGTH = ID_CHARS + 1 + SECRET_CHARS; // 66

const TICKET_SHAPE = new RegExp(`^[A-Za-z0-9_-]{${ID_CHARS}}\\.[A-Za-z0-9_-]{${SECRET_CHARS}}$`);
const ID_SHAPE = new RegExp(`^[A-Za-z0-9_-]{${ID_CHARS}}$`);

export interface Ticket {
  /** base64url, the store key */
  readonly id: string;
  /** 32 raw bytes; never store, log or send anywhere but the cookie */
  readonly secret: Buffer;
}

export function generateTicket(): Ticket {
  return { id: randomBytes(TICKET_ID_BYTES).toString('base64url'), secret: randomBytes(TICKET_SECRET_BYTES) };
}

export function formatTicket(ticket: Ticket): string {
  return `${ticket.id}.${ticket.secret.toString('base64url')}`;
}

/** A well-formed session id (as found in a ticket or an admin listing). */
export function isTicketId(id: string): boolean {
  return id.length === ID_CHARS && ID_SHAPE.test(id) && isCanonical(id, TICKET_ID_BYTES);
}

/**
 * Cookie value -> ticket, or undefined for anything that is not exactly one
 * well-formed ticket. The length is checked before any pattern runs, so an
 * oversized cookie costs nothing.
 */
export function parseTicket(value: string | undefined): Ticket | undefined {
  if (typeof value !== 'string' || value.length !== TICKET_LENGTH || !TICKET_SHAPE.test(value)) return undefined;
  const id = value.slice(0, ID_CHARS);
  const secretText = value.slice(ID_CHARS + 1);
  if (!isCanonical(id, TICKET_ID_BYTES)) return undefined;
  const secret = Buffer.from(secretText, 'base64url');
  // Base64url has several spellings of the same bytes (unused low bits in the
  // last character). Accept only the canonical one so a ticket has exactly one
  // string form; the comparison involves the secret, so it is constant-time.
  const canonical = Buffer.from(secret.toString('base64url'), 'latin1');
  const given = Buffer.from(secretText, 'latin1');
  if (secret.length !== TICKET_SECRET_BYTES || canonical.length !== given.length || !timingSafeEqual(canonical, given)) return undefined;
  return { id, secret };
}

function isCanonical(text: string, bytes: number): boolean {
  const decoded = Buffer.from(text, 'base64url');
  return decoded.length === bytes && decoded.toString('base64url') === text;
}
