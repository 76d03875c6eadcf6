// A revocation listener is Portcullis's own (it clears the session cache, re-checks open
// WebSockets); one that throws must not undo the revocation or silence the others, and
// an admin must hear of it, since a revoked session may stay usable here for a moment.
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../src/session/memory-store.ts';
import { SessionManager } from '../../src/session/sessions.ts';
import { tellRevoked, type StoreLogger } from '../../src/session/store.ts';

function recordingLogger() {
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  const logger: StoreLogger = { warn: (obj, msg) => void warnings.push({ obj: obj as Record<string, unknown>, msg }), info: () => {} };
  return { logger, warnings };
}

describe('revocation listeners', () => {
  it('logs a listener that throws, and still tells the ones after it', () => {
    const { logger, warnings } = recordingLogger();
    let told = 0;
    tellRevoked(
      [
        () => {
          throw new Error('cache gone');
        },
        () => told++,
      ],
      logger,
    );
    expect(told).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.obj).toMatchObject({ type: 'session', event: 'revocation_listener_failed' });
    expect((warnings[0]!.obj.err as Error).message).toBe('cache gone');
    expect(warnings[0]!.msg).toMatch(/session\.cache_ttl/);
  });

  it('the memory store logs a failed listener when a session is revoked, and the revocation stands', async () => {
    const { logger, warnings } = recordingLogger();
    const store = new MemorySessionStore({ logger });
    const manager = new SessionManager({ store, lifetimes: { idleMs: 60_000, absoluteMs: 600_000 } });
    store.onRevoked(() => {
      throw new Error('listener broke');
    });
    const { ticket } = await manager.create({ sub: 'ann' });
    expect(await manager.revoke(ticket)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 0)); // the memory store tells its listeners in a microtask
    expect(warnings.map((w) => (w.obj.err as Error).message)).toEqual(['listener broke']);
    expect(await manager.load(ticket)).toBeUndefined();
  });
});
