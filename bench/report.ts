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
  ];
}

export function consoleTable(rows: readonly Row[], high: number): string {
  const cols = columns(high);
  const cells = [cols.map((c) => c.title), ...rows.map((r) => cols.map((c) => c.cell(r)))];
  const widths = cols.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  const fmt = (line: string[]) => line.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [fmt(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(fmt)].join('\n');
}

export function markdownTable(rows: readonly Row[], high: number): string {
  const cols = columns(high);
  const line = (values: string[]) => `| ${values.join(' | ')} |`;
  return [line(cols.map((c) => c.title)), line(cols.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map((r) => line(cols.map((c) => c.cell(r))))].join('\n');
}
