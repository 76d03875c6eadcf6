// The decision log: one JSON line per policy decision, with allow-listed fields
// only (documented in docs/audit-log.md so a SIEM can parse them). Never a token,
// a cookie or a header map.
import type { Logger } from '../log.ts';
import type { Decision } from '../policy/evaluate.ts';

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

export function logDecision(logger: Logger, c: DecisionContext, decision: Decision, shadow?: Decision): void {
  logger.info(
    {
      type: 'decision',
      request_id: c.requestId,
      route: c.route,
      policy: decision.policy,
      rule: decision.rule,
      decision: decision.allow ? 'allow' : 'deny',
      reasons: reasonList(decision),
      step_up: decision.stepUp ? true : undefined,
      shadow: shadow ? { policy: shadow.policy, decision: shadow.allow ? 'allow' : 'deny', would: shadow.allow === decision.allow ? undefined : shadow.allow ? 'allow' : 'deny', reasons: reasonList(shadow) } : undefined,
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
    },
    decision.allow ? 'allowed' : 'denied',
  );
}
