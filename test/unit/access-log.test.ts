// The access line skips pino's serializer (every request writes one); it must be exactly
// what pino would write for the documented record.
import { describe, expect, it } from 'vitest';
import { accessFields, accessRecord, logAccess } from '../../src/request/access-log.ts';
import type { RequestRecord } from '../../src/request/context.ts';
import { comparedWithPino } from '../helpers/pino-reference.ts';
import fc from 'fast-check';
import { jsonHundredths, jsonNumber } from '../../src/log.ts';

const served: RequestRecord = { id: 'd06cb9de-ae4c-4804-ba6f-2309cf405c28', idJson: '"d06cb9de-ae4c-4804-ba6f-2309cf405c28"', start: 0, method: 'GET', host: 'app.example.com', path: '/reports', clientIp: '10.1.2.3', user: 'alice', route: 'app', status: 200, bytes: 1227, upstreamMs: 0.123456, error: undefined, reason: undefined };

const cases: [string, RequestRecord, number][] = [
  ['a forwarded request', served, 0.245678],
  ['a public request: no user', { ...served, user: undefined }, 12],
  ['a user id JSON escapes', { ...served, user: 'o"brien\\\u0001é' }, 1],
  ['the same user again, then another', { ...served, user: 'o"brien\\\u0001é' }, 1],
  ['a refusal: no upstream time, an error and a reason', { ...served, upstreamMs: undefined, status: 403, error: 'access_denied', reason: 'groups-unauthorized,device-unknown' }, 1.005],
  ['a target that was refused before routing', { ...served, host: '', route: '', path: '/a"b\\c\u0001é\ud800', method: 'G\tET', upstreamMs: undefined, status: 400, error: 'bad_target', reason: 'path "escapes"' }, 0],
  ['a client that went away: status 0, no bytes', { ...served, status: 0, bytes: 0 }, 30_000.126],
  ['large and odd numbers', { ...served, bytes: 2 ** 53 + 2, upstreamMs: 1e21 }, 1e-7],
  ['a time that is not a number', { ...served, upstreamMs: Number.NaN }, Number.POSITIVE_INFINITY],
];

describe('the access line', () => {
  it('rounds times to hundredths of a millisecond', () => {
    expect(accessRecord(served, 0.245678)).toMatchObject({ duration_ms: 0.25, upstream_ms: 0.12 });
  });

  it('writes numbers and times in hundredths exactly as JSON.stringify does', () => {
    const times = fc.oneof(fc.double(), fc.double({ min: 0, max: 100_000 }), fc.nat().map((n) => n / 100), fc.nat().map((n) => n / 1000 + 0.005), fc.constantFrom(0.005, 0.015, 1.005, 9.995, 99.995, -0, 1e13 - 0.01, 1e13, 1e21));
    fc.assert(
      fc.property(times, (ms) => {
        expect(jsonHundredths(ms)).toBe(JSON.stringify(Math.round(ms * 100) / 100));
        expect(jsonNumber(ms)).toBe(JSON.stringify(ms));
      }),
      { numRuns: 20_000 },
    );
  });

  it.each(cases)('%s: the fields are JSON.stringify of the documented record', (_name, rec, ms) => {
    expect(`{${accessFields(rec, ms)}}`).toBe(JSON.stringify(accessRecord(rec, ms)));
  });

  it('is written as the line pino would write for the record', async () => {
    const { logger, reference, ours, theirs } = comparedWithPino();
    for (const [, rec, ms] of cases) {
      logAccess(logger, rec, ms);
      reference.info(accessRecord(rec, ms), 'request');
    }
    expect(ours()).toEqual(theirs());
  });

  it('lines of requests in flight together each carry their own request id', () => {
    const ids = ['a-1', 'b-2', 'c-3'];
    const lines = [0, 1, 2, 1, 0, 2, 2].map((i) => JSON.parse(`{${accessFields({ ...served, id: ids[i]!, idJson: JSON.stringify(ids[i]) }, 1)}}`) as { request_id: string });
    expect(lines.map((l) => l.request_id)).toEqual(['a-1', 'b-2', 'c-3', 'b-2', 'a-1', 'c-3', 'c-3']);
  });
});
