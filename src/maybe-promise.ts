// The hot path stays synchronous when everything it needs is already in this process (a
// cached session, a cached posture verification, a cached assertion): each async step costs
// a promise and a trip through the microtask queue, and a protected request took about ten.

/** A value now, or a promise of it when it needs I/O. */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}
