import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { TICKET_LENGTH, formatTicket, generateTicket, isTicketId, parseTicket } from '../../src/session/ticket.ts';

describe('session ticket', () => {
  it('is "<22-char id>.<43-char secret>", base64url, 128-bit id and 256-bit secret, new every time', () => {
    const a = generateTicket();
    const b = generateTicket();
    const text = formatTicket(a);
    expect(text).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(text).toHaveLength(TICKET_LENGTH);
    expect(Buffer.from(a.id, 'base64url')).toHaveLength(16);
    expect(a.secret).toHaveLength(32);
    expect(a.id).not.toBe(b.id);
    expect(a.secret.equals(b.secret)).toBe(false);
  });

  it('parses back to the same id and secret', () => {
    const ticket = generateTicket();
    const parsed = parseTicket(formatTicket(ticket));
    expect(parsed?.id).toBe(ticket.id);
    expect(parsed?.secret.equals(ticket.secret)).toBe(true);
    expect(isTicketId(ticket.id)).toBe(true);
  });

  it('refuses truncated, oversized, padded and foreign-alphabet tickets', () => {
    const text = formatTicket(generateTicket());
    const bad = [
      undefined,
      '',
      text.slice(0, -1),
      text.slice(1),
      `${text}A`,
      `${text}=`,
      `${text}.${text}`,
      text.replace('.', '_'),
      text.replace('.', ''),
      `${text.slice(0, 21)}+${text.slice(22)}`,
      `${text.slice(0, 30)}/${text.slice(31)}`,
      `${text.slice(0, 30)} ${text.slice(31)}`,
      'x'.repeat(100_000),
      `${text.slice(0, 22)}.${text.slice(0, 43)}`.replace(/.$/, '\u00e9'),
    ];
    for (const value of bad) expect(parseTicket(value), JSON.stringify(value?.slice(0, 80))).toBeUndefined();
  });

  it('accepts only the canonical spelling of the id and secret', () => {
    const ticket = generateTicket();
    const text = formatTicket(ticket);
    // The last character of 22 (id) or 43 (secret) base64url chars carries unused low bits; flipping one gives the same bytes.
    const flip = (c: string): string => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      return alphabet[alphabet.indexOf(c) ^ 1]!;
    };
    const idVariant = `${text.slice(0, 21)}${flip(text[21]!)}${text.slice(22)}`;
    const secretVariant = `${text.slice(0, -1)}${flip(text.at(-1)!)}`;
    expect(Buffer.from(idVariant.slice(0, 22), 'base64url').equals(Buffer.from(ticket.id, 'base64url'))).toBe(true);
    expect(parseTicket(idVariant)).toBeUndefined();
    expect(parseTicket(secretVariant)).toBeUndefined();
  });

  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (value) => parseTicket(value) === undefined || value.length === TICKET_LENGTH));
  });
});
