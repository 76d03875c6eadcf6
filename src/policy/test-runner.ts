// `portcullis test FILE`: policy tests an admin keeps next to the config and runs in CI.
// Each case is a request with facts and the expected decision (and, optionally, reason
// codes that must appear). Prints one line per case and exits non-zero on any failure,
// so a policy change that lets the wrong people in fails the pipeline.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { ConfigError, formatConfigProblem } from '../errors.ts';
import type { Env } from '../config/load.ts';
import type { UserFacts } from './facts.ts';
import { explainRequest, formatReasons, parseInstant, toDeviceFacts, type CommandResult, type RequestInput } from './explain.ts';
import { loadConfigWithPolicies, loadConfigTextWithPolicies, type ConfigWithPolicies } from './load.ts';

const instant = z.union([z.string(), z.date()]).transform((v) => (v instanceof Date ? v.toISOString() : v));

const userSchema = z.strictObject({
  sub: z.string().min(1),
  email: z.string().optional(),
  email_verified: z.boolean().default(false),
  groups: z.array(z.string()).default([]),
  claims: z.record(z.string(), z.unknown()).default({}),
  acr: z.string().optional(),
  amr: z.array(z.string()).optional(),
  /** ISO time, or seconds since the epoch as in the ID token */
  auth_time: z.union([instant, z.number()]).optional(),
});

const caseSchema = z.strictObject({
  name: z.string().min(1),
  url: z.string().min(1),
  method: z.string().optional(),
  user: userSchema.optional(),
  device: z.record(z.string(), z.unknown()).optional(),
  ip: z.string().optional(),
  country: z.string().optional(),
  time: instant.optional(),
  expect: z.enum(['allow', 'deny']),
  /** codes that must each appear among the decision's reasons */
  reasons: z.array(z.string()).optional(),
  /** the shadow policy's expected decision, when the route has one */
  expect_shadow: z.enum(['allow', 'deny']).optional(),
  /** expect a step-up hint (true) or none (false) */
  expect_step_up: z.boolean().optional(),
});

export const policyTestFileSchema = z.strictObject({
  /** a config file, relative to this file; or a whole config written in place */
  config: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
  /** the default time of every case; without it (and without a case's own), the current time */
  time: instant.optional(),
  cases: z.array(caseSchema).min(1, 'write at least one case'),
});

export type PolicyTestCase = z.output<typeof caseSchema>;

function toRequest(c: PolicyTestCase, defaultTime: string | undefined, now: () => number): RequestInput {
  const u = c.user;
  const user: UserFacts | undefined = u && {
    sub: u.sub,
    email: u.email,
    emailVerified: u.email_verified,
    groups: u.groups,
    claims: u.claims,
    acr: u.acr,
    amr: u.amr,
    authTime: u.auth_time === undefined ? undefined : typeof u.auth_time === 'number' ? u.auth_time : Math.floor(parseInstant(u.auth_time, 'auth_time') / 1000),
  };
  const time = c.time ?? defaultTime;
  return {
    url: c.url,
    method: c.method?.toUpperCase(),
    user,
    device: c.device && toDeviceFacts(c.device),
    ip: c.ip,
    country: c.country,
    now: time === undefined ? now() : parseInstant(time, 'time'),
  };
}

/** Why a case failed, or undefined when it passed. */
function checkCase(loaded: ConfigWithPolicies, c: PolicyTestCase, defaultTime: string | undefined, now: () => number): { failure?: string; summary: string } {
  let request: RequestInput;
  try {
    request = toRequest(c, defaultTime, now);
  } catch (err) {
    return { failure: (err as Error).message, summary: '' };
  }
  const outcome = explainRequest(loaded, request);
  if (outcome.kind === 'bad-url') return { failure: outcome.message, summary: '' };
  const d = outcome.decision;
  const got = d.allow ? 'allow' : 'deny';
  const codes = new Set(d.reasons.map((r) => r.code));
  const summary = formatReasons(d.reasons, '      ');
  const problems: string[] = [];
  if (got !== c.expect) problems.push(`expected ${c.expect}, got ${got}`);
  const missing = (c.reasons ?? []).filter((code) => !codes.has(code as never));
  if (missing.length) problems.push(`missing reason code${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (got ${[...codes].join(', ') || 'none'})`);
  if (c.expect_shadow !== undefined) {
    const shadow = outcome.kind === 'policy' ? outcome.shadow : undefined;
    if (!shadow) problems.push(`expected the shadow policy to ${c.expect_shadow}, but the route has no shadow policy`);
    else if ((shadow.allow ? 'allow' : 'deny') !== c.expect_shadow) problems.push(`expected the shadow policy to ${c.expect_shadow}, got ${shadow.allow ? 'allow' : 'deny'}`);
  }
  if (c.expect_step_up !== undefined && (d.stepUp !== undefined) !== c.expect_step_up) problems.push(c.expect_step_up ? 'expected a step-up hint, got none' : 'expected no step-up hint, got one');
  return { failure: problems.length ? problems.join('; ') : undefined, summary };
}

function loadTestConfig(file: string, config: string | Record<string, unknown>, env: Env | undefined): ConfigWithPolicies {
  if (typeof config === 'string') return loadConfigWithPolicies(resolve(dirname(file), config), env);
  // A config written in place: loaded like a file of its own (line numbers count from "config:").
  return loadConfigTextWithPolicies(stringify(config), `${file} (config)`, env);
}

export function runPolicyTests(file: string | undefined, options: { env?: Env; now?: () => number } = {}): CommandResult {
  if (!file) return { exitCode: 2, output: 'portcullis test: give the test file, for example: portcullis test config/policy-tests.yaml\n' };
  const now = options.now ?? Date.now;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { exitCode: 2, output: `${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})\n` };
  }
  const doc = parseDocument(text, { uniqueKeys: true, merge: false });
  if (doc.errors.length) return { exitCode: 2, output: `${file}: ${doc.errors.map((e) => e.message.split('\n')[0]).join('\n')}\n` };
  const parsed = policyTestFileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const where = i.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '');
      const message = i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}` : i.message;
      return `  ${where || '(file)'}: ${message}\n`;
    });
    return { exitCode: 2, output: `${file}: not a valid policy test file\n${lines.join('')}` };
  }
  const tests = parsed.data;
  let loaded: ConfigWithPolicies;
  try {
    loaded = loadTestConfig(file, tests.config, options.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { exitCode: 2, output: `${file}: the config has ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n${err.problems.map((p) => `  ${formatConfigProblem(p)}\n`).join('')}` };
  }
  let out = '';
  let passed = 0;
  let failed = 0;
  for (const c of tests.cases) {
    const { failure, summary } = checkCase(loaded, c, tests.time, now);
    if (failure === undefined) {
      passed++;
      out += `PASS  ${c.name}\n`;
    } else {
      failed++;
      out += `FAIL  ${c.name}: ${failure}\n${summary}`;
    }
  }
  out += `${passed} passed, ${failed} failed\n`;
  return { exitCode: failed ? 1 : 0, output: out };
}

export function runPolicyTestsFromArgv(argv: readonly string[], options: { env?: Env; now?: () => number } = {}): CommandResult {
  if (argv.length !== 1 || argv[0]!.startsWith('-')) return { exitCode: 2, output: 'Usage: portcullis test FILE\nRuns the policy test cases in FILE; exit status 0 when all pass, 1 when any fails, 2 for bad input.\n' };
  return runPolicyTests(argv[0], options);
}
