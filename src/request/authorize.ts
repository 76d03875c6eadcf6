// Session -> facts -> decision, for plain requests and WebSockets alike (and for
// the periodic re-check of open WebSockets). The decision itself is the pure
// src/policy/evaluate.ts; this file gathers its facts and logs it.
import type { IncomingMessage } from 'node:http';
import type { CompiledConfig, CompiledRoute } from '../config/compile.ts';
import type { Logger } from '../log.ts';
import type { Auth, AuthResult, StepUp } from '../auth/auth.ts';
import type { SessionData } from '../auth/session-data.ts';
import type { RequestFacts } from './handle.ts';
import { evaluateRoute, type Decision } from '../policy/evaluate.ts';
import { userFactsFromSession, type Facts } from '../policy/facts.ts';
import type { Reason } from '../policy/reasons.ts';
import { checkDeviceBinding, type DeviceFacts } from '../posture/index.ts';
import { logDecision, type DecisionContext } from '../audit/decisions.ts';
import { isPromise, type MaybePromise } from '../maybe-promise.ts';
import { requestCountry } from '../geo/country.ts';

export type Access =
  | { readonly kind: 'allow'; readonly id: string; readonly ticket: string; readonly session: SessionData; readonly decision: Decision }
  | { readonly kind: 'login'; readonly reason: string; readonly stepUp?: StepUp }
  | { readonly kind: 'deny'; readonly decision: Decision; readonly session: SessionData }
  | { readonly kind: 'unavailable'; readonly code: 'session_store_unavailable' | 'idp_unavailable'; readonly reason: string };

type Authenticated = Extract<AuthResult, { kind: 'ok' }>;

/** A step-up sign-in this recent that still fails a step-up criterion did not deliver: refuse instead of looping. */
const STEP_UP_LOOP_GUARD_MS = 60_000;

export interface AuthorizeInput {
  readonly req: IncomingMessage;
  readonly facts: RequestFacts;
  readonly route: CompiledRoute;
  readonly config: CompiledConfig;
  readonly auth: Auth;
  readonly requestId: string;
  /** the request id as JSON, when the caller has it already (its access line shares it) */
  readonly requestIdJson?: string;
  readonly logger: Logger;
  readonly websocket?: boolean;
}

/**
 * Authenticate, gather the facts, decide, log. Synchronous when the session and the posture
 * verification are cached in this process (nearly every request); a promise when either
 * needs I/O. Either way it never resolves to "allow" on an error: exceptions propagate.
 */
export function authorize(input: AuthorizeInput): MaybePromise<Access> {
  const result = input.auth.authenticate(input.req);
  return isPromise(result) ? result.then((r) => withSession(input, r)) : withSession(input, result);
}

function withSession(input: AuthorizeInput, result: AuthResult): MaybePromise<Access> {
  if (result.kind !== 'ok') return result;
  const now = Date.now();
  const posture = input.config.posture;
  if (!posture) return decide(input, result, now, undefined);
  const { session } = result;
  // The session itself as the user: the verifier remembers its last verification per user object.
  const device = posture.verify(input.req.headers, session, input.facts.peerTrusted, now);
  return isPromise(device) ? device.then((d) => decide(input, result, now, d)) : decide(input, result, now, device);
}

function decide(input: AuthorizeInput, authenticated: Authenticated, now: number, device: DeviceFacts | undefined): MaybePromise<Access> {
  const { req, facts, route, config, auth, requestId, logger } = input;
  const { session, id, ticket } = authenticated;
  if (device && !device.ok && device.code === 'posture-untrusted-headers') {
    logger.warn({ type: 'posture', request_id: requestId, client_ip: facts.clientIp, peer: facts.peer }, 'device posture headers from an untrusted peer were ignored');
  }
  // A trusted proxy's country header first, then the geo database on the (trusted-proxy-aware) client address.
  const country = requestCountry(req.headers, facts, config.geo);
  const context = {
    requestId,
    requestIdJson: input.requestIdJson,
    route: route.name,
    method: req.method ?? '',
    host: facts.host,
    path: facts.path,
    clientIp: facts.clientIp,
    country,
    sub: session.sub,
    email: session.email,
    sessionId: id,
    deviceId: device?.ok ? device.claims.device_id : session.deviceId,
    posture: device === undefined ? 'not configured' : device.ok ? 'verified' : device.code,
    websocket: input.websocket,
    sessionData: session,
  };

  if (config.posture?.sessionBinding && device) {
    const binding = checkDeviceBinding(session.deviceId, device);
    if (!binding.ok) {
      const decision = bindingDenial(route, binding.reason);
      logDecision(logger, context, decision);
      logger.warn({ type: 'session', event: 'device_mismatch', request_id: requestId, session: id.slice(0, 8), sub: session.sub, bound_device: session.deviceId, device_id: device.ok ? device.claims.device_id : undefined }, 'session used from another device');
      return { kind: 'deny', decision, session };
    }
    // The first verified device of a session is recorded before the decision (once per session).
    if (binding.bindDeviceId) {
      return auth
        .bindDevice(ticket, session, binding.bindDeviceId)
        .catch(() => {})
        .then(() => evaluateAndLog(input, authenticated, now, device, country, context));
    }
  }
  return evaluateAndLog(input, authenticated, now, device, country, context);
}

function evaluateAndLog(input: AuthorizeInput, { session, id, ticket }: Authenticated, now: number, device: DeviceFacts | undefined, country: string | undefined, context: DecisionContext): Access {
  const { req, facts, route, auth, logger } = input;
  const policyFacts: Facts = {
    now,
    request: { method: req.method ?? '', path: facts.path, clientIp: facts.clientIp, country },
    user: userFactsFromSession(session),
    device: device === undefined ? undefined : device.ok ? { ok: true, claims: device.claims } : { ok: false, reason: device.reason },
  };
  const { decision, shadow } = evaluateRoute(route.policy!, policyFacts);
  logDecision(logger, context, decision, shadow);
  if (decision.allow) return { kind: 'allow', id, ticket, session, decision };
  const justSteppedUp = session.stepUpAt !== undefined && now - session.stepUpAt < STEP_UP_LOOP_GUARD_MS;
  if (decision.stepUp && !justSteppedUp) {
    // Providers are asked for MFA through acr_values; which values mean MFA is provider-specific.
    const mfaAcr = decision.stepUp.mfaMethods && auth.components.settings.idp.mfaAcrValues.length ? auth.components.settings.idp.mfaAcrValues : undefined;
    const acrValues = decision.stepUp.acrValues ?? mfaAcr;
    return { kind: 'login', reason: 'policy needs a stronger or more recent sign-in', stepUp: { ...(acrValues ? { acrValues } : {}), maxAgeS: decision.stepUp.maxAgeSeconds ?? (acrValues ? undefined : 0) } };
  }
  return { kind: 'deny', decision, session };
}

function bindingDenial(route: CompiledRoute, message: string): Decision {
  const reason: Reason = { criterion: 'device', outcome: 'fail', code: 'device-session-mismatch' as `${string}-denied`, message };
  return { allow: false, policy: route.policy?.policy.name ?? route.name, reasons: [reason] };
}
