// Policies from config -> compiled matchers, once per config load. Every problem is
// reported with its key path (the caller adds file and line) and compilation goes on,
// so an admin sees all mistakes at once. Nothing here runs per request.
import type { RawCriteria, RawNetworks, RawPolicies, RawPolicy, RawRoutePolicy, RawRule } from './schema.ts';
import { policySchema } from './schema.ts';
import type { CidrRange, CompileContext, Criterion, Report } from './criteria/types.ts';
import type { Reason } from './reasons.ts';
import { deniedCode } from './reasons.ts';
import { parseDuration, isValidHostname } from '../config/schema.ts';
import { compileAuthenticated } from './criteria/authenticated.ts';
import { compileUsers } from './criteria/users.ts';
import { compileEmails } from './criteria/emails.ts';
import { compileEmailDomains } from './criteria/email-domains.ts';
import { compileGroups, compileNotGroups } from './criteria/groups.ts';
import { compileClaims } from './criteria/claims.ts';
import { compileMfa } from './criteria/mfa.ts';
import { compileAcr } from './criteria/acr.ts';
import { compileMaxAuthAge } from './criteria/auth-age.ts';
import { compileNetwork, parseCidr } from './criteria/network.ts';
import { compileCountry } from './criteria/country.ts';
import { compileTime } from './criteria/time.ts';
import { compileMethods } from './criteria/methods.ts';
import { compilePaths } from './criteria/paths.ts';
import { compileDevice } from './criteria/device.ts';
import { negate } from './criteria/not.ts';

export interface CompiledRule {
  /** the rule's `name`, or "allow[0]" / "deny[1]" */
  readonly name: string;
  readonly effect: 'allow' | 'deny';
  /** cheap, request-only criteria first, so most misses cost little */
  readonly criteria: readonly Criterion[];
  /** deny rules only: with on_unknown: skip, a rule whose facts are missing does not deny */
  readonly skipUnknown: boolean;
  /** built once: the reasons an allow by this rule reports */
  readonly passReasons: readonly Reason[];
  /** built once: the reasons of passing criteria when this deny rule matches */
  readonly denyReasons: readonly Reason[];
}

export interface CompiledPolicy {
  /** the policy's name, or "<route> (inline)" */
  readonly name: string;
  readonly allow: readonly CompiledRule[];
  readonly deny: readonly CompiledRule[];
}

export interface RoutePolicy {
  readonly policy: CompiledPolicy;
  /** evaluated and logged, never enforced */
  readonly shadow?: CompiledPolicy;
}

export interface CompiledPolicies {
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
  /** index-aligned with the config's routes; undefined for public routes */
  readonly routes: readonly (RoutePolicy | undefined)[];
  readonly byRoute: ReadonlyMap<string, RoutePolicy>;
}

/** What compilePolicies reads from the whole config: the two top-level blocks and each route's policy keys. */
export interface PolicyConfigInput {
  readonly networks?: RawNetworks;
  readonly policies?: RawPolicies;
  readonly routes: readonly {
    readonly name: string;
    readonly public?: boolean;
    readonly policy?: RawRoutePolicy;
    readonly shadow_policy?: RawRoutePolicy;
  }[];
}

/** The order criteria run in: request facts first (no parsing), posture and clock last. */
const ORDER: readonly (keyof RawCriteria)[] = [
  'methods', 'paths', 'authenticated', 'users', 'groups', 'not_groups', 'emails', 'email_domains', 'claims',
  'mfa', 'acr', 'max_auth_age', 'country', 'network', 'time', 'device',
];

/** What a route whose policy could not be resolved gets: no allow rule, so every request is refused. */
const NOBODY: CompiledPolicy = Object.freeze({ name: '(unresolved policy: nobody)', allow: Object.freeze([]), deny: Object.freeze([]) });

/**
 * compilePolicies on its own gives a route without `policy` this one; the proxy's configuration
 * refuses such a route (src/config/compile.ts), so only explain/test tooling sees it.
 */
export const DEFAULT_POLICY_NAME = '(default: any signed-in user)';

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function compileCriterion(key: keyof RawCriteria, value: NonNullable<RawCriteria[keyof RawCriteria]>, ctx: CompileContext): Criterion | undefined {
  const report = ctx.report;
  switch (key) {
    case 'authenticated':
      return compileAuthenticated();
    case 'users':
      return compileUsers(value as string[]);
    case 'emails': {
      const emails = value as string[];
      emails.forEach((e, i) => {
        if (e.indexOf('@') <= 0 || e.indexOf('@') !== e.lastIndexOf('@')) report([i], `"${e}" is not an email address with exactly one "@"`);
      });
      return compileEmails(emails);
    }
    case 'email_domains': {
      const domains = value as string[];
      domains.forEach((d, i) => {
        if (d.includes('@')) report([i], `write the domain without "@": ${d.replace(/^.*@/, '')}`);
        else if (d.startsWith('*.') || d.startsWith('.')) report([i], `"${d}": domains match exactly, never their subdomains; list each domain, such as ${d.replace(/^\*?\./, '')}`);
        else if (!isValidHostname(d.toLowerCase())) report([i], `"${d}" is not a domain name such as example.com (internationalized domains must be written in their xn-- form)`);
      });
      return compileEmailDomains(domains);
    }
    case 'groups':
      return compileGroups(value as string[]);
    case 'not_groups':
      return compileNotGroups(value as string[]);
    case 'claims': {
      const list = Array.isArray(value) ? value : [value];
      return compileClaims(list as Parameters<typeof compileClaims>[0], Array.isArray(value) ? report : (p, m) => report(p.slice(1), m));
    }
    case 'mfa':
      return compileMfa(value === true ? undefined : (value as { methods: string[] }).methods);
    case 'acr':
      return compileAcr(value as string[]);
    case 'max_auth_age': {
      const ms = parseDuration(value as string);
      if (ms === undefined || ms <= 0) {
        report([], `"${String(value)}" is not a duration; write a number and a unit: s, m, h or d (for example "1h")`);
        return undefined;
      }
      return compileMaxAuthAge(ms);
    }
    case 'network':
      return compileNetwork(value as string[], ctx);
    case 'country':
      return compileCountry(value as string[], report);
    case 'time':
      return compileTime(value as Parameters<typeof compileTime>[0], report);
    case 'methods':
      return compileMethods(value as string[], report);
    case 'paths':
      return compilePaths(value as string[], report);
    case 'device':
      return compileDevice(value as Parameters<typeof compileDevice>[0], report);
  }
}

function compileCriteria(raw: RawCriteria, ctx: CompileContext, at: readonly PropertyKey[]): Criterion[] {
  const out: Criterion[] = [];
  for (const key of ORDER) {
    const value = raw[key];
    if (value === undefined) continue;
    const c = compileCriterion(key, value, { ...ctx, report: (p, m) => ctx.report([...at, key, ...p], m) });
    if (c) out.push(c);
  }
  return out;
}

function compileRule(raw: RawRule, effect: 'allow' | 'deny', index: number, ctx: CompileContext, at: readonly PropertyKey[]): CompiledRule {
  const name = raw.name ?? `${effect}[${index}]`;
  const criteria = compileCriteria(raw, ctx, at);
  if (raw.not) {
    const negated = compileCriteria(raw.not, ctx, [...at, 'not']);
    if (negated.length === 0) ctx.report([...at, 'not'], 'not: needs at least one criterion');
    criteria.push(...negated.map(negate));
  }
  const hasAny = Object.keys(raw).some((k) => k !== 'name' && k !== 'on_unknown');
  if (!hasAny) {
    ctx.report(at, effect === 'allow'
      ? 'an empty rule would let in every request, signed in or not; write authenticated: true to allow anyone who signs in'
      : 'an empty deny rule would refuse every request; remove it, or give it criteria');
  }
  if (raw.on_unknown !== undefined && effect === 'allow') {
    ctx.report([...at, 'on_unknown'], 'on_unknown applies to deny rules only; an allow rule never matches when a fact it needs is missing');
  }
  const withRule = (r: Omit<Reason, 'rule'>): Reason => Object.freeze({ ...r, rule: name });
  return Object.freeze({
    name,
    effect,
    criteria: Object.freeze(criteria),
    skipUnknown: raw.on_unknown === 'skip',
    passReasons: Object.freeze(criteria.map((c) => withRule({ criterion: c.name, outcome: 'pass', code: c.passCode, message: `${capitalize(c.describe)}.` }))),
    denyReasons: Object.freeze(criteria.map((c) => withRule({ criterion: c.name, outcome: 'pass', code: deniedCode(c.base), message: `Refused because ${c.describe}.` }))),
  });
}

export function compilePolicy(raw: RawPolicy, name: string, ctx: CompileContext, at: readonly PropertyKey[]): CompiledPolicy {
  const names = new Set<string>();
  const rules = (effect: 'allow' | 'deny', list: readonly RawRule[]) =>
    list.map((r, i) => {
      if (r.name !== undefined) {
        if (names.has(r.name)) ctx.report([...at, effect, i, 'name'], `rule name "${r.name}" is used twice in this policy`);
        names.add(r.name);
      }
      return compileRule(r, effect, i, ctx, [...at, effect, i]);
    });
  const allow = rules('allow', raw.allow);
  const deny = rules('deny', raw.deny ?? []);
  if (allow.length === 0) ctx.report([...at, 'allow'], 'a policy needs at least one allow rule; with none it would refuse everyone');
  return Object.freeze({ name, allow: Object.freeze(allow), deny: Object.freeze(deny) });
}

export function compileNetworks(raw: RawNetworks | undefined, report: Report): Map<string, readonly CidrRange[]> {
  const networks = new Map<string, readonly CidrRange[]>();
  for (const [name, cidrs] of Object.entries(raw ?? {})) {
    const ranges: CidrRange[] = [];
    cidrs.forEach((text, i) => {
      const r = parseCidr(text);
      if (typeof r === 'string') report(['networks', name, i], r);
      else ranges.push(r);
    });
    networks.set(name, Object.freeze(ranges));
  }
  return networks;
}

export function compilePolicies(raw: PolicyConfigInput, report: Report): CompiledPolicies {
  const networks = compileNetworks(raw.networks, report);
  const ctx: CompileContext = { report, networks };
  const policies = new Map<string, CompiledPolicy>();
  for (const [name, p] of Object.entries(raw.policies ?? {})) policies.set(name, compilePolicy(p, name, ctx, ['policies', name]));

  const defaultPolicy = compilePolicy({ allow: [{ authenticated: true }], deny: [] }, DEFAULT_POLICY_NAME, ctx, []);
  const resolve = (ref: RawRoutePolicy, routeName: string, at: PropertyKey[], label: string): CompiledPolicy | undefined => {
    if (typeof ref !== 'string') return compilePolicy(ref, `${routeName} (${label})`, ctx, at);
    const found = policies.get(ref);
    if (!found) {
      const known = [...policies.keys()];
      report(at, `unknown policy "${ref}"; ${known.length ? `defined policies: ${known.join(', ')}` : 'define it under policies:'}`);
    }
    return found;
  };

  const byRoute = new Map<string, RoutePolicy>();
  const routes = raw.routes.map((route, i) => {
    if (route.public) {
      // A public route never signs anyone in, so a policy there would look enforced and not be.
      if (route.policy !== undefined) report(['routes', i, 'policy'], `route "${route.name}" is public, so no policy is checked on it; remove "public: true" to enforce the policy, or remove the policy`);
      if (route.shadow_policy !== undefined) report(['routes', i, 'shadow_policy'], `route "${route.name}" is public, so no shadow policy is evaluated on it`);
      return undefined;
    }
    const policy = route.policy === undefined ? defaultPolicy : resolve(route.policy, route.name, ['routes', i, 'policy'], 'inline');
    const shadow = route.shadow_policy === undefined ? undefined : resolve(route.shadow_policy, route.name, ['routes', i, 'shadow_policy'], 'inline shadow');
    // An unknown policy name was reported above and the config is rejected; should this ever
    // be used anyway, the route lets nobody in rather than falling back to something looser.
    const rp: RoutePolicy = Object.freeze({ policy: policy ?? NOBODY, shadow });
    byRoute.set(route.name, rp);
    return rp;
  });
  return Object.freeze({ policies, routes: Object.freeze(routes), byRoute });
}

/** Thrown by compileStandalonePolicy; lists every problem. */
export class PolicyCompileError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid policy:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'PolicyCompileError';
    this.problems = problems;
  }
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

/**
 * One policy from a plain object (as YAML would give it), validated and compiled;
 * throws PolicyCompileError with every problem. For tests, benchmarks and tools.
 */
export function compileStandalonePolicy(raw: unknown, options: { name?: string; networks?: Record<string, string[]> } = {}): CompiledPolicy {
  const problems: string[] = [];
  const report: Report = (path, message) => problems.push(path.length ? `${pathText(path)}: ${message}` : message);
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) report(issue.path, issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message);
    throw new PolicyCompileError(problems);
  }
  const networks = compileNetworks(options.networks, report);
  const policy = compilePolicy(parsed.data, options.name ?? 'policy', { report, networks }, []);
  if (problems.length) throw new PolicyCompileError(problems);
  return policy;
}
