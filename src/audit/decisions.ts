// The decision log: one JSON line per policy decision, with allow-listed fields
// only (documented in docs/audit-log.md so a SIEM can parse them). Never a token,
// a cookie or a header map.
import type { Logger } from '../log.ts';
import type { Decision } from '../policy/evaluate.ts';
import type { Reason } from '../policy/reasons.ts';
import { jsonString, writePreserialized } from '../log.ts';

export interface DecisionContext {
  readonly requestId: string;
  readonly route: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly clientIp: string;
  readonly country: string | undefined;
  readonly sub: string | undefined;
  readonly email: string | undefined;
  readonly sessionId: string | undefined;
  readonly deviceId: string | undefined;
  /** "verified", "missing", or the failure code of the posture check */
  readonly posture: string;
  readonly websocket?: boolean;
}

function reasonList(d: Decision) {
  return d.reasons.map((r) => ({ criterion: r.criterion, outcome: r.outcome, code: r.code, rule: r.rule }));
}

/** What the shadow policy decided, and what it would have changed. */
function shadowRecord(decision: Decision, shadow: Decision) {
  return { policy: shadow.policy, decision: shadow.allow ? 'allow' : 'deny', would: shadow.allow === decision.allow ? undefined : shadow.allow ? 'allow' : 'deny', reasons: reasonList(shadow) };
}

/** The record of one decision line: the documented fields, in order. */
export function decisionRecord(c: DecisionContext, decision: Decision, shadow?: Decision): Record<string, unknown> {
  return {
    type: 'decision',
    request_id: c.requestId,
    route: c.route,
    policy: decision.policy,
    rule: decision.rule,
    decision: decision.allow ? 'allow' : 'deny',
    reasons: reasonList(decision),
    step_up: decision.stepUp ? true : undefined,
    shadow: shadow ? shadowRecord(decision, shadow) : undefined,
    user: c.sub,
    email: c.email,
    session: c.sessionId?.slice(0, 8),
    device_id: c.deviceId,
    posture: c.posture,
    client_ip: c.clientIp,
    country: c.country,
    method: c.method,
    host: c.host,
    path: c.path,
    websocket: c.websocket,
    error: decision.error,
  };
}

// An allowed request's reasons are the rule's compiled (frozen) list, the same on every
// request: its JSON is made once.
const reasonsJson = new WeakMap<readonly Reason[], string>();

function reasonListJson(reasons: readonly Reason[]): string {
  let json = reasonsJson.get(reasons);
  if (json === undefined) {
    json = JSON.stringify(reasons.map((r) => ({ criterion: r.criterion, outcome: r.outcome, code: r.code, rule: r.rule })));
    if (Object.isFrozen(reasons)) reasonsJson.set(reasons, json);
  }
  return json;
}

/** `,"name":"value"`, or nothing for undefined, as JSON.stringify leaves such a field out. */
const field = (name: string, value: string | undefined): string => (value === undefined ? '' : `,"${name}":${jsonString(value)}`);

/**
 * decisionRecord(...) as JSON.stringify writes it, without the braces, built directly: this
 * line is written for every protected request (a unit test checks the two agree).
 */
export function decisionFields(c: DecisionContext, decision: Decision, shadow?: Decision): string {
  let out = '"type":"decision"' + field('request_id', c.requestId) + field('route', c.route) + field('policy', decision.policy) + field('rule', decision.rule);
  out += decision.allow ? ',"decision":"allow"' : ',"decision":"deny"';
  out += ',"reasons":' + reasonListJson(decision.reasons);
  if (decision.stepUp) out += ',"step_up":true';
  if (shadow) out += ',"shadow":' + JSON.stringify(shadowRecord(decision, shadow));
  out += field('user', c.sub) + field('email', c.email) + field('session', c.sessionId?.slice(0, 8)) + field('device_id', c.deviceId) + field('posture', c.posture);
  out += field('client_ip', c.clientIp) + field('country', c.country) + field('method', c.method) + field('host', c.host) + field('path', c.path);
  if (c.websocket !== undefined) out += `,"websocket":${c.websocket}`;
  return out + field('error', decision.error);
}

export function logDecision(logger: Logger, c: DecisionContext, decision: Decision, shadow?: Decision): void {
  writePreserialized(logger, 'info', decisionFields(c, decision, shadow), decision.allow ? 'allowed' : 'denied');
}
