// Class 8: allow lists by email, domain and group, attacked with addresses and groups an
// identity provider really issued (the demo provider, with custom accounts), then with
// claim types no provider should send (straight through the claims -> facts -> policy path).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTarget, get, type Target } from './harness.ts';
import type { DemoUser } from '../../src/demo/idp.ts';
import { defaultDemoUsers } from '../../src/demo/idp.ts';
import { sessionFromClaims } from '../../src/auth/session-data.ts';
import { userFactsFromSession } from '../../src/policy/facts.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';
import { evaluate } from '../../src/policy/evaluate.ts';

function user(id: string, email: string, groups: string[] = [], emailVerified = true): DemoUser {
  return { id, password: `${id}-pw`, email, email_verified: emailVerified, name: id, groups };
}

const attackers: DemoUser[] = [
  user('suffix', 'eve@example.com.evil.test'),
  user('glued', 'eve@evilexample.com'),
  user('subdomain', 'eve@mail.example.com'),
  user('twoats', 'eve@evil.test@example.com'),
  user('quoted', '"eve@evil.test"@example.com'),
  user('homoglyph', 'eve@exаmple.com'), // Cyrillic а
  user('kelvin', 'eve@\u212Aexample.com'), // KELVIN SIGN, which Unicode lower-cases to "k"
  user('trailingdot', 'eve@example.com.'),
  user('space', 'eve@example.com '),
  user('unverified', 'alice@example.com', ['admins'], false),
  user('lookalikealice', 'alice@example.com.evil.test'),
  user('groupcase', 'g1@evil.test', ['Admins']),
  user('groupspace', 'g2@evil.test', [' admins', 'admins ']),
  user('grouplist', 'g3@evil.test', ['admins,finance', 'finance admins']),
  user('groupprefix', 'g4@evil.test', ['admins-readonly', 'superadmins']),
];

let t: Target;
beforeAll(async () => {
  t = await startTarget({
    idp: { users: [...defaultDemoUsers, ...attackers] },
    routes: `
  - name: app
    from: http://app.test
    to: \${UPSTREAM}
    policy: { allow: [ { authenticated: true } ] }
  - name: domain
    from: http://domain.test
    to: \${UPSTREAM}
    # kexample.com is listed so that the KELVIN SIGN account would match it if lower-cased by Unicode
    policy: { allow: [ { email_domains: [example.com, kexample.com] } ] }
  - name: people
    from: http://people.test
    to: \${UPSTREAM}
    policy: { allow: [ { emails: [alice@example.com] } ] }
  - name: admins
    from: http://admins.test
    to: \${UPSTREAM}
    policy: { allow: [ { groups: [admins] } ] }`,
  });
}, 60_000);
afterAll(async () => {
  await t?.stop();
});

/** Sign the account in through the real provider and return its session cookie. */
async function sessionOf(u: DemoUser): Promise<string> {
  const browser = t.env.browser();
  const page = await browser.signIn(t.env.appUrl('/'), { username: u.id, password: u.password });
  expect(page.status).toBe(200);
  return `portcullis=${browser.jar.get('portcullis')}`;
}

async function statusOn(host: string, cookie: string): Promise<number> {
  const r = await get({ ...t, cookie }, '/', [], host);
  if (r.status !== 200) expect(r.upstream).toHaveLength(0);
  return r.status;
}

describe('email and domain allow lists with addresses a provider issued', () => {
  it('the controls: alice passes the domain, the address and the group lists; carol (another domain) does not', async () => {
    expect(await statusOn('domain.test', t.cookie)).toBe(200);
    expect(await statusOn('people.test', t.cookie)).toBe(200);
    expect(await statusOn('admins.test', t.cookie)).toBe(200);
    const carol = await sessionOf(defaultDemoUsers.find((u) => u.id === 'carol')!);
    expect(await statusOn('domain.test', carol)).toBe(403);
  });

  it.each(attackers.filter((u) => !u.id.startsWith('group')).map((u) => [u.id, u.email, u] as const))('%s (%s) passes neither email_domains: [example.com] nor emails: [alice@example.com]', async (_id, _email, u) => {
    const cookie = await sessionOf(u);
    expect(await statusOn('domain.test', cookie)).toBe(403);
    expect(await statusOn('people.test', cookie)).toBe(403);
  });

  it('an unverified alice@example.com in the admins group passes no email rule (the group rule is about groups only)', async () => {
    const cookie = await sessionOf(attackers.find((u) => u.id === 'unverified')!);
    expect(await statusOn('people.test', cookie)).toBe(403);
    expect(await statusOn('domain.test', cookie)).toBe(403);
  });
});

describe('group allow lists with groups a provider issued', () => {
  it.each(attackers.filter((u) => u.id.startsWith('group')).map((u) => [u.id, JSON.stringify(u.groups), u] as const))('%s %s is not in the admins group', async (_id, _groups, u) => {
    expect(await statusOn('admins.test', await sessionOf(u))).toBe(403);
  });
});

describe('group and email claims of unexpected types', () => {
  const policy = compileStandalonePolicy({ allow: [{ groups: ['admins'] }, { email_domains: ['example.com'] }] }, { name: 'typed' });
  const settings = { emailClaim: 'email', groupsClaim: 'groups' };
  const decide = (claims: Record<string, unknown>) => {
    const session = sessionFromClaims({ sub: 'eve', ...claims }, {}, settings, Date.now());
    return evaluate(policy, { now: Date.now(), request: { method: 'GET', path: '/', clientIp: '127.0.0.1' }, user: userFactsFromSession(session) }).allow;
  };

  it('the control: a plain array with admins, or a verified example.com address, is allowed', () => {
    expect(decide({ groups: ['admins'] })).toBe(true);
    expect(decide({ email: 'eve@example.com', email_verified: true })).toBe(true);
  });

  it.each([
    ['an object', { admins: true }],
    ['a nested array', [['admins']]],
    ['a number', 1],
    ['a boolean', true],
    ['null inside an array', [null, { name: 'admins' }]],
    ['a comma-separated string', 'admins,finance'],
    ['a space-separated string', 'finance admins'],
    ['an object with toString', { toString: (): string => 'admins' }],
  ])('groups as %s do not make the user an admin', (_name, groups) => {
    expect(decide({ groups })).toBe(false);
  });

  it.each([
    ['email_verified as the string "true"', { email: 'eve@example.com', email_verified: 'true' }],
    ['email_verified as 1', { email: 'eve@example.com', email_verified: 1 }],
    ['email as an array', { email: ['eve@example.com'], email_verified: true }],
    ['email as an object', { email: { toString: (): string => 'eve@example.com' }, email_verified: true }],
  ])('%s does not pass email_domains', (_name, claims) => {
    expect(decide(claims)).toBe(false);
  });
});
