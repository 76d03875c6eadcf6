// Micro-benchmark of policy evaluation: node bench/policy-micro.ts
// A 6-criterion allow rule (groups, mfa, device, network, time, country) behind one deny
// rule, evaluated for an allowed request and for a denied one (which builds reasons).
import { compileStandalonePolicy } from '../src/policy/compile.ts';
import { evaluate } from '../src/policy/evaluate.ts';
import type { Facts } from '../src/policy/facts.ts';

const policy = compileStandalonePolicy(
  {
    allow: [
      {
        groups: ['finance'],
        mfa: true,
        device: { managed: true, disk_encrypted: true, os_min: { macos: '14.4', windows: '10.0.22631' } },
        network: ['corp'],
        time: { days: ['mon-fri'], hours: '07:00-20:00', timezone: 'Europe/Berlin' },
        country: ['DE', 'FR', 'NL'],
      },
    ],
    deny: [{ country: ['KP', 'IR'] }],
  },
  { name: 'finance-staff', networks: { corp: ['10.0.0.0/8', '192.168.10.0/24', '2001:db8::/32'] } },
);

const now = Date.parse('2026-03-30T07:15:00Z');
const allowed: Facts = {
  now,
  request: { method: 'GET', path: '/payslips', clientIp: '10.20.30.40', country: 'DE' },
  user: { sub: 'u-anna', email: 'anna@example.com', emailVerified: true, groups: ['staff', 'finance'], claims: {}, amr: ['pwd', 'otp'], authTime: now / 1000 - 600 },
  device: { ok: true, claims: { managed: true, disk_encrypted: true, os: 'macos', os_version: '14.5' } },
};
const denied: Facts = { ...allowed, user: { ...allowed.user!, amr: ['pwd'] } };

function measure(label: string, facts: Facts, advanceClock: boolean): void {
  const expect = evaluate(policy, facts).allow;
  const rounds = 200_000;
  for (let i = 0; i < 20_000; i++) evaluate(policy, facts); // warm up the JIT
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    // advanceClock: a new minute every 1000 requests, so the time zone offset is recomputed as in production
    const f = advanceClock ? { ...facts, now: facts.now + Math.floor(i / 1000) * 60_000 } : facts;
    if (evaluate(policy, f).allow === expect) sink++;
  }
  const ns = Number(process.hrtime.bigint() - start) / rounds;
  if (sink !== rounds) throw new Error('decision changed during the run');
  console.log(`${label.padEnd(44)} ${(ns / 1000).toFixed(2)} µs/decision  (${Math.round(1e9 / ns).toLocaleString('en')} decisions/s)`);
}

console.log(`node ${process.version}, ${policy.allow[0]!.criteria.length} criteria in the allow rule, 1 deny rule`);
measure('allowed (same minute)', allowed, false);
measure('allowed (clock advancing)', allowed, true);
measure('denied, with reasons and step-up hint', denied, false);
