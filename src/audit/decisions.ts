// The decision log: one JSON line per policy decision, with allow-listed fields
// only (documented in docs/audit-log.md so a SIEM can parse them). Never a token,
// a cookie or a header map.
import { writePreserialized, type Logger } from '../log.ts';
import type { Decision } from '../policy/evaluate.ts';
import type { Reason } from '../policy/reasons.ts';

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

function reasonList(reasons: readonly Reason[]) {
  return reasons.map((r) => ({ criterion: r.criterion, outcome: r.outcome, code: r.code, rule: r.rule }));
}

/** What the shadow policy decided, and what it would have changed. */
function shadowRecord(decision: Decision, shadow: Decision) {
  return { policy: shadow.policy, decision: shadow.allow ? 'allow' : 'deny', would: shadow.allow === decision.allow ? undefined : shadow.allow ? 'allow' : 'deny', reasons: reasonList(shadow.reasons) };
}

/** The documented fields before the reasons, in order. */
function head(c: DecisionContext, decision: Decision) {
  return { type: 'decision', request_id: c.requestId, route: c.route, policy: decision.policy, rule: decision.rule, decision: decision.allow ? 'allow' : 'deny' };
}

/** The documented fields after the reasons, in order. */
function tail(c: DecisionContext, decision: Decision, shadow: Decision | undefined) {
  return {
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

/** The record of one decision line: the documented fields, in order. */
export function decisionRecord(c: DecisionContext, decision: Decision, shadow?: Decision): Record<string, unknown> {
  return { ...head(c, decision), reasons: reasonList(decision.reasons), ...tail(c, decision, shadow) };
}

// An allowed request's reasons are the rule's compiled (frozen) list, the same on every
// request: its JSON is made once.
const reasonsJson = new WeakMap<readonly Reason[], string>();

function reasonListJson(reasons: readonly Reason[]): string {
  let json = reasonsJson.get(reasons);
  if (json === undefined) {
    json = JSON.stringify(reasonList(reasons));
    if (Object.isFrozen(reasons)) reasonsJson.set(reasons, json);
  }
  return json;
}

/**
 * decisionRecord(...) as JSON.stringify writes it, without the braces: the fields before and
 * after the reasons are two flat objects (V8 serializes those faster than the same fields can
 * be joined in JavaScript), the reasons are the cached JSON. A unit test checks the two agree.
 */
export function decisionFields(c: DecisionContext, decision: Decision, shadow?: Decision): string {
  const after = JSON.stringify(tail(c, decision, shadow));
  return JSON.stringify(head(c, decision)).slice(1, -1) + ',"reasons":' + reasonListJson(decision.reasons) + (after.length > 2 ? ',' + after.slice(1, -1) : '');
}

export function logDecision(logger: Logger, c: DecisionContext, decision: Decision, shadow?: Decision): void {
  writePreserialized(logger, 'info', decisionFields(c, decision, shadow), decision.allow ? 'allowed' : 'denied');
}
