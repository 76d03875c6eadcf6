// Turn measurements into medians, ratios, an aligned console table, JSON and Markdown.

/** One repetition of one row. */
export interface Sample {
  readonly rps: number; // at the high connection count
  readonly p50Ms: number; // high connection count
  readonly p99Ms: number;
  readonly p50Ms1: number; // one connection
  readonly p99Ms1: number;
  readonly requests: number; // both runs
  readonly badStatus: number; // both runs
  readonly socketErrors: number; // both runs
  readonly cpuUsPerRequest: number; // process under test, high connection count
  readonly sysCpuUsPerRequest: number; // of which system (kernel) time
  readonly upstreamCpuUsPerRequest: number;
  readonly rssMb: number; // after the high-connection run, all the row's processes
  readonly peakRssMb: number;
  /** Redis commands per request during the high-connection run (0 for rows without Redis) */
  readonly redisCommandsPerRequest: number;
  readonly redisCpuUsPerRequest: number;
  /** the load generator's CPU per request */
  readonly loadCpuUsPerRequest: number;
  /** how busy the whole machine was during the high-connection run, % of all cores */
  readonly machineBusyPct: number;
  /** CPU used by processes outside this measurement (other work on the machine), % of all cores */
  readonly othersCpuPct: number;
  /** time the hypervisor gave the cores to other guests (steal), % of all cores; counted in machineBusyPct, not in othersCpuPct */
  readonly stolenPct: number;
  /** requests wrk counted that the upstream never saw (redirects, 401s, ...), both runs */
  readonly notForwarded: number;
}

export interface Row {
  readonly id: string;
  readonly label: string;
  readonly median: Sample;
  readonly vsDirect: number | null; // requests/s ratio
  readonly vsUndici: number | null;
  readonly vsNginx: number | null;
  readonly usesRedis: boolean;
  readonly samples: readonly Sample[];
  readonly facts?: Record<string, unknown>;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function medianSample(samples: readonly Sample[]): Sample {
  const keys = Object.keys(samples[0]!) as (keyof Sample)[];
  return Object.fromEntries(keys.map((k) => [k, median(samples.map((s) => s[k]))])) as unknown as Sample;
}

export function buildRows(measured: readonly { id: string; label: string; usesRedis: boolean; samples: Sample[]; facts?: Record<string, unknown> }[]): Row[] {
  const medians = measured.map((m) => ({ ...m, median: medianSample(m.samples) }));
  const rpsOf = (id: string) => medians.find((m) => m.id === id)?.median.rps;
  const direct = rpsOf('direct');
  const undici = rpsOf('undici');
  const nginx = rpsOf('nginx');
  return medians.map((m) => ({
    id: m.id,
    label: m.label,
    median: m.median,
    vsDirect: direct ? m.median.rps / direct : null,
    vsUndici: undici ? m.median.rps / undici : null,
    vsNginx: nginx ? m.median.rps / nginx : null,
    usesRedis: m.usesRedis,
    samples: m.samples,
    facts: m.facts,
  }));
}

/** Non-2xx answers (wrk's 4xx/5xx, or requests the upstream never saw) plus socket errors. */
export function errorsOf(s: Sample): number {
  return Math.max(s.badStatus, s.notForwarded) + s.socketErrors;
}

interface Column {
  readonly title: string;
  readonly cell: (r: Row) => string;
}

function columns(high: number): Column[] {
  const ms = (v: number) => v.toFixed(2);
  const ratio = (v: number | null) => (v === null ? '-' : v.toFixed(2) + '×');
  return [
    { title: 'target', cell: (r) => r.label },
    { title: `req/s @${high}`, cell: (r) => Math.round(r.median.rps).toLocaleString('en-US') },
    { title: '÷ direct', cell: (r) => ratio(r.vsDirect) },
    { title: '÷ nginx', cell: (r) => ratio(r.vsNginx) },
    { title: 'p50 @1 ms', cell: (r) => ms(r.median.p50Ms1) },
    { title: 'p99 @1 ms', cell: (r) => ms(r.median.p99Ms1) },
    { title: `p50 @${high} ms`, cell: (r) => ms(r.median.p50Ms) },
    { title: `p99 @${high} ms`, cell: (r) => ms(r.median.p99Ms) },
    { title: 'errors', cell: (r) => String(errorsOf(r.median)) },
    { title: 'CPU µs/req', cell: (r) => r.median.cpuUsPerRequest.toFixed(0) },
    { title: 'Redis cmd/req', cell: (r) => (r.usesRedis ? r.median.redisCommandsPerRequest.toFixed(2) : '-') },
    { title: 'RSS MB', cell: (r) => r.median.rssMb.toFixed(0) },
    { title: 'machine busy', cell: (r) => `${r.median.machineBusyPct.toFixed(0)}%` },
    { title: 'others', cell: (r) => `${r.median.othersCpuPct.toFixed(0)}%` },
    { title: 'stolen', cell: (r) => `${r.median.stolenPct.toFixed(0)}%` },
  ];
}

export function consoleTable(rows: readonly Row[], high: number): string {
  const cols = columns(high);
  return aligned([cols.map((c) => c.title), ...rows.map((r) => cols.map((c) => c.cell(r)))]);
}

export function markdownTable(rows: readonly Row[], high: number): string {
  const cols = columns(high);
  return markdown([cols.map((c) => c.title), ...rows.map((r) => cols.map((c) => c.cell(r)))]);
}

/** A title line and data lines as an aligned text table: the first column left, the others right. */
function aligned(cells: readonly string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  const fmt = (line: readonly string[]) => line.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [fmt(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(fmt)].join('\n');
}

function markdown(cells: readonly string[][]): string {
  const line = (values: readonly string[]) => `| ${values.join(' | ')} |`;
  return [line(cells[0]!), line(cells[0]!.map((_, i) => (i === 0 ? '---' : '---:'))), ...cells.slice(1).map(line)].join('\n');
}

// --- the soak (bench/soak.ts): memory over a long run at the high connection count ---

/** One reading during a soak: the first is taken after warm-up, before any measured load; the others after each slice. */
export interface SoakPoint {
  /** seconds since the first slice started (0 for the reading before it) */
  readonly seconds: number;
  /** resident memory of the target's processes (/proc/PID/status VmRSS), MiB */
  readonly rssMib: number;
  /** V8 heap committed, from the ops listener's /metrics; null when not a Portcullis */
  readonly heapTotalMib: number | null;
  /** V8 heap in use, from /metrics (no GC forced: includes garbage not yet collected) */
  readonly heapUsedMib: number | null;
  /**
   * V8 old space in use: where anything that lives on (a leak) ends up. Steadier than heap
   * used, which swings with the young generation's garbage; still includes old garbage
   * until the next major GC.
   */
  readonly oldSpaceUsedMib: number | null;
  /** committed size of each V8 heap space (new_space, old_space, code_space, ...), from /metrics */
  readonly heapSpacesMib: Readonly<Record<string, number>> | null;
  /** memory outside the V8 heap held by JS objects (Buffers), from /metrics */
  readonly externalMib: number | null;
  // The figures of the slice that ended at this reading; null for the reading before the first slice.
  readonly rps: number | null;
  readonly cpuUsPerRequest: number | null;
  /** non-2xx answers, requests the upstream never saw, and socket errors */
  readonly errors: number | null;
  readonly machineBusyPct: number | null;
}

export interface SoakVerdict {
  readonly rssBeforeMib: number;
  readonly rssAfterMib: number;
  readonly growthMib: number;
  readonly growthPct: number;
  /** the trend is fitted through the readings from here to the end of the run (see soakVerdict) */
  readonly trendFromSeconds: number;
  readonly trendReadings: number;
  /** the reading at which V8's young generation last changed its committed size (warm-up), if the readings show it */
  readonly youngGeneration: { readonly settledAtSeconds: number; readonly fromMib: number; readonly toMib: number } | null;
  /** least-squares slope of RSS over the trend's readings, MiB per minute; null with fewer than 3 readings */
  readonly trendRssMibPerMinute: number | null;
  /** what that slope adds up to over the trend's length, MiB */
  readonly trendRssFitMib: number | null;
  /** that slope spread over the requests served meanwhile, bytes per request */
  readonly trendRssBytesPerRequest: number | null;
  /** the same slope for V8's old space in use */
  readonly trendOldSpaceMibPerMinute: number | null;
  /** the slope above which the trend counts as growth, MiB per minute */
  readonly slopeLimitMibPerMinute: number;
  /** and what it must add up to over the trend as well, MiB (SOAK_NOISE_MIB) */
  readonly noiseMib: number;
  /** null: too few readings after warm-up to say */
  readonly grew: boolean | null;
}

export interface Soak {
  readonly id: string;
  readonly label: string;
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly sliceSeconds: number;
  readonly points: readonly SoakPoint[];
  readonly verdict: SoakVerdict;
}

/** Least-squares slope of y over x; 0 with fewer than two distinct x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

/**
 * RSS readings of a Node process under load move by a few MiB either way as V8 commits and
 * releases pages (large objects, code space), so over a short trend a slope is only
 * growth when the RSS it adds is more than this as well. A 60-second soak therefore sees a
 * leak from about 4 MiB a minute up; a slower one needs a longer BENCH_SOAK_SECONDS.
 */
export const SOAK_NOISE_MIB = 2;

/** Fewer readings than this after warm-up give no trend. */
const MIN_TREND_READINGS = 3;

/**
 * Before against after, and the trend after warm-up. Growth in the first slices is warm-up
 * (JIT code, pools, and V8's young generation growing to the size the allocation rate asks
 * for, which alone can add 64 MiB at once; it is bounded, so it is not a leak); a leak is
 * growth that goes on after it. So the trend is a least-squares line through the readings of
 * the second half of the run (with 6 slices: after slices 3 to 6), or from the reading after
 * the one at which the young generation reached its final size if that came later. With fewer than 3
 * readings left there is no trend, and the verdict says the run was too short. A rising trend
 * is growth only if the run also ended more than the noise above where it began: a leak does
 * both, while one reading that jumps at the end (V8 or malloc taking pages it gives back a
 * few seconds later) can tilt a line through four readings on its own.
 */
export function soakVerdict(points: readonly SoakPoint[], slopeLimitMibPerMinute: number): SoakVerdict {
  if (points.length < 3) throw new Error('a soak needs a reading before and at least two slices');
  const before = points[0]!;
  const after = points.at(-1)!;
  const slices = points.length - 1;
  let from = slices - Math.floor(slices / 2);
  let youngGeneration: SoakVerdict['youngGeneration'] = null;
  const young = points.map((p) => p.heapSpacesMib?.new);
  for (let i = young.length - 1; i > 0; i--) {
    if (young[i] !== undefined && young[i - 1] !== undefined && young[i] !== young[i - 1]) {
      youngGeneration = { settledAtSeconds: points[i]!.seconds, fromMib: young[i - 1]!, toMib: young[i]! };
      // From the reading after it: newly committed pages become resident only as the young generation cycles through them.
      from = Math.max(from, i + 1);
      break;
    }
  }
  const trend = points.slice(from);
  const base = {
    rssBeforeMib: before.rssMib,
    rssAfterMib: after.rssMib,
    growthMib: after.rssMib - before.rssMib,
    growthPct: (100 * (after.rssMib - before.rssMib)) / before.rssMib,
    trendFromSeconds: trend[0]!.seconds,
    trendReadings: trend.length,
    youngGeneration,
    slopeLimitMibPerMinute,
    noiseMib: SOAK_NOISE_MIB,
  };
  if (trend.length < MIN_TREND_READINGS) {
    return { ...base, trendRssMibPerMinute: null, trendRssFitMib: null, trendRssBytesPerRequest: null, trendOldSpaceMibPerMinute: null, grew: null };
  }
  const minutes = trend.map((p) => p.seconds / 60);
  const rssSlope = slope(minutes, trend.map((p) => p.rssMib));
  const rssFit = rssSlope * (minutes.at(-1)! - minutes[0]!);
  const oldSpace = trend.every((p) => p.oldSpaceUsedMib !== null) ? slope(minutes, trend.map((p) => p.oldSpaceUsedMib!)) : null;
  // Requests per minute over the trend's slices (its first reading ends the slice before it).
  const rpm = (60 * trend.slice(1).reduce((a, p) => a + (p.rps ?? 0), 0)) / (trend.length - 1);
  return {
    ...base,
    trendRssMibPerMinute: rssSlope,
    trendRssFitMib: rssFit,
    trendRssBytesPerRequest: rpm > 0 ? (rssSlope * 1024 * 1024) / rpm : 0,
    trendOldSpaceMibPerMinute: oldSpace,
    grew: rssSlope > slopeLimitMibPerMinute && rssFit > SOAK_NOISE_MIB && base.growthMib > SOAK_NOISE_MIB,
  };
}

function soakCells(s: Soak): string[][] {
  const mib = (v: number | null) => (v === null ? '-' : v.toFixed(1));
  return [
    ['time s', 'RSS MiB', 'heap total MiB', 'heap used MiB', 'old space used MiB', 'external MiB', 'req/s', 'CPU µs/req', 'errors', 'machine busy'],
    ...s.points.map((p, i) => [
      i === 0 ? `${p.seconds.toFixed(0)} (before)` : p.seconds.toFixed(0),
      mib(p.rssMib),
      mib(p.heapTotalMib),
      mib(p.heapUsedMib),
      mib(p.oldSpaceUsedMib),
      mib(p.externalMib),
      p.rps === null ? '-' : Math.round(p.rps).toLocaleString('en-US'),
      p.cpuUsPerRequest === null ? '-' : p.cpuUsPerRequest.toFixed(0),
      p.errors === null ? '-' : String(p.errors),
      p.machineBusyPct === null ? '-' : `${p.machineBusyPct.toFixed(0)}%`,
    ]),
  ];
}

export function soakTitle(s: Soak, note = ''): string {
  return `Soak: ${s.label}, ${s.connections} connections, ${s.points.length - 1} × ${s.sliceSeconds} s after ${s.warmupSeconds} s of warm-up${note}`;
}

export function soakConsoleTable(s: Soak): string {
  return aligned(soakCells(s));
}

export function soakMarkdownTable(s: Soak): string {
  return markdown(soakCells(s));
}

/** "RSS before X MiB, after Y MiB, growth Z MiB (Z%)", then the trend after warm-up and whether it counts as growth. */
export function soakVerdictLines(s: Soak): string {
  const v = s.verdict;
  const signed = (x: number, digits = 1) => (x >= 0 ? '+' : '') + x.toFixed(digits);
  const y = v.youngGeneration;
  const young = y ? `; V8's young generation went from ${y.fromMib.toFixed(0)} to ${y.toMib.toFixed(0)} MiB committed at ${y.settledAtSeconds.toFixed(0)} s` : '';
  const first = `RSS before ${v.rssBeforeMib.toFixed(1)} MiB, after ${v.rssAfterMib.toFixed(1)} MiB, growth ${signed(v.growthMib)} MiB (${signed(v.growthPct)}%)${young}.`;
  if (v.grew === null || v.trendRssMibPerMinute === null) {
    return `${first}\nNo trend: only ${v.trendReadings} reading(s) from ${v.trendFromSeconds.toFixed(0)} s, after warm-up; run longer (BENCH_SOAK_SECONDS).`;
  }
  const old = v.trendOldSpaceMibPerMinute === null ? '' : `; V8 old space in use ${signed(v.trendOldSpaceMibPerMinute, 2)} MiB/min`;
  const limit = `more than ${v.slopeLimitMibPerMinute} MiB/min adding up to more than ${v.noiseMib} MiB, and RSS after more than ${v.noiseMib} MiB above before`;
  return (
    `${first}\nTrend from ${v.trendFromSeconds.toFixed(0)} s to the end (${v.trendReadings} readings): RSS ${signed(v.trendRssMibPerMinute, 2)} MiB/min ` +
    `(${signed(v.trendRssFitMib!, 2)} MiB over it, ${signed(v.trendRssBytesPerRequest!, 2)} bytes per request)${old}: ` +
    (v.grew ? `GREW (${limit}).` : `no growth (growth means ${limit}).`)
  );
}

// --- the targets, judged run by run -----------------------------------------------

/** One target, judged from samples taken in the same repetition (rows measured minutes apart drift apart). */
export interface TargetCheck {
  readonly row: string;
  /** what is compared, e.g. "CPU µs/request ÷ the public route's" */
  readonly measure: string;
  /** the target, e.g. "≤ 1.2" */
  readonly limit: string;
  /** the median of the per-repetition values */
  readonly value: number;
  readonly unit: '×' | 'µs';
  /** each repetition's value, in order */
  readonly runs: readonly number[];
  readonly met: boolean;
}

/** The rows the targets are set for (bench/targets.ts ids); what each is compared with is in targetChecks. */
const TARGET_ROWS = ['protected-redis', 'full-policy'] as const;

/**
 * The targets for the protected route (Redis) and the full policy, each from pairs of
 * samples of the same repetition: CPU per request ≤ 1.2× the public route and ≤ 80 µs;
 * requests/s ≥ 1.0× nginx auth_request; p50 at one connection ≤ 150 µs over the direct
 * upstream; and workers: auto > 1.0× the full policy's requests/s. The bare undici forwarder
 * is judged by the same yardsticks, as the floor of the stack. A check is left out when a row
 * it needs was not measured.
 */
export function targetChecks(samples: ReadonlyMap<string, readonly Sample[]>): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const add = (row: string, other: string | null, measure: string, unit: TargetCheck['unit'], limit: string, ok: (v: number) => boolean, value: (mine: Sample, theirs: Sample) => number) => {
    const mine = samples.get(row);
    const theirs = other === null ? mine : samples.get(other);
    if (!mine?.length || !theirs?.length) return;
    const runs = mine.slice(0, theirs.length).map((s, i) => value(s, theirs[i]!));
    const m = median(runs);
    checks.push({ row, measure, limit, value: m, unit, runs, met: ok(m) });
  };
  for (const row of TARGET_ROWS) {
    add(row, 'portcullis-public', "CPU µs/request ÷ the public route's", '×', '≤ 1.2', (v) => v <= 1.2, (a, b) => a.cpuUsPerRequest / b.cpuUsPerRequest);
    add(row, null, 'CPU µs/request', 'µs', '≤ 80', (v) => v <= 80, (a) => a.cpuUsPerRequest);
    add(row, 'nginx-auth-request', "requests/s ÷ nginx auth_request's", '×', '≥ 1.0', (v) => v >= 1, (a, b) => a.rps / b.rps);
    add(row, 'direct', 'p50 @1 added over the direct upstream', 'µs', '≤ 150', (v) => v <= 150, (a, b) => (a.p50Ms1 - b.p50Ms1) * 1000);
  }
  add('workers-auto', 'full-policy', "requests/s ÷ the single process's (full policy)", '×', '> 1.0', (v) => v > 1, (a, b) => a.rps / b.rps);
  // The floor: a forwarder on the same stack (node:http + undici) with no Portcullis logic at
  // all, judged by the same yardsticks, says which targets the stack itself allows here.
  add('undici', 'nginx-auth-request', "requests/s ÷ nginx auth_request's", '×', '≥ 1.0', (v) => v >= 1, (a, b) => a.rps / b.rps);
  add('undici', null, 'CPU µs/request', 'µs', '≤ 80', (v) => v <= 80, (a) => a.cpuUsPerRequest);
  add('undici', 'direct', 'p50 @1 added over the direct upstream', 'µs', '≤ 150', (v) => v <= 150, (a, b) => (a.p50Ms1 - b.p50Ms1) * 1000);
  return checks;
}

export function targetCheckLines(checks: readonly TargetCheck[], labels: ReadonlyMap<string, string>): string[] {
  const fmt = (v: number, unit: TargetCheck['unit']) => (unit === '×' ? `${v.toFixed(2)}×` : `${Math.round(v)} µs`);
  return checks.map(
    (c) => `${labels.get(c.row) ?? c.row}: ${c.measure} ${fmt(c.value, c.unit)} (target ${c.limit}${c.unit === 'µs' ? ' µs' : '×'}: ${c.met ? 'met' : 'not met'}; runs ${c.runs.map((v) => fmt(v, c.unit)).join(', ')})`,
  );
}
