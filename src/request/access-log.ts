// The access line: one per request, written when the response is done. Documented fields
// (README, Logs).
import type { RequestRecord } from './context.ts';
import { writePreserialized, type Logger } from '../log.ts';

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

/**
 * One JSON.stringify of the flat record, handed to the log stream as it is: V8 serializes a
 * flat object of strings and numbers faster than the same fields can be put together in
 * JavaScript, and the log's generic path would walk the record once more to check it.
 */
export function logAccess(logger: Logger, rec: RequestRecord, durationMs: number): void {
  writePreserialized(logger, 'info', JSON.stringify(accessRecord(rec, durationMs)).slice(1, -1), 'request');
}
