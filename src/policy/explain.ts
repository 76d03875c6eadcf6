// `portcullis explain`: dry-run one request against a config and say what the policy
// decides and why. It reads the same compiled route table and policies the proxy uses
// and calls the same pure evaluate(), so its answer is the proxy's answer.
// This is an edge: it reads files and, without --time, the clock.
import { parseArgs } from 'node:util';
import type { CompiledConfig, CompiledRoute } from '../config/compile.ts';
import { matchRoute } from '../request/route-match.ts';
import { parseTarget } from '../request/target.ts';
import { ConfigError, formatConfigProblem } from '../errors.ts';
import type { Env } from '../config/load.ts';
import type { DeviceFacts, Facts, UserFacts } from './facts.ts';
import type { Reason } from './reasons.ts';
import type { CompiledPolicies } from './compile.ts';
import { evaluateRoute, type Decision } from './evaluate.ts';
import { parseAddress } from './criteria/network.ts';
import { loadConfigWithPolicies, type ConfigWithPolicies } from './load.ts';

export interface CommandResult {
  readonly exitCode: number;
  readonly output: string;
}

/** A request to explain, with facts already parsed. */
export interface RequestInput {
  readonly url: string;
  readonly method?: string;
  readonly user?: UserFacts;
  readonly device?: DeviceFacts;
  readonly ip?: string;
  readonly country?: string;
  /** ms since the epoch */
  readonly now: number;
}

export type RequestOutcome =
  | { readonly kind: 'bad-url'; readonly message: string }
  | { readonly kind: 'no-route'; readonly host: string; readonly path: string; readonly decision: Decision }
  | { readonly kind: 'public'; readonly route: CompiledRoute; readonly decision: Decision }
  | { readonly kind: 'policy'; readonly route: CompiledRoute; readonly facts: Facts; readonly decision: Decision; readonly shadow?: Decision; readonly shadowPolicy?: string };

/** The policies for a config: from CompiledConfig once the lead wires them in, else compiled alongside. */
function policiesOf(config: CompiledConfig, fallback: CompiledPolicies | undefined): CompiledPolicies | undefined {
  return (config as { policies?: CompiledPolicies }).policies ?? fallback;
}

/** Route the request like the proxy does, then evaluate the route's policy (and shadow policy). */
export function explainRequest(loaded: ConfigWithPolicies, input: RequestInput): RequestOutcome {
  if (!/^https?:\/\//i.test(input.url)) return { kind: 'bad-url', message: `"${input.url}" is not an absolute http(s) URL such as https://app.example.com/path` };
  const target = parseTarget(input.url, undefined);
  if (!target.ok) return { kind: 'bad-url', message: `Portcullis would refuse "${input.url}" before any policy: ${target.reason} (${target.code})` };
  const { host, path } = target;
  const route = matchRoute(loaded.config.routeTable, host, path);
  if (!route) {
    return {
      kind: 'no-route',
      host,
      path,
      decision: { allow: false, policy: '(none)', reasons: [{ criterion: 'route', outcome: 'fail', code: 'route-not-found', message: `No route serves ${host}${path}; Portcullis answers 404.` }] },
    };
  }
  if (route.public) {
    return { kind: 'public', route, decision: { allow: true, policy: '(public)', reasons: [{ criterion: 'route', outcome: 'pass', code: 'route-public', message: `Route "${route.name}" is public: no sign-in and no policy.` }] } };
  }
  const rp = policiesOf(loaded.config, loaded.policies)?.byRoute.get(route.name);
  if (!rp) throw new Error(`no compiled policy for route "${route.name}"`);
  // As the proxy would: the country given, else the geo database's answer for the address.
  const country = input.country ?? (input.ip ? loaded.config.geo.database?.countryFor(input.ip) : undefined);
  const facts: Facts = {
    now: input.now,
    request: { method: input.method ?? 'GET', path, clientIp: input.ip ?? '', ...(country !== undefined ? { country } : {}) },
    ...(input.user ? { user: input.user } : {}),
    ...(input.device ? { device: input.device } : {}),
  };
  const { decision, shadow } = evaluateRoute(rp, facts);
  return { kind: 'policy', route, facts, decision, shadow, shadowPolicy: rp.shadow?.name };
}

const OUTCOME_LABEL = { pass: 'pass   ', fail: 'FAIL   ', unknown: 'unknown' } as const;

export function formatReasons(reasons: readonly Reason[], indent = '  '): string {
  return reasons.map((r) => `${indent}${OUTCOME_LABEL[r.outcome]} ${r.rule ? `[${r.rule}] ` : ''}${r.criterion} ${r.code}: ${r.message}\n`).join('');
}

function formatDecision(d: Decision): string {
  let out = `decision: ${d.allow ? 'ALLOW' : 'DENY'}${d.rule ? ` (rule ${d.rule})` : ''}\n`;
  out += `reasons:\n${formatReasons(d.reasons)}`;
  if (d.stepUp) {
    const s = d.stepUp;
    const parts = [`prompt=${s.prompt}`, s.acrValues ? `acr_values=${s.acrValues.join(' ')}` : '', s.maxAgeSeconds !== undefined ? `max_age=${s.maxAgeSeconds}` : '', s.mfaMethods ? `(multi-factor: ${s.mfaMethods.join(', ')})` : ''];
    out += `step-up:  a new sign-in would allow this: ${parts.filter(Boolean).join(' ')}\n`;
  }
  if (d.loginRequired) out += 'sign-in:  nobody is signed in; the proxy would send the user to sign in first\n';
  if (d.error) out += `error:    ${d.error}\n`;
  return out;
}

export function formatOutcome(o: RequestOutcome): string {
  switch (o.kind) {
    case 'bad-url':
      return `${o.message}\n`;
    case 'no-route':
      return `route:    none for ${o.host}${o.path}\n${formatDecision(o.decision)}`;
    case 'public':
      return `route:    ${o.route.name} (public)\n${formatDecision(o.decision)}`;
    case 'policy': {
      let out = `route:    ${o.route.name} (${o.route.scheme}://${o.route.host}${o.route.pathPrefix === '/' ? '' : o.route.pathPrefix} -> ${o.route.to.origin}${o.route.to.basePath})\n`;
      out += `policy:   ${o.decision.policy}\n`;
      out += formatDecision(o.decision);
      if (o.shadow) out += `shadow:   ${o.shadowPolicy} would ${o.shadow.allow ? 'ALLOW' : 'DENY'} (not enforced)\n${formatReasons(o.shadow.reasons)}`;
      return out;
    }
  }
}

/** Parsed command-line options of `portcullis explain`. */
export interface ExplainArgs {
  readonly config?: string;
  readonly url?: string;
  readonly method?: string;
  readonly user?: string;
  readonly email?: string;
  readonly 'email-verified'?: boolean;
  readonly groups?: string;
  readonly claims?: string;
  readonly amr?: string;
  readonly acr?: string;
  readonly 'auth-time'?: string;
  readonly device?: string;
  readonly ip?: string;
  readonly country?: string;
  readonly time?: string;
  readonly json?: boolean;
}

export const explainOptions = {
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  method: { type: 'string' },
  user: { type: 'string' },
  email: { type: 'string' },
  'email-verified': { type: 'boolean' },
  groups: { type: 'string' },
  claims: { type: 'string' },
  amr: { type: 'string' },
  acr: { type: 'string' },
  'auth-time': { type: 'string' },
  device: { type: 'string' },
  ip: { type: 'string' },
  country: { type: 'string' },
  time: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const EXPLAIN_USAGE = `Usage: portcullis explain --config FILE --url URL [--method GET]
         [--user SUB] [--email E] [--email-verified] [--groups a,b] [--claims JSON]
         [--amr pwd,mfa] [--acr X] [--auth-time ISO] [--device JSON]
         [--ip ADDR] [--country CC] [--time ISO] [--json]
Prints the route, the policy, the decision and its reasons.
Exit status: 0 allowed, 1 denied, 2 bad input or invalid configuration.
`;

class BadInput extends Error {}

const csv = (text: string | undefined): string[] | undefined => (text === undefined ? undefined : text.split(',').map((s) => s.trim()).filter(Boolean));

function parseJsonObject(text: string, flag: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInput(`--${flag} is not valid JSON: ${(err as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new BadInput(`--${flag} must be a JSON object, such as '{"managed": true}'`);
  return value as Record<string, unknown>;
}

/** An ISO 8601 instant (or ms / s since the epoch for --auth-time) -> ms. */
export function parseInstant(text: string, what: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) throw new BadInput(`${what} "${text}" is not an ISO 8601 time such as 2026-03-30T09:15:00+02:00`);
  return ms;
}

/** A device given as posture claims, or as { ok: false, reason } for a posture that failed verification. */
export function toDeviceFacts(value: Record<string, unknown>): DeviceFacts {
  if (value.ok === false) return { ok: false, reason: typeof value.reason === 'string' ? value.reason : 'posture not verified' };
  return { ok: true, claims: value };
}

function requestFromArgs(a: ExplainArgs, now: () => number): RequestInput {
  const userFlags = [a.email, a['email-verified'], a.groups, a.claims, a.amr, a.acr, a['auth-time']].some((v) => v !== undefined);
  if (userFlags && a.user === undefined) throw new BadInput('give --user SUB (the user id) together with the other user options');
  if (a.ip !== undefined && !parseAddress(a.ip)) throw new BadInput(`--ip "${a.ip}" is not an IPv4 or IPv6 address`);
  const user: UserFacts | undefined =
    a.user === undefined
      ? undefined
      : {
          sub: a.user,
          email: a.email,
          emailVerified: a['email-verified'] === true,
          groups: csv(a.groups) ?? [],
          claims: a.claims === undefined ? {} : parseJsonObject(a.claims, 'claims'),
          acr: a.acr,
          amr: csv(a.amr),
          authTime: a['auth-time'] === undefined ? undefined : Math.floor(parseInstant(a['auth-time'], '--auth-time') / 1000),
        };
  return {
    url: a.url!,
    method: a.method?.toUpperCase(),
    user,
    device: a.device === undefined ? undefined : toDeviceFacts(parseJsonObject(a.device, 'device')),
    ip: a.ip,
    country: a.country,
    now: a.time === undefined ? now() : parseInstant(a.time, '--time'),
  };
}

function configProblems(file: string, err: ConfigError): string {
  return `${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n${err.problems.map((p) => `  ${formatConfigProblem(p)}\n`).join('')}`;
}

/** Loads the config, builds the facts, decides. Never throws for bad input: exit code 2 and a message instead. */
export function explain(args: ExplainArgs, options: { env?: Env; now?: () => number } = {}): CommandResult {
  if (!args.config || !args.url) return { exitCode: 2, output: `portcullis explain: give --config FILE and --url URL\n\n${EXPLAIN_USAGE}` };
  let request: RequestInput;
  try {
    request = requestFromArgs(args, options.now ?? Date.now);
  } catch (err) {
    if (err instanceof BadInput) return { exitCode: 2, output: `portcullis explain: ${err.message}\n` };
    throw err;
  }
  let loaded: ConfigWithPolicies;
  try {
    loaded = loadConfigWithPolicies(args.config, options.env);
  } catch (err) {
    if (err instanceof ConfigError) return { exitCode: 2, output: configProblems(args.config, err) };
    throw err;
  }
  const outcome = explainRequest(loaded, request);
  if (outcome.kind === 'bad-url') return { exitCode: 2, output: `portcullis explain: ${outcome.message}\n` };
  const output = args.json ? `${JSON.stringify(outcomeJson(outcome), null, 2)}\n` : formatOutcome(outcome);
  return { exitCode: outcome.decision.allow ? 0 : 1, output };
}

function outcomeJson(o: Exclude<RequestOutcome, { kind: 'bad-url' }>): unknown {
  return {
    route: o.kind === 'no-route' ? null : o.route.name,
    decision: o.decision,
    ...(o.kind === 'policy' && o.shadow ? { shadow: { policy: o.shadowPolicy, decision: o.shadow } } : {}),
  };
}

/** `portcullis explain ARGS...` from raw argv (after the subcommand). */
export function explainFromArgv(argv: readonly string[], options: { env?: Env; now?: () => number } = {}): CommandResult {
  let values: ExplainArgs;
  try {
    ({ values } = parseArgs({ args: [...argv], options: explainOptions, strict: true, allowPositionals: false }));
  } catch (err) {
    return { exitCode: 2, output: `portcullis explain: ${(err as Error).message}\n\n${EXPLAIN_USAGE}` };
  }
  return explain(values, options);
}
