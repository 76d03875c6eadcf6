// The access line: one per request, written when the response is done. Documented fields
// (README, Logs), built as a string because every request, public or not, writes one.
import type { RequestRecord } from './context.ts';
import { jsonString, writePreserialized, type Logger } from '../log.ts';

const round2 = (ms: number) => Math.round(ms * 100) / 100;

/** The record of one access line: the documented fields, in order. */
export function accessRecord(rec: RequestRecord, durationMs: number): Record<string, unknown> {
  return {
    type: 'access',
    request_id: rec.id,
    route: rec.route,
    method: rec.method,
    host: rec.host,
    path: rec.path,
    client_ip: rec.clientIp,
    user: rec.user,
    status: rec.status,
    bytes: rec.bytes,
    duration_ms: round2(durationMs),
    upstream_ms: rec.upstreamMs === undefined ? undefined : round2(rec.upstreamMs),
    error: rec.error,
    reason: rec.reason,
  };
}

const text = (name: string, value: string | undefined): string => (value === undefined ? '' : `,"${name}":${jsonString(value)}`);
// JSON has no NaN or Infinity: JSON.stringify writes null for them.
const num = (name: string, value: number | undefined): string => (value === undefined ? '' : `,"${name}":${Number.isFinite(value) ? value : 'null'}`);

/** accessRecord(...) as JSON.stringify writes it, without the braces (a unit test checks the two agree). */
export function accessFields(rec: RequestRecord, durationMs: number): string {
  return (
    '"type":"access"' +
    text('request_id', rec.id) +
    text('route', rec.route) +
    text('method', rec.method) +
    text('host', rec.host) +
    text('path', rec.path) +
    text('client_ip', rec.clientIp) +
    text('user', rec.user) +
    num('status', rec.status) +
    num('bytes', rec.bytes) +
    num('duration_ms', round2(durationMs)) +
    num('upstream_ms', rec.upstreamMs === undefined ? undefined : round2(rec.upstreamMs)) +
    text('error', rec.error) +
    text('reason', rec.reason)
  );
}

export function logAccess(logger: Logger, rec: RequestRecord, durationMs: number): void {
  writePreserialized(logger, 'info', accessFields(rec, durationMs), 'request');
}
