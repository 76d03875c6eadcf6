// time: days, hours (wrapping midnight), time zone (DST), dates. Time is a fact.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { criterion, facts } from './policy-fixtures.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';

const at = (iso: string) => facts({ now: Date.parse(iso) });
const check = (time: Record<string, unknown>, iso: string) => criterion({ time }).test(at(iso), false);

describe('time: office hours in Berlin', () => {
  const office = { days: ['mon-fri'], hours: '07:00-20:00', timezone: 'Europe/Berlin' };
  it.each<[string, string, string]>([
    ['Monday 09:15 CEST', '2026-03-30T07:15:00Z', 'pass'],
    ['Monday 06:59 CEST', '2026-03-30T04:59:00Z', 'fail'],
    ['Monday 07:00 CEST (start is inclusive)', '2026-03-30T05:00:00Z', 'pass'],
    ['Monday 20:00 CEST (end is exclusive)', '2026-03-30T18:00:00Z', 'fail'],
    ['Friday 19:59 CET', '2026-01-16T18:59:00Z', 'pass'],
    ['Saturday noon', '2026-01-17T11:00:00Z', 'fail'],
    // The same UTC instant is inside in summer and outside in winter: the window follows the wall clock.
    ['05:30 UTC in summer is 07:30 in Berlin', '2026-07-01T05:30:00Z', 'pass'],
    ['05:30 UTC in winter is 06:30 in Berlin', '2026-01-07T05:30:00Z', 'fail'],
  ])('%s', (_, iso, want) => expect(check(office, iso)).toBe(want));
});

describe('time: DST changes in Europe/Berlin', () => {
  // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC). 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00 UTC).
  const early = { hours: '03:00-04:00', timezone: 'Europe/Berlin' };
  it.each<[string, string, string]>([
    ['00:59 UTC on spring-forward day is 01:59 CET', '2026-03-29T00:59:00Z', 'fail'],
    ['01:00 UTC on spring-forward day is 03:00 CEST', '2026-03-29T01:00:00Z', 'pass'],
    ['01:59 UTC on spring-forward day is 03:59 CEST', '2026-03-29T01:59:00Z', 'pass'],
    ['02:00 UTC on spring-forward day is 04:00 CEST', '2026-03-29T02:00:00Z', 'fail'],
    ['00:30 UTC on fall-back day is 02:30 CEST (first pass)', '2026-10-25T00:30:00Z', 'fail'],
    ['01:30 UTC on fall-back day is 02:30 CET (second pass)', '2026-10-25T01:30:00Z', 'fail'],
    ['02:00 UTC on fall-back day is 03:00 CET', '2026-10-25T02:00:00Z', 'pass'],
  ])('%s', (_, iso, want) => expect(check(early, iso)).toBe(want));

  it('the window covering the repeated hour on fall-back day matches both passes', () => {
    const w = { hours: '02:00-03:00', timezone: 'Europe/Berlin' };
    expect(check(w, '2026-10-25T00:30:00Z')).toBe('pass');
    expect(check(w, '2026-10-25T01:30:00Z')).toBe('pass');
    expect(check(w, '2026-10-25T02:00:00Z')).toBe('fail');
  });

  it('a window over the skipped hour still ends on time', () => {
    const w = { hours: '01:30-02:30', timezone: 'Europe/Berlin' };
    expect(check(w, '2026-03-29T00:45:00Z')).toBe('pass'); // 01:45 CET
    expect(check(w, '2026-03-29T01:15:00Z')).toBe('fail'); // 03:15 CEST
  });
});

describe('time: windows across midnight', () => {
  const night = { days: ['fri'], hours: '22:00-06:00', timezone: 'Europe/Berlin' };
  it.each<[string, string, string]>([
    ['Friday 23:00', '2026-01-16T22:00:00Z', 'pass'],
    ['Saturday 02:00 belongs to Friday night', '2026-01-17T01:00:00Z', 'pass'],
    ['Saturday 05:59', '2026-01-17T04:59:00Z', 'pass'],
    ['Saturday 06:00 (end is exclusive)', '2026-01-17T05:00:00Z', 'fail'],
    ['Friday 02:00 belongs to Thursday night', '2026-01-16T01:00:00Z', 'fail'],
    ['Friday 21:59', '2026-01-16T20:59:00Z', 'fail'],
    ['Saturday 23:00', '2026-01-17T22:00:00Z', 'fail'],
  ])('%s', (_, iso, want) => expect(check(night, iso)).toBe(want));

  it('"00:00-24:00" is the whole day', () => {
    expect(check({ hours: '00:00-24:00', days: ['sun'] }, '2026-03-29T23:59:00Z')).toBe('pass');
  });
});

describe('time: dates', () => {
  it.each<[string, Record<string, unknown>, string, string]>([
    ['first local day is inclusive', { from: '2026-04-01', until: '2026-04-30' }, '2026-03-31T22:30:00Z', 'pass'],
    ['before the first local day', { from: '2026-04-01' }, '2026-03-31T21:30:00Z', 'fail'],
    ['last local day is inclusive', { until: '2026-04-30' }, '2026-04-30T21:59:00Z', 'pass'],
    ['after the last local day', { until: '2026-04-30' }, '2026-04-30T22:00:00Z', 'fail'],
    ['an instant "until" is exclusive', { until: '2026-04-30T12:00:00Z' }, '2026-04-30T12:00:00Z', 'fail'],
    ['before an instant "until"', { until: '2026-04-30T12:00:00Z' }, '2026-04-30T11:59:59Z', 'pass'],
  ])('%s', (_, dates, iso, want) => expect(check({ dates, timezone: 'Europe/Berlin' }, iso)).toBe(want));
});

describe('time: validation and unknowns', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unknown zone', { hours: '07:00-20:00', timezone: 'Europe/Atlantis' }, /time\.timezone: "Europe\/Atlantis" is not an IANA time zone/],
    ['hours without minutes', { hours: '7-20' }, /time\.hours: "7-20" is not a time range/],
    ['hour 25', { hours: '07:00-25:00' }, /time\.hours/],
    ['an empty range', { hours: '09:00-09:00' }, /empty range/],
    ['a bad day', { days: ['mon', 'funday'] }, /time\.days\[1\]: "funday" is not a day/],
    ['an impossible date', { dates: { from: '2026-02-30' } }, /time\.dates\.from/],
    ['nothing to check', { timezone: 'UTC' }, /at least one of days, hours or dates/],
  ])('rejects %s', (_, time, message) => {
    expect(() => compileStandalonePolicy({ allow: [{ time }] })).toThrow(message);
  });

  it.each([NaN, Infinity, 1e17, '2026' as unknown as number])('an invalid now (%s) is unknown', (now) => {
    expect(criterion({ time: { hours: '00:00-24:00' } }).test(facts({ now }), false)).toBe('unknown');
  });

  it('explains with the local time seen', () => {
    const r = criterion({ time: { days: ['mon-fri'], hours: '07:00-20:00', timezone: 'Europe/Berlin' } }).explain(at('2026-03-29T09:00:00Z'), 'fail');
    expect(r.code).toBe('time-outside-window');
    expect(r.message).toContain('sun 11:00');
  });

  it('property: a wrapping window is the complement of the reverse window (same zone, every instant)', () => {
    const inside = criterion({ time: { hours: '22:00-06:00', timezone: 'Europe/Berlin' } });
    const outside = criterion({ time: { hours: '06:00-22:00', timezone: 'Europe/Berlin' } });
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('2020-01-01'), max: Date.parse('2030-01-01') }), (now) => {
        expect(inside.test(facts({ now }), false) === 'pass').toBe(outside.test(facts({ now }), false) === 'fail');
      }),
      { numRuns: 2000 },
    );
  });

  it('property: the wall clock matches Intl at any instant', () => {
    const fmt = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    const morning = criterion({ time: { hours: '09:00-12:00', timezone: 'Europe/Berlin' } });
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('2020-01-01'), max: Date.parse('2030-01-01') }), (now) => {
        const [h, m] = fmt.format(now).split(':').map(Number) as [number, number];
        const minute = h * 60 + m;
        expect(morning.test(facts({ now }), false)).toBe(minute >= 540 && minute < 720 ? 'pass' : 'fail');
      }),
      { numRuns: 2000 },
    );
  });
});
