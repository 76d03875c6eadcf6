// Storage for the demo provider's sessions, grants and tokens: in memory, one
// store per provider, entries expire on their own.
//
// oidc-provider's built-in memory adapter is one LRU of 1,000 entries shared by
// every provider in the process: a load test or a long test run silently evicts
// live sessions and refresh tokens, and it warns on every start. A login writes
// about eight entries, so this store has no size cap and sweeps expired ones.
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

/** Models whose entries belong to a grant and die with it. */
const grantBound = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

const SWEEP_EVERY_WRITES = 500;

interface Entry {
  payload: AdapterPayload;
  /** epoch ms; Infinity when the model has no lifetime */
  expiresAt: number;
}

export function createDemoIdpStore(now: () => number = Date.now): AdapterFactory {
  const entries = new Map<string, Entry>();
  const keysByGrant = new Map<string, Set<string>>();
  const sessionKeyByUid = new Map<string, string>();
  const keyByUserCode = new Map<string, string>();
  let writes = 0;

  const live = (key: string | undefined): AdapterPayload | undefined => {
    if (key === undefined) return undefined;
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now()) {
      remove(key);
      return undefined;
    }
    return entry?.payload;
  };

  const remove = (key: string): void => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    const { uid, userCode, grantId } = entry.payload;
    if (uid && sessionKeyByUid.get(uid) === key) sessionKeyByUid.delete(uid);
    if (userCode && keyByUserCode.get(userCode) === key) keyByUserCode.delete(userCode);
    if (grantId) keysByGrant.get(grantId)?.delete(key);
  };

  const sweep = (): void => {
    const t = now();
    for (const [key, entry] of entries) if (entry.expiresAt <= t) remove(key);
    for (const [grantId, keys] of keysByGrant) if (keys.size === 0) keysByGrant.delete(grantId);
  };

  return (model: string): Adapter => {
    const keyOf = (id: string) => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        const key = keyOf(id);
        remove(key);
        entries.set(key, { payload, expiresAt: typeof expiresIn === 'number' ? now() + expiresIn * 1000 : Infinity });
        if (model === 'Session' && payload.uid) sessionKeyByUid.set(payload.uid, key);
        if (payload.userCode) keyByUserCode.set(payload.userCode, key);
        if (payload.grantId && grantBound.has(model)) {
          let keys = keysByGrant.get(payload.grantId);
          if (!keys) keysByGrant.set(payload.grantId, (keys = new Set()));
          keys.add(key);
        }
        if (++writes % SWEEP_EVERY_WRITES === 0) sweep();
      },
      async find(id) {
        return live(keyOf(id));
      },
      async findByUid(uid) {
        return live(sessionKeyByUid.get(uid));
      },
      async findByUserCode(userCode) {
        return live(keyByUserCode.get(userCode));
      },
      async consume(id) {
        const payload = live(keyOf(id));
        if (payload) payload.consumed = Math.floor(now() / 1000);
      },
      async destroy(id) {
        remove(keyOf(id));
      },
      async revokeByGrantId(grantId) {
        for (const key of [...(keysByGrant.get(grantId) ?? [])]) remove(key);
        keysByGrant.delete(grantId);
      },
    };
  };
}
