// Shared builders for the policy unit tests: facts with sensible defaults and a way to
// compile a single criterion the way a config would.
import type { DeviceFacts, Facts, RequestFacts, UserFacts } from '../../src/policy/facts.ts';
import type { Outcome } from '../../src/policy/reasons.ts';
import type { Criterion } from '../../src/policy/criteria/types.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';

/** Monday 2026-03-30 09:15 in Berlin (07:15 UTC). */
export const NOW = Date.parse('2026-03-30T07:15:00Z');

export const USER: UserFacts = {
  sub: 'u-ann',
  email: 'ann@example.com',
  emailVerified: true,
  groups: ['staff', 'finance'],
  claims: { department: 'accounting', level: 3, roles: ['reader', 'approver'], scope: 'read write', contractor: false },
  acr: 'urn:acme:silver',
  amr: ['pwd', 'otp'],
  authTime: Math.floor(NOW / 1000) - 600,
};

export const DEVICE: DeviceFacts = {
  ok: true,
  claims: { managed: true, compliant: true, disk_encrypted: true, firewall: true, screen_lock: true, edr_running: true, risk: 'low', os: 'macos', os_version: '14.5' },
};

export interface FactsOverrides {
  now?: number;
  request?: Partial<RequestFacts>;
  /** null: nobody signed in */
  user?: Partial<UserFacts> | null;
  /** null: no posture */
  device?: DeviceFacts | null;
}

export function facts(o: FactsOverrides = {}): Facts {
  return {
    now: o.now ?? NOW,
    request: { method: 'GET', path: '/', clientIp: '10.1.2.3', country: 'DE', ...o.request },
    ...(o.user === null ? {} : { user: { ...USER, ...o.user } }),
    ...(o.device === null ? {} : { device: o.device ?? DEVICE }),
  };
}

/** The one criterion a rule such as { groups: [x] } compiles to. */
export function criterion(rule: Record<string, unknown>, networks?: Record<string, string[]>): Criterion {
  const policy = compileStandalonePolicy({ allow: [rule] }, { networks });
  const c = policy.allow[0]!.criteria;
  if (c.length !== 1) throw new Error(`expected one criterion, got ${c.length}`);
  return c[0]!;
}

export function outcome(rule: Record<string, unknown>, f: Facts, networks?: Record<string, string[]>): Outcome {
  return criterion(rule, networks).test(f, false);
}
