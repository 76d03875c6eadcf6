// `portcullis explain` and `portcullis test`, called as functions against real config files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { explain, explainFromArgv } from '../../src/policy/explain.ts';
import { runPolicyTests, runPolicyTestsFromArgv } from '../../src/policy/test-runner.ts';

const example = join(import.meta.dirname, '..', '..', 'config', 'policy-tests.example.yaml');
let dir: string;
let configFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-policy-'));
  // The example's in-place config, as a config file of its own.
  const config = (parseDocument(readFileSync(example, 'utf8')).toJS() as { config: unknown }).config;
  configFile = join(dir, 'portcullis.yaml');
  writeFileSync(configFile, stringify(config));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const monday = '2026-03-30T09:15:00+02:00';
const anna = ['--user', 'u-anna', '--groups', 'finance', '--device', '{"managed":true,"disk_encrypted":true,"os":"macos","os_version":"14.5"}', '--ip', '10.1.1.1', '--country', 'DE', '--time', monday];

describe('portcullis explain', () => {
  it('allows with exit 0 and prints route, policy, decision and reasons', () => {
    const r = explainFromArgv(['--config', configFile, '--url', 'https://payroll.example.com/payslips', ...anna, '--amr', 'pwd,otp']);
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain('route:    payroll (https://payroll.example.com -> http://10.0.3.4:8080)');
    expect(r.output).toContain('policy:   finance-staff');
    expect(r.output).toContain('decision: ALLOW (rule finance-on-managed-mac-or-pc)');
    expect(r.output).toMatch(/pass +\[finance-on-managed-mac-or-pc\] groups groups-ok/);
  });

  it('denies with exit 1 and a step-up hint when only the second factor is missing', () => {
    const r = explainFromArgv(['--config', configFile, '--url', 'https://payroll.example.com/', ...anna, '--amr', 'pwd']);
    expect(r.exitCode).toBe(1);
    expect(r.output).toContain('decision: DENY');
    expect(r.output).toMatch(/FAIL +\[finance-on-managed-mac-or-pc\] mfa mfa-required/);
    expect(r.output).toContain('step-up:  a new sign-in would allow this: prompt=login');
  });

  it('shows the shadow policy\'s decision without enforcing it', () => {
    const r = explainFromArgv(['--config', configFile, '--url', 'https://wiki.example.com/', '--user', 'u-bob', '--email', 'bob@example.com', '--email-verified']);
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain('shadow:   wiki-strict would DENY (not enforced)');
  });

  it('prints JSON with --json', () => {
    const r = explainFromArgv(['--config', configFile, '--url', 'https://wiki.example.com/admin', '--user', 'u-bob', '--email', 'bob@example.com', '--email-verified', '--json']);
    expect(r.exitCode).toBe(1);
    const out = JSON.parse(r.output);
    expect(out.route).toBe('wiki');
    expect(out.decision.reasons.map((x: { code: string }) => x.code)).toEqual(['deny-rule-matched', 'path-denied', 'not-groups-denied']);
  });

  it('treats a URL no route serves as a denial, and a public route as allowed', () => {
    expect(explain({ config: configFile, url: 'https://nowhere.example.com/' }).exitCode).toBe(1);
    expect(explain({ config: configFile, url: 'https://status.example.com/' })).toMatchObject({ exitCode: 0, output: expect.stringContaining('route-public') });
  });

  it('uses the injected clock when --time is absent', () => {
    const sunday = Date.parse('2026-03-29T12:00:00+02:00');
    const r = explain({ config: configFile, url: 'https://payroll.example.com/', user: 'u-anna', groups: 'finance', amr: 'mfa', device: '{"managed":true,"disk_encrypted":true,"os":"macos","os_version":"15.0"}', ip: '10.1.1.1', country: 'DE' }, { now: () => sunday });
    expect(r.exitCode).toBe(1);
    expect(r.output).toContain('time-outside-window');
  });

  it.each<[string, string[], RegExp]>([
    ['no --config', ['--url', 'https://a.example.com/'], /give --config FILE and --url URL/],
    ['an unknown option', ['--config', 'x', '--url', 'https://a/', '--colour'], /Unknown option/],
    ['bad --claims JSON', ['--user', 'u', '--claims', '{nope'], /--claims is not valid JSON/],
    ['a --device that is not an object', ['--device', '[1]'], /--device must be a JSON object/],
    ['a bad --time', ['--time', 'tomorrow'], /--time "tomorrow" is not an ISO 8601 time/],
    ['a bad --ip', ['--ip', '10.0.0.999'], /--ip "10.0.0.999" is not an IPv4 or IPv6 address/],
    ['user options without --user', ['--groups', 'finance'], /give --user SUB/],
    ['a URL that is not absolute', ['--url', 'payroll.example.com/'], /not an absolute http\(s\) URL/],
    ['a path Portcullis refuses', ['--url', 'https://payroll.example.com/a/%2e%2e/b'], /would refuse/],
  ])('exits 2 for %s', (_, args, message) => {
    // The first two cases are complete command lines; the others add to a valid one (a repeated --url wins).
    const complete = args.includes('--config') || _ === 'no --config';
    const argv = complete ? args : ['--config', configFile, '--url', 'https://payroll.example.com/', ...args];
    const r = explainFromArgv(argv);
    expect(r.exitCode).toBe(2);
    expect(r.output).toMatch(message);
  });

  it('exits 2 and lists every problem of an invalid config, with lines', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(configFile, 'utf8').replace('10.0.0.0/8', '10.0.0.0/88').replace('policy: finance-staff', 'policy: finance-stuff').replace('client_id: portcullis', 'client_id: portcullis\n  client_idd: x'));
    const r = explain({ config: bad, url: 'https://payroll.example.com/' });
    expect(r.exitCode).toBe(2);
    // Schema problems are all reported together; cross-references are checked once the schema passes.
    expect(r.output).toMatch(/\d+ problems?/);
    expect(r.output).toMatch(/bad\.yaml:\d+:\d+: identity_provider\.client_idd: unknown key/);
    writeFileSync(bad, readFileSync(configFile, 'utf8').replace('10.0.0.0/8', '10.0.0.0/88').replace('policy: finance-staff', 'policy: finance-stuff'));
    const again = explain({ config: bad, url: 'https://payroll.example.com/' });
    expect(again.exitCode).toBe(2);
    expect(again.output).toContain('2 problems');
    expect(again.output).toMatch(/bad\.yaml:\d+:\d+: networks\.corp\[0\]: "10\.0\.0\.0\/88"/);
    expect(again.output).toMatch(/bad\.yaml:\d+:\d+: routes\[0\]\.policy: unknown policy "finance-stuff"/);
  });
});

describe('portcullis test', () => {
  it('the example test file passes', () => {
    const r = runPolicyTests(example);
    expect(r.output).not.toContain('FAIL');
    expect(r.exitCode).toBe(0);
    expect(r.output).toMatch(/^\d+ passed, 0 failed$/m);
  });

  it('prints a FAIL line with the reasons and exits 1 when a case fails', () => {
    const file = join(dir, 'failing.yaml');
    writeFileSync(file, stringify({
      config: 'portcullis.yaml',
      time: '2026-03-30T09:15:00+02:00',
      cases: [
        { name: 'wiki for example.com', url: 'https://wiki.example.com/', user: { sub: 'u1', email: 'a@example.com', email_verified: true }, expect: 'allow' },
        { name: 'wrongly expected allow', url: 'https://wiki.example.com/', user: { sub: 'u2', email: 'a@evil.com', email_verified: true }, expect: 'allow' },
        { name: 'wrong reason code', url: 'https://wiki.example.com/', user: { sub: 'u2', email: 'a@evil.com', email_verified: true }, expect: 'deny', reasons: ['groups-unauthorized'] },
      ],
    }));
    const r = runPolicyTests(file);
    expect(r.exitCode).toBe(1);
    expect(r.output).toContain('PASS  wiki for example.com');
    expect(r.output).toContain('FAIL  wrongly expected allow: expected allow, got deny');
    expect(r.output).toContain('email-domain-unauthorized');
    expect(r.output).toContain('FAIL  wrong reason code: missing reason code groups-unauthorized');
    expect(r.output).toMatch(/^1 passed, 2 failed$/m);
  });

  it.each<[string, string, RegExp]>([
    ['an unknown key in a case', 'config: portcullis.yaml\ncases:\n  - { name: x, url: "https://a/", expect: allow, expct: deny }\n', /cases\[0\]: unknown key expct/],
    ['a bad expectation', 'config: portcullis.yaml\ncases:\n  - { name: x, url: "https://a/", expect: maybe }\n', /cases\[0\]\.expect/],
    ['a missing config', 'config: nowhere.yaml\ncases:\n  - { name: x, url: "https://a/", expect: allow }\n', /cannot read the file/],
    ['broken YAML', 'config: [\n', /./],
  ])('exits 2 for %s', (_, text, message) => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, text);
    const r = runPolicyTests(file);
    expect(r.exitCode).toBe(2);
    expect(r.output).toMatch(message);
  });

  it('needs exactly one file argument', () => {
    expect(runPolicyTestsFromArgv([]).exitCode).toBe(2);
    expect(runPolicyTestsFromArgv(['a', 'b']).exitCode).toBe(2);
  });
});
