// time: { days, hours, timezone, dates } — when the request may happen, on the wall clock
// of one IANA time zone (default UTC), so "07:00-20:00 Europe/Berlin" means the same local
// hours in winter and summer. The time is a fact (facts.now), never read from a clock.
//   days:  [mon, tue] or ranges [mon-fri]
//   hours: "HH:MM-HH:MM", start inclusive, end exclusive; "22:00-06:00" wraps midnight and
//          the part after midnight belongs to the day the window started (a "fri" night
//          shift includes Saturday 02:00); "00:00-24:00" is the whole day
//   dates: { from, until } local dates "YYYY-MM-DD" (both inclusive) or instants with an
//          offset ("2026-12-01T09:00:00Z"; until exclusive)
import type { Criterion, Report } from './types.ts';

export interface TimeWindow {
  readonly days?: readonly string[];
  readonly hours?: string;
  readonly timezone?: string;
  readonly dates?: { readonly from?: string; readonly until?: string };
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const MINUTE = 60_000;
const MAX_DATE_MS = 8.64e15;

/** One formatter per zone for the whole process: they are immutable and costly to build. */
const formatters = new Map<string, Intl.DateTimeFormat>();

export function zoneFormatter(timeZone: string): Intl.DateTimeFormat | undefined {
  let f = formatters.get(timeZone);
  if (f) return f;
  try {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', numberingSystem: 'latn' });
  } catch {
    return undefined;
  }
  formatters.set(timeZone, f);
  return f;
}

/** Minutes to add to UTC to get the zone's wall clock at this instant. */
function offsetMinutes(f: Intl.DateTimeFormat, ms: number): number {
  let y = 0, mo = 1, d = 1, h = 0, mi = 0;
  for (const p of f.formatToParts(ms)) {
    if (p.type === 'year') y = Number(p.value);
    else if (p.type === 'month') mo = Number(p.value);
    else if (p.type === 'day') d = Number(p.value);
    else if (p.type === 'hour') h = Number(p.value) % 24;
    else if (p.type === 'minute') mi = Number(p.value);
  }
  return Math.round((Date.UTC(y, mo - 1, d, h, mi) - ms) / MINUTE);
}

function parseClock(text: string, allow24: boolean): number | undefined {
  const m = /^(\d{2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const h = Number(m[1]), mi = Number(m[2]);
  if (h === 24 && mi === 0 && allow24) return 1440;
  return h < 24 && mi < 60 ? h * 60 + mi : undefined;
}

function parseDays(days: readonly string[], report: Report): number {
  let mask = 0;
  days.forEach((text, i) => {
    const [a, b, extra] = text.toLowerCase().split('-');
    const from = DAY_NAMES.indexOf(a as (typeof DAY_NAMES)[number]);
    const to = b === undefined ? from : DAY_NAMES.indexOf(b as (typeof DAY_NAMES)[number]);
    if (from < 0 || to < 0 || extra !== undefined) return report(['days', i], `"${text}" is not a day; write mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri`);
    for (let d = from; ; d = (d + 1) % 7) {
      mask |= 1 << d;
      if (d === to) break;
    }
  });
  return mask;
}

type Bound = { kind: 'day'; day: number } | { kind: 'instant'; ms: number };

function parseBound(text: string, key: 'from' | 'until', report: Report): Bound | undefined {
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (date) {
    const ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    if (new Date(ms).toISOString().slice(0, 10) === text) return { kind: 'day', day: ms / 86_400_000 };
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) && Number.isFinite(Date.parse(text))) {
    return { kind: 'instant', ms: Date.parse(text) };
  }
  report(['dates', key], `"${text}" is not a date; write YYYY-MM-DD (a local date in the rule's time zone) or an instant with an offset such as 2026-12-01T09:00:00Z`);
  return undefined;
}

function clock(minuteOfDay: number): string {
  return `${String(Math.floor(minuteOfDay / 60)).padStart(2, '0')}:${String(minuteOfDay % 60).padStart(2, '0')}`;
}

export function compileTime(w: TimeWindow, report: Report): Criterion {
  const timeZone = w.timezone ?? 'UTC';
  const formatter = zoneFormatter(timeZone);
  if (!formatter) report(['timezone'], `"${timeZone}" is not an IANA time zone such as Europe/Berlin, America/New_York or UTC`);
  if (w.days === undefined && w.hours === undefined && w.dates === undefined) report([], 'give at least one of days, hours or dates');
  const dayMask = w.days ? parseDays(w.days, report) : 0x7f;
  let start = 0, end = 1440;
  if (w.hours !== undefined) {
    const [a = '', b = '', extra] = w.hours.split('-');
    const s = parseClock(a.trim(), false), e = parseClock(b.trim(), true);
    if (s === undefined || e === undefined || extra !== undefined) report(['hours'], `"${w.hours}" is not a time range; write "HH:MM-HH:MM" in 24-hour time, such as "07:00-20:00" or "22:00-06:00" across midnight`);
    else if (s === e) report(['hours'], `"${w.hours}" is an empty range; for the whole day write "00:00-24:00" or leave hours out`);
    else [start, end] = [s, e];
  }
  const wraps = end < start;
  const from = w.dates?.from !== undefined ? parseBound(w.dates.from, 'from', report) : undefined;
  const until = w.dates?.until !== undefined ? parseBound(w.dates.until, 'until', report) : undefined;
  if (w.dates && w.dates.from === undefined && w.dates.until === undefined) report(['dates'], 'give from, until or both');

  const parts: string[] = [];
  if (w.days) parts.push(w.days.join(', '));
  if (w.hours !== undefined) parts.push(`${clock(start)}-${clock(end)}`);
  if (w.dates) parts.push(`${w.dates.from ? `from ${w.dates.from}` : ''}${w.dates.from && w.dates.until ? ' ' : ''}${w.dates.until ? `until ${w.dates.until}` : ''}`);
  const window = `${parts.join(' ')} (${timeZone} time)`;

  // The zone's offset changes only at transitions, which fall on whole minutes: remember the last minute's.
  let cachedMinute = NaN;
  let cachedOffset = 0;
  const localMinute = (now: number): number => {
    const minute = Math.floor(now / MINUTE);
    if (minute !== cachedMinute) {
      cachedOffset = offsetMinutes(formatter!, minute * MINUTE);
      cachedMinute = minute;
    }
    return minute + cachedOffset;
  };

  const check = (now: number): 'pass' | 'fail' | 'unknown' => {
    if (typeof now !== 'number' || !Number.isFinite(now) || Math.abs(now) > MAX_DATE_MS || !formatter) return 'unknown';
    const local = localMinute(now);
    const day = Math.floor(local / 1440);
    const minuteOfDay = local - day * 1440;
    if (from && (from.kind === 'day' ? day < from.day : now < from.ms)) return 'fail';
    if (until && (until.kind === 'day' ? day > until.day : now >= until.ms)) return 'fail';
    let windowDay = day;
    if (wraps) {
      if (minuteOfDay < end) windowDay = day - 1;
      else if (minuteOfDay < start) return 'fail';
    } else if (minuteOfDay < start || minuteOfDay >= end) {
      return 'fail';
    }
    const weekday = (((windowDay + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
    return dayMask & (1 << weekday) ? 'pass' : 'fail';
  };

  return {
    name: 'time',
    base: 'time',
    describe: `the request falls within ${window}`,
    passCode: 'time-ok',
    test: (facts) => check(facts.now),
    explain(facts) {
      if (check(facts.now) === 'unknown') return { code: 'time-unknown', message: `This app is available ${window}, and the time of the request is unknown.` };
      const local = localMinute(facts.now);
      const day = Math.floor(local / 1440);
      const weekday = DAY_NAMES[(((day + 4) % 7) + 7) % 7]!;
      return { code: 'time-outside-window', message: `This app is available ${window}; it is now ${weekday} ${clock(local - day * 1440)} there.` };
    },
  };
}
