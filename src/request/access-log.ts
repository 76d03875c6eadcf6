// The access line: one per request, written when the response is done. Documented fields
// (README, Logs).
import type { RequestRecord } from './context.ts';
import { flatText, jsonHundredths, jsonNumber, jsonString, lineFields, writePreserialized, type Logger } from '../log.ts';

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
 * JSON.stringify(accessRecord(...)) without the braces, put together field by field: that
 * took about 9,400 instructions per request, and this way a request costs 1-2% fewer in all
 * (npm run bench:instructions, paired). A unit test checks the two agree.
 */
export function accessFields(rec: RequestRecord, durationMs: number): string {
  let fields =
    '"type":"access","request_id":' +
    rec.idJson +
    lineFields.route.of(rec.route) +
    lineFields.method.of(rec.method) +
    lineFields.host.of(rec.host) +
    lineFields.path.of(rec.path) +
    lineFields.clientIp.of(rec.clientIp);
  if (rec.user !== undefined) fields += lineFields.user.of(rec.user);
  fields += statusField(rec.status) + ',"bytes":' + jsonNumber(rec.bytes) + ',"duration_ms":' + jsonHundredths(durationMs);
  if (rec.upstreamMs !== undefined) fields += ',"upstream_ms":' + jsonHundredths(rec.upstreamMs);
  if (rec.error !== undefined) fields += ',"error":' + jsonString(rec.error);
  if (rec.reason !== undefined) fields += ',"reason":' + jsonString(rec.reason);
  return fields;
}

// ',"status":200': one flat piece per status code, made when it is first written.
const statusFields: (string | undefined)[] = Array.from({ length: 1000 }, () => undefined);
function statusField(status: number): string {
  if (!(Number.isInteger(status) && status >= 0 && status < 1000)) return ',"status":' + jsonNumber(status);
  return (statusFields[status] ??= flatText(',"status":' + status));
}

/** The line, handed to the log stream as it is: the log's generic path would walk the record once more to check it. */
export function logAccess(logger: Logger, rec: RequestRecord, durationMs: number): void {
  writePreserialized(logger, 'info', accessFields(rec, durationMs), 'request');
}
