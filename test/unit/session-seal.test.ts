import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SEAL_OVERHEAD, seal, unseal } from '../../src/session/seal.ts';
import { generateTicket, type Ticket } from '../../src/session/ticket.ts';

const plaintext = Buffer.from('{"tokens":{"access_token":"at-secret"}}');
const bound = Buffer.from('times');

describe('session seal', () => {
  it('opens with the same ticket and bound bytes, and hides the plaintext', () => {
    const ticket = generateTicket();
    const sealed = seal(ticket, plaintext, bound);
    expect(sealed.length).toBe(plaintext.length + SEAL_OVERHEAD);
    expect(sealed.includes(Buffer.from('at-secret'))).toBe(false);
    expect(unseal(ticket, sealed, bound)?.equals(plaintext)).toBe(true);
  });

  it('uses a fresh nonce each time', () => {
    const ticket = generateTicket();
    expect(seal(ticket, plaintext).equals(seal(ticket, plaintext))).toBe(false);
  });

  it('fails on every single flipped bit of the sealed bytes', () => {
    const ticket = generateTicket();
    const sealed = seal(ticket, plaintext, bound);
    for (let i = 0; i < sealed.length * 8; i++) {
      const tampered = Buffer.from(sealed);
      tampered[i >> 3]! ^= 1 << (i & 7);
      expect(unseal(ticket, tampered, bound), `bit ${i}`).toBeUndefined();
    }
  });

  it('fails with the wrong secret', () => {
    const ticket = generateTicket();
    const other: Ticket = { id: ticket.id, secret: randomBytes(32) };
    expect(unseal(other, seal(ticket, plaintext, bound), bound)).toBeUndefined();
  });

  it('fails when the entry is presented under another id (copied or swapped in the store)', () => {
    const ticket = generateTicket();
    const swapped: Ticket = { id: generateTicket().id, secret: ticket.secret };
    expect(unseal(swapped, seal(ticket, plaintext, bound), bound)).toBeUndefined();
  });

  it('fails when the bound bytes (the record times) were changed', () => {
    const ticket = generateTicket();
    expect(unseal(ticket, seal(ticket, plaintext, bound), Buffer.from('timez'))).toBeUndefined();
  });

  it('fails on truncated, empty and oversized-garbage input without throwing', () => {
    const ticket = generateTicket();
    const sealed = seal(ticket, plaintext, bound);
    for (const bad of [sealed.subarray(0, sealed.length - 1), sealed.subarray(0, SEAL_OVERHEAD - 1), Buffer.alloc(0), randomBytes(1 << 16), Buffer.concat([sealed, Buffer.from([0])])]) {
      expect(unseal(ticket, bad, bound)).toBeUndefined();
    }
  });
});
