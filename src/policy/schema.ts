// The policy language's YAML shape, as zod fragments the main config schema plugs in
// (src/config/schema.ts). Every object is strict: a misspelled criterion must be an error,
// never a rule that silently checks less than the admin wrote. Shape only: meaning
// (CIDRs, time zones, hours, cross-references, durations) is checked by compilePolicies,
// which reports each problem with its key path.
//
// This module deliberately imports nothing from src/config: config/schema.ts imports it,
// and a cycle would leave one side's constants uninitialized at load time.
import { z } from 'zod';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const nameError = 'a name is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit';

const list = (what: string) => z.array(z.string().min(1, `an empty ${what} matches nothing`), { error: `expected a list of ${what}s, such as [a, b]` }).min(1, `list at least one ${what}`);
const yes = (key: string) => z.literal(true, { error: `${key} can only be true; leave it out to not check it` });

const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' });

export const claimConditionSchema = z.strictObject({
  claim: z.string().min(1),
  equals: scalar.optional(),
  one_of: z.array(scalar).min(1).optional(),
  contains: scalar.optional(),
});

export const timeWindowSchema = z.strictObject({
  days: list('day').optional().describe('mon..sun or ranges such as mon-fri'),
  hours: z.string().optional().describe('"HH:MM-HH:MM", may wrap midnight'),
  timezone: z.string().optional().describe('IANA time zone; default UTC'),
  dates: z.strictObject({ from: z.string().optional(), until: z.string().optional() }).optional(),
});

export const deviceRequirementsSchema = z.strictObject({
  managed: yes('managed').optional(),
  compliant: yes('compliant').optional(),
  disk_encrypted: yes('disk_encrypted').optional(),
  firewall: yes('firewall').optional(),
  screen_lock: yes('screen_lock').optional(),
  edr_running: yes('edr_running').optional(),
  max_risk: z.enum(['low', 'medium', 'high']).optional(),
  os: list('operating system').optional(),
  // Versions stay strings: YAML reads an unquoted 14.10 as the number 14.1.
  os_min: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
});

const criteriaShape = {
  authenticated: yes('authenticated').optional(),
  users: list('user id').optional(),
  emails: list('email address').optional(),
  email_domains: list('domain').optional(),
  groups: list('group').optional(),
  not_groups: list('group').optional(),
  claims: z.union([claimConditionSchema, z.array(claimConditionSchema).min(1)]).optional(),
  mfa: z.union([yes('mfa'), z.strictObject({ methods: list('amr value') })], { error: 'write mfa: true, or mfa: { methods: [hwk, otp] }' }).optional(),
  acr: list('acr value').optional(),
  max_auth_age: z.string({ error: 'expected a duration such as "1h" or "15m"' }).optional(),
  network: list('network name or CIDR').optional(),
  country: list('country code').optional(),
  time: timeWindowSchema.optional(),
  methods: list('HTTP method').optional(),
  paths: list('path prefix').optional(),
  device: deviceRequirementsSchema.optional(),
};

/** The criteria a rule can hold; also what a `not` block holds. */
export const CRITERIA = Object.keys(criteriaShape) as (keyof typeof criteriaShape)[];

export const negatedCriteriaSchema = z.strictObject(criteriaShape);

export const ruleSchema = z.strictObject({
  name: z.string().regex(NAME, nameError).optional().describe('shown in decisions and logs; default allow[i] / deny[i]'),
  on_unknown: z.enum(['deny', 'skip']).optional().describe('deny rules only: what a missing fact does (default deny: fail closed)'),
  ...criteriaShape,
  not: negatedCriteriaSchema.optional(),
});

export const policySchema = z.strictObject({
  description: z.string().optional(),
  allow: z.array(ruleSchema, { error: 'allow must be a list of rules' }).min(1, 'a policy needs at least one allow rule; with none it would refuse everyone'),
  deny: z.array(ruleSchema, { error: 'deny must be a list of rules' }).default([]),
});

export const policyNameSchema = z.string().regex(NAME, nameError);

/** Top-level `policies:` — named policies routes refer to. */
export const policiesSchema = z.record(policyNameSchema, policySchema).default({});

/** Top-level `networks:` — named lists of CIDR ranges. */
export const networksSchema = z.record(z.string().regex(NAME, nameError), list('CIDR range')).default({});

/** A route's `policy` or `shadow_policy`: a policy name, or a policy written in place. */
export const routePolicySchema = z.union([policyNameSchema, policySchema], {
  error: 'write the name of a policy under policies:, or a policy in place: { allow: [...], deny: [...] }',
});

export type RawRule = z.output<typeof ruleSchema>;
export type RawCriteria = z.output<typeof negatedCriteriaSchema>;
export type RawPolicy = z.output<typeof policySchema>;
export type RawRoutePolicy = z.output<typeof routePolicySchema>;
export type RawNetworks = z.output<typeof networksSchema>;
export type RawPolicies = z.output<typeof policiesSchema>;
