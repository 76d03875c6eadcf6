// The decision line is built as a string (it is written for every protected request); it
// must be exactly what JSON.stringify, and pino, would make of the documented record.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decisionFields, decisionRecord, logDecision, type DecisionContext } from '../../src/audit/decisions.ts';
import type { Decision } from '../../src/policy/evaluate.ts';
import type { Reason } from '../../src/policy/reasons.ts';
import { LastJsonField, createLogger, flatText, jsonString } from '../../src/log.ts';
import fc from 'fast-check';
import { tempDir } from '../helpers/servers.ts';
import { comparedWithPino } from '../helpers/pino-reference.ts';

const compiled: readonly Reason[] = Object.freeze([
  Object.freeze({ criterion: 'groups', outcome: 'pass' as const, code: 'groups-ok', message: 'In a group.', rule: 'staff' }),
  Object.freeze({ criterion: 'device', outcome: 'pass' as const, code: 'device-ok', message: 'Managed.', rule: 'staff' }),
]);

const base: DecisionContext = {
  requestId: 'd06cb9de-ae4c-4804-ba6f-2309cf405c28',
  route: 'app',
  method: 'GET',
  host: 'app.example.com',
  path: '/reports',
  clientIp: '10.1.2.3',
  country: 'DE',
  sub: 'alice',
  email: 'alice@example.com',
  sessionId: 'abcdefgh12345678',
  deviceId: 'laptop-1',
  posture: 'verified',
};

const allow: Decision = { allow: true, policy: 'staff-only', rule: 'staff', reasons: compiled };
const deny: Decision = {
  allow: false,
  policy: 'staff-only',
  reasons: [{ criterion: 'groups', outcome: 'fail', code: 'groups-unauthorized', message: 'Not in "staff".', rule: 'staff' }, { criterion: 'time', outcome: 'unknown', code: 'time-unknown', message: 'x' }],
  stepUp: { prompt: 'login', maxAgeSeconds: 0 },
  error: 'boom "quoted"',
};

const aliceSession = {};
const denyWithoutStepUp: Decision = { allow: false, policy: 'staff-only', reasons: [{ criterion: 'groups', outcome: 'fail', code: 'groups-unauthorized', message: 'x', rule: 'staff' }] };

const cases: [string, DecisionContext, Decision, Decision?][] = [
  ['an allow with every field', base, allow],
  ['the same allow again (its reasons from the cache)', base, allow],
  ['a denial with step-up and an error', base, deny],
  ['nobody signed in: user, email, session, device and country absent', { ...base, sub: undefined, email: undefined, sessionId: undefined, deviceId: undefined, country: undefined }, deny],
  ['a WebSocket re-check', { ...base, websocket: true }, allow],
  ['websocket: false is written, not left out', { ...base, websocket: false }, allow],
  ['a shadow policy that would deny', base, allow, { ...deny, policy: 'stricter' }],
  ['a shadow policy that agrees', base, allow, { ...allow, policy: 'same' }],
  ['text that JSON must escape', { ...base, path: '/a"b\\c\u0001\u2028é\ud83d\ude00\ud800', host: 'h\tx', email: 'é@example.com' }, allow],
  ['a session object, first seen', { ...base, sessionData: aliceSession }, allow],
  ['the same session object again (its identity fields remembered)', { ...base, sessionData: aliceSession, requestId: 'second' }, allow],
  ['the same session object from another device, posture failed', { ...base, sessionData: aliceSession, deviceId: 'laptop-2', posture: 'posture-expired' }, allow],
  ['the same session object under another ticket', { ...base, sessionData: aliceSession, sessionId: 'zyxwvuts12345678' }, allow],
  ['the same rule for another route', { ...base, route: 'other-app' }, allow],
  ['a denial without step-up, for the same session object', { ...base, sessionData: aliceSession }, denyWithoutStepUp],
  ['a denial with the same reasons from another policy', base, { ...denyWithoutStepUp, policy: 'other' }],
  ['no country, a WebSocket and an error', { ...base, country: undefined, websocket: true, sessionData: aliceSession }, { ...denyWithoutStepUp, error: 'boom' }],
  ['the request id quoted by the caller already', { ...base, requestId: 'third', requestIdJson: '"third"' }, allow],
  ['a request id that JSON escapes', { ...base, requestId: 'a"b\\c' }, allow],
];

describe('the decision line', () => {
  it.each(cases)('%s: the fields are JSON.stringify of the documented record', (_name, c, decision, shadow) => {
    const fields = decisionFields(c, decision, shadow);
    expect(`{${fields}}`).toBe(JSON.stringify(decisionRecord(c, decision, shadow)));
    expect(JSON.parse(`{${fields}}`)).toMatchObject({ type: 'decision', decision: decision.allow ? 'allow' : 'deny' });
  });

  it('is written as the line pino would write for the record', async () => {
    const { logger, reference, ours, theirs } = comparedWithPino();
    for (const [, c, decision, shadow] of cases) {
      logDecision(logger, c, decision, shadow);
      reference.info(decisionRecord(c, decision, shadow), decision.allow ? 'allowed' : 'denied');
    }
    expect(ours()).toEqual(theirs());
  });

  it('goes through pino for a child logger with a message prefix, and not at all below its level', () => {
    const file = join(tempDir(), 'prefixed.jsonl');
    const logger = createLogger({ level: 'info', destination: file, sync: true });
    logDecision(logger.child({ component: 'x' }, { msgPrefix: '[audit] ' }), base, allow);
    logDecision(createLogger({ level: 'warn', destination: file, sync: true }), base, deny);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: '[audit] allowed', component: 'x', type: 'decision', request_id: base.requestId, reasons: [{ code: 'groups-ok' }, { code: 'device-ok' }] });
  });
});

describe('lines written from pre-serialized fields', () => {
  it("follow a level change on a logger already used, and carry a child's bindings", () => {
    const file = join(tempDir(), 'levels.jsonl');
    const logger = createLogger({ level: 'info', destination: file, sync: true });
    const child = logger.child({ component: 'audit' });
    logDecision(child, base, allow);
    child.level = 'warn';
    logDecision(child, base, allow); // info, below warn: not written
    child.level = 'info';
    logDecision(child, { ...base, requestId: 'third' }, allow);
    logDecision(logger, { ...base, requestId: 'parent' }, allow);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.request_id, l.component])).toEqual([[base.requestId, 'audit'], ['third', 'audit'], ['parent', undefined]]);
  });
});

describe('LastJsonField', () => {
  it('is the key and jsonString of whatever it is given, repeated values and new ones in any order', () => {
    fc.assert(
      fc.property(fc.constantFrom(',"host":', ',"client_ip":'), fc.array(fc.oneof(fc.constantFrom('', 'GET', 'a"b', '\u0000', 'app.test'), fc.string(), fc.string({ unit: 'binary' })), { maxLength: 30 }), (key, values) => {
        const slot = new LastJsonField(key);
        for (const v of values) expect(slot.of(v)).toBe(key + JSON.stringify(v));
      }),
    );
  });
});

describe('flatText', () => {
  it('is the same text, whatever it holds', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'binary' }), (a, b) => {
        expect(flatText(a + b)).toBe(a + b);
      }),
    );
    expect(flatText('lone \ud800 surrogate and a pair \ud83d\ude00')).toBe('lone \ud800 surrogate and a pair \ud83d\ude00');
  });
});

describe('jsonString', () => {
  it.each(['plain', '', 'quote " and backslash \\', 'tab\tnewline\n', '\u2028\u2029', 'é ü ß', '\ud83d\ude00', 'lone \ud800 surrogate', '\u007f'])('writes %j as JSON.stringify does', (text) => {
    expect(jsonString(text)).toBe(JSON.stringify(text));
  });
});
