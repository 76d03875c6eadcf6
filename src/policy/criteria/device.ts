// device: { managed, compliant, disk_encrypted, firewall, screen_lock, edr_running,
//           max_risk, os, os_min } — posture claims from a verified device assertion.
// Every listed requirement must hold. No posture, an unverifiable one, or a missing claim
// is unknown (never a pass); a claim of the wrong type or an unreadable version likewise.
//   os:     [macos, windows] the device's os is one of these (lower-case names)
//   os_min: { macos: "14.4" } numeric dotted-version minimum per os. Without `os`, the keys
//           of os_min are also the allowed systems; with `os`, a listed system that has no
//           entry in os_min has no minimum.
import type { Criterion, Report } from './types.ts';
import type { DevicePosture, Facts } from '../facts.ts';
import type { Outcome, ReasonCode } from '../reasons.ts';
import { listWords, quoteFact } from '../reasons.ts';

export interface DeviceRequirements {
  readonly managed?: true;
  readonly compliant?: true;
  readonly disk_encrypted?: true;
  readonly firewall?: true;
  readonly screen_lock?: true;
  readonly edr_running?: true;
  readonly max_risk?: 'low' | 'medium' | 'high';
  readonly os?: readonly string[];
  readonly os_min?: Readonly<Record<string, string>>;
}

const RISK = { low: 0, medium: 1, high: 2 } as const;
const VERSION = /^\d{1,9}(\.\d{1,9})*$/;

/**
 * Compare dotted numeric versions segment by segment; missing segments are 0
 * ("14.4" == "14.4.0" < "14.10"). Both must match VERSION.
 */
export function compareVersions(a: string, b: string): number {
  const x = a.split('.'), y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = Number(x[i] ?? 0) - Number(y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

interface Check {
  readonly need: string;
  readonly code: ReasonCode;
  readonly claim: string;
  test(p: DevicePosture): Outcome;
  /** what the device reported, for a failed check */
  seen(p: DevicePosture): string;
}

function flag(claim: keyof DevicePosture & string, code: ReasonCode, need: string, off: string): Check {
  return {
    need,
    code,
    claim,
    test: (p) => (typeof p[claim] !== 'boolean' ? 'unknown' : p[claim] === true ? 'pass' : 'fail'),
    seen: () => off,
  };
}

function osName(p: DevicePosture): string | undefined {
  return typeof p.os === 'string' && p.os !== '' ? p.os.toLowerCase() : undefined;
}

export function compileDevice(req: DeviceRequirements, report: Report): Criterion {
  const checks: Check[] = [];
  if (req.managed) checks.push(flag('managed', 'device-unmanaged', 'is managed by your organization', 'it is not managed'));
  if (req.compliant) checks.push(flag('compliant', 'device-noncompliant', 'is compliant with the device policy', 'it is not compliant'));
  if (req.disk_encrypted) checks.push(flag('disk_encrypted', 'device-disk-unencrypted', 'has disk encryption on', 'disk encryption off'));
  if (req.firewall) checks.push(flag('firewall', 'device-firewall-off', 'has its firewall on', 'the firewall off'));
  if (req.screen_lock) checks.push(flag('screen_lock', 'device-screen-lock-off', 'has a screen lock', 'no screen lock'));
  if (req.edr_running) checks.push(flag('edr_running', 'device-edr-not-running', 'runs endpoint protection (EDR)', 'endpoint protection not running'));
  if (req.max_risk) {
    const max = RISK[req.max_risk];
    checks.push({
      need: `has a risk level of ${req.max_risk} or lower`,
      code: 'device-risk-too-high',
      claim: 'risk',
      test: (p) => {
        const r = typeof p.risk === 'string' ? RISK[p.risk.toLowerCase() as keyof typeof RISK] : undefined;
        return r === undefined ? 'unknown' : r <= max ? 'pass' : 'fail';
      },
      seen: (p) => `risk level ${quoteFact(p.risk)}`,
    });
  }
  const minimums = new Map<string, string>();
  for (const [os, version] of Object.entries(req.os_min ?? {})) {
    if (typeof version !== 'string' || !VERSION.test(version)) report(['os_min', os], `"${String(version)}" is not a dotted numeric version; quote it, such as "14.4" (unquoted 14.10 would be read as the number 14.1)`);
    else minimums.set(os.toLowerCase(), version);
  }
  const allowedOs = req.os ? new Set(req.os.map((o) => o.toLowerCase())) : req.os_min ? new Set(minimums.keys()) : undefined;
  if (allowedOs) {
    const names = [...allowedOs];
    checks.push({
      need: `runs ${listWords(names)}`,
      code: 'device-os-unsupported',
      claim: 'os',
      test: (p) => {
        const os = osName(p);
        return os === undefined ? 'unknown' : allowedOs.has(os) ? 'pass' : 'fail';
      },
      seen: (p) => `it runs ${quoteFact(p.os)}`,
    });
  }
  if (minimums.size) {
    checks.push({
      need: `runs at least ${listWords([...minimums].map(([os, v]) => `${os} ${v}`))}`,
      code: 'device-os-outdated',
      claim: 'os_version',
      test: (p) => {
        const os = osName(p);
        if (os === undefined) return 'unknown';
        const min = minimums.get(os);
        if (min === undefined) return 'pass'; // the os check above decides whether this system is allowed
        if (typeof p.os_version !== 'string' || !VERSION.test(p.os_version)) return 'unknown';
        return compareVersions(p.os_version, min) >= 0 ? 'pass' : 'fail';
      },
      seen: (p) => `${quoteFact(p.os)} ${quoteFact(p.os_version)}`,
    });
  }
  if (checks.length === 0) report([], 'list at least one device requirement, such as managed: true');

  const needs = `a device that ${listWords(checks.map((c) => c.need), 'and')}`;
  const posture = (facts: Facts): DevicePosture | undefined => {
    const d = facts.device;
    if (!d || typeof d !== 'object' || d.ok !== true || !d.claims || typeof d.claims !== 'object') return undefined;
    return d.claims;
  };

  return {
    name: 'device',
    base: 'device',
    describe: `you use ${needs}`,
    passCode: 'device-ok',
    test(facts) {
      const p = posture(facts);
      if (!p) return 'unknown';
      let unknown = false;
      for (const c of checks) {
        const o = c.test(p);
        if (o === 'fail') return 'fail';
        if (o === 'unknown') unknown = true;
      }
      return unknown ? 'unknown' : 'pass';
    },
    explain(facts) {
      const p = posture(facts);
      if (!p) {
        const d = facts.device;
        const why = d && typeof d === 'object' && d.ok === false ? ` (${quoteFact(d.reason)})` : '';
        return { code: 'device-unknown', message: `This app needs ${needs}, and no verified device information came with your request${why}. Use a device enrolled with your organization.` };
      }
      const failed = checks.filter((c) => c.test(p) === 'fail');
      if (failed.length) return { code: failed[0]!.code, message: `This app needs ${needs}; your device reported ${listWords(failed.map((c) => c.seen(p)), 'and')}.` };
      const missing = checks.filter((c) => c.test(p) === 'unknown').map((c) => c.claim);
      return { code: 'device-claim-missing', message: `This app needs ${needs}; your device did not report ${listWords([...new Set(missing)], 'or')}.` };
    },
  };
}
