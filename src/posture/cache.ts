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

export class VerificationCache {
  readonly #entries = new Map<string, CachedVerification>();
  readonly #max: number;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  static key(token: string, user: { sub: string; email?: string } | undefined): string {
    // NUL cannot occur in a header value, so the parts cannot run into each other.
    return `${token}\0${user?.sub ?? ''}\0${user?.email?.toLowerCase() ?? ''}`;
  }

  get(key: string): CachedVerification | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: CachedVerification): void {
    this.#entries.delete(key);
    // Oldest first: Map iterates in insertion order.
    while (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, value);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
