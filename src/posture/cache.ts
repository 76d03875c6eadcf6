// A bounded memory of recent successful verifications, because verifying the same
// posture token on every request of a page load costs a signature check each time.
// The key is the whole token and the user it was checked for; an entry is only a
// shortcut past the signature: its freshness is checked again on every hit.
import type { DeviceFacts } from './facts.ts';
import type { TokenTimes } from './freshness.ts';

export interface CachedVerification {
  readonly facts: Extract<DeviceFacts, { ok: true }>;
  readonly times: TokenTimes;
}

type User = { sub: string; email?: string } | undefined;

/** The user a verification was for: a hit must be for the same one. */
function sameUser(entry: { sub: string; email: string }, user: User): boolean {
  return entry.sub === (user?.sub ?? '') && entry.email === (user?.email?.toLowerCase() ?? '');
}

export class VerificationCache {
  // Keyed by the token alone, the header string as received (hashed once); the user it was
  // checked for is compared on a hit rather than joined into a longer key built per request.
  readonly #entries = new Map<string, CachedVerification & { sub: string; email: string }>();
  readonly #max: number;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get(token: string, user: User): CachedVerification | undefined {
    const entry = this.#entries.get(token);
    return entry && sameUser(entry, user) ? entry : undefined;
  }

  set(token: string, user: User, value: CachedVerification): void {
    this.#entries.delete(token);
    // Oldest first: Map iterates in insertion order.
    while (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(token, { ...value, sub: user?.sub ?? '', email: user?.email?.toLowerCase() ?? '' });
  }

  delete(token: string): void {
    this.#entries.delete(token);
  }

  get size(): number {
    return this.#entries.size;
  }
}
