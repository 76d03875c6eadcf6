// compilePolicies: cross-references and config problems, each with its key path.
import { describe, expect, it } from 'vitest';
import { compilePolicies, DEFAULT_POLICY_NAME, type PolicyConfigInput } from '../../src/policy/compile.ts';
import { policiesSchema, routePolicySchema, ruleSchema } from '../../src/policy/schema.ts';
import { evaluate } from '../../src/policy/evaluate.ts';
import { facts } from './policy-fixtures.ts';

function compile(input: PolicyConfigInput) {
  const problems: string[] = [];
  const compiled = compilePolicies(input, (path, message) => problems.push(`${path.join('.')}: ${message}`));
  return { compiled, problems };
}

const policies = policiesSchema.parse({
  staff: { allow: [{ groups: ['staff'] }] },
  strict: { allow: [{ groups: ['staff'], mfa: true }], deny: [{ network: ['guest'] }] },
});

describe('compilePolicies', () => {
  it('resolves named and inline policies per route, and gives routes without one the default', () => {
    const { compiled, problems } = compile({
      networks: { guest: ['192.168.99.0/24'] },
      policies,
      routes: [
        { name: 'a', policy: 'staff', shadow_policy: 'strict' },
        { name: 'b', policy: routePolicySchema.parse({ allow: [{ users: ['u-ann'] }] }) },
        { name: 'c' },
        { name: 'd', public: true },
      ],
    });
    expect(problems).toEqual([]);
    expect(compiled.byRoute.get('a')!.policy.name).toBe('staff');
    expect(compiled.byRoute.get('a')!.shadow!.name).toBe('strict');
    expect(compiled.byRoute.get('b')!.policy.name).toBe('b (inline)');
    expect(compiled.byRoute.get('c')!.policy.name).toBe(DEFAULT_POLICY_NAME);
    expect(compiled.routes[3]).toBeUndefined();
    expect(evaluate(compiled.byRoute.get('c')!.policy, facts()).allow).toBe(true);
    expect(evaluate(compiled.byRoute.get('c')!.policy, facts({ user: null })).allow).toBe(false);
  });

  it('reports every problem with its key path', () => {
    const { problems } = compile({
      networks: { corp: ['10.0.0.0/8', 'ten-net'] },
      policies: policiesSchema.parse({
        p: { allow: [{ network: ['corp', 'lab'], time: { hours: '7-8', timezone: 'Nowhere/City' } }, {}], deny: [{ on_unknown: 'skip' }] },
        q: { allow: [{ authenticated: true, on_unknown: 'skip' }] },
      }),
      routes: [{ name: 'a', policy: 'missing' }, { name: 'b', public: true, policy: 'p' }, { name: 'c', shadow_policy: 'nope' }],
    });
    expect(problems).toEqual([
      'networks.corp.1: "ten-net" is not an IP address or CIDR range such as 10.0.0.0/8 or 2001:db8::/32 (IPv4 in plain dotted decimal)',
      'policies.p.allow.0.network.1: unknown network "lab"; define it under networks: (defined: corp), or write a CIDR range such as 10.0.0.0/8',
      'policies.p.allow.0.time.timezone: "Nowhere/City" is not an IANA time zone such as Europe/Berlin, America/New_York or UTC',
      expect.stringMatching(/^policies\.p\.allow\.0\.time\.hours: "7-8" is not a time range/),
      'policies.p.allow.1: an empty rule would let in every request, signed in or not; write authenticated: true to allow anyone who signs in',
      'policies.p.deny.0: an empty deny rule would refuse every request; remove it, or give it criteria',
      'policies.q.allow.0.on_unknown: on_unknown applies to deny rules only; an allow rule never matches when a fact it needs is missing',
      'routes.0.policy: unknown policy "missing"; defined policies: p, q',
      'routes.1.policy: route "b" is public, so no policy is checked on it; remove "public: true" to enforce the policy, or remove the policy',
      'routes.2.shadow_policy: unknown policy "nope"; defined policies: p, q',
    ]);
  });

  it('the schema rejects unknown keys and misspelled criteria', () => {
    expect(ruleSchema.safeParse({ group: ['x'] }).error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['group'] });
    expect(ruleSchema.safeParse({ device: { encrypted: true } }).error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', path: ['device'] });
    expect(routePolicySchema.safeParse(5).error?.issues[0]?.message).toMatch(/name of a policy/);
    expect(policiesSchema.safeParse({ p: { allow: [] } }).error?.issues[0]?.message).toMatch(/at least one allow rule/);
  });

  it('compiled policies are frozen', () => {
    const { compiled } = compile({ policies, routes: [{ name: 'a', policy: 'staff' }] });
    const p = compiled.policies.get('staff')!;
    expect(Object.isFrozen(p) && Object.isFrozen(p.allow) && Object.isFrozen(p.allow[0]!.passReasons)).toBe(true);
  });
});
