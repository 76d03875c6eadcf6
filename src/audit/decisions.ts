// The decision log: one JSON line per policy decision, with allow-listed fields
// only (documented in docs/audit-log.md so a SIEM can parse them). Never a token,
// a cookie or a header map.
import { flatText, jsonString, lineFields, writePreserialized, type Logger } from '../log.ts';
import type { Decision } from '../policy/evaluate.ts';
import type { Reason } from '../policy/reasons.ts';

export interface DecisionContext {
  readonly requestId: string;
  /** requestId as JSON, when the request's access line has it made already */
  readonly requestIdJson?: string | undefined;
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
  /**
   * The session object sub and email come from: the line's identity fields are serialized once
   * per session object (the session cache hands out the same one for a second at a time).
   */
  readonly sessionData?: object;
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

/** An object's fields as JSON.stringify writes them, without the braces; '' when every field is undefined. */
const fieldsOf = (record: object): string => JSON.stringify(record).slice(1, -1);

/**
 * decisionRecord(...) as JSON.stringify writes it, without the braces (a unit test checks the
 * two agree). Most of a line is the same on every request of a session to a route: the route,
 * policy, rule and reasons are serialized once per compiled rule, and the user, email,
 * session, device and posture once per session object. Only the request's own fields are
 * serialized each time. (JSON.stringify of the whole record costs about 13,000 instructions;
 * npm run bench:instructions.) A step-up or a shadow decision, both rare, take the plain way.
 */
export function decisionFields(c: DecisionContext, decision: Decision, shadow?: Decision): string {
  if (shadow !== undefined || decision.stepUp !== undefined) {
    const after = fieldsOf(tail(c, decision, shadow));
    return fieldsOf(head(c, decision)) + ',"reasons":' + reasonListJson(decision.reasons) + (after ? ',' + after : '');
  }
  let line = '"type":"decision","request_id":' + (c.requestIdJson ?? jsonString(c.requestId)) + ruleFields(c.route, decision) + identityFields(c) + lineFields.clientIp.of(c.clientIp);
  if (c.country !== undefined) line += ',"country":' + jsonString(c.country);
  line += lineFields.method.of(c.method) + lineFields.host.of(c.host) + lineFields.path.of(c.path);
  if (c.websocket !== undefined) line += ',"websocket":' + c.websocket;
  if (decision.error !== undefined) line += ',"error":' + jsonString(decision.error);
  return line;
}

interface RuleFields {
  readonly route: string;
  readonly policy: string;
  readonly rule: string | undefined;
  readonly allow: boolean;
  /** ',"route":...,"policy":...,"rule":...,"decision":...,"reasons":[...]' */
  readonly json: string;
}

// Keyed by a rule's compiled (frozen) reasons, which every decision by that rule carries.
const ruleFieldsByReasons = new WeakMap<readonly Reason[], RuleFields>();

function ruleFields(route: string, d: Decision): string {
  const known = ruleFieldsByReasons.get(d.reasons);
  if (known !== undefined && known.route === route && known.policy === d.policy && known.rule === d.rule && known.allow === d.allow) return known.json;
  const json = ',' + fieldsOf({ route, policy: d.policy, rule: d.rule, decision: d.allow ? 'allow' : 'deny' }) + ',"reasons":' + reasonListJson(d.reasons);
  if (!Object.isFrozen(d.reasons)) return json;
  // Kept for every decision of the rule: one flat piece of each line.
  const kept = { route, policy: d.policy, rule: d.rule, allow: d.allow, json: flatText(json) };
  ruleFieldsByReasons.set(d.reasons, kept);
  return kept.json;
}

interface IdentityFields {
  readonly sub: string | undefined;
  readonly email: string | undefined;
  readonly sessionId: string | undefined;
  readonly deviceId: string | undefined;
  readonly posture: string;
  /** ',"user":...,"email":...,"session":...,"device_id":...,"posture":...' */
  readonly json: string;
}

const identityFieldsBySession = new WeakMap<object, IdentityFields>();

function identityFields(c: DecisionContext): string {
  const known = c.sessionData && identityFieldsBySession.get(c.sessionData);
  if (known !== undefined && known.sub === c.sub && known.email === c.email && known.sessionId === c.sessionId && known.deviceId === c.deviceId && known.posture === c.posture) return known.json;
  const fields = fieldsOf({ user: c.sub, email: c.email, session: c.sessionId?.slice(0, 8), device_id: c.deviceId, posture: c.posture });
  const json = fields ? ',' + fields : '';
  if (!c.sessionData) return json;
  // Kept for the session object's every decision: one flat piece of each line.
  const kept = { sub: c.sub, email: c.email, sessionId: c.sessionId, deviceId: c.deviceId, posture: c.posture, json: flatText(json) };
  identityFieldsBySession.set(c.sessionData, kept);
  return kept.json;
}

export function logDecision(logger: Logger, c: DecisionContext, decision: Decision, shadow?: Decision): void {
  writePreserialized(logger, 'info', decisionFields(c, decision, shadow), decision.allow ? 'allowed' : 'denied');
}
