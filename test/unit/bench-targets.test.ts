// The benchmark judges the targets from samples of the same repetition. The
// arithmetic is checked here on made-up samples; no test measures a speed.
import { describe, expect, it } from 'vitest';
import { soakVerdict, targetCheckLines, targetChecks, type Sample, type SoakPoint } from '../../bench/report.ts';

function sample(s: Partial<Sample>): Sample {
  return {
    rps: 1000, p50Ms: 1, p99Ms: 2, p50Ms1: 0.1, p99Ms1: 0.2, requests: 1, badStatus: 0, socketErrors: 0,
    cpuUsPerRequest: 100, sysCpuUsPerRequest: 0, upstreamCpuUsPerRequest: 0, rssMb: 0, peakRssMb: 0, redisCommandsPerRequest: 0,
    redisCpuUsPerRequest: 0, loadCpuUsPerRequest: 0, machineBusyPct: 0, othersCpuPct: 0, stolenPct: 0, notForwarded: 0,
    ...s,
  };
}

describe('targetChecks', () => {
  it('pairs each repetition with the same repetition of the compared row, then takes the median', () => {
    // A slow second minute makes both rows slower; run by run the full policy stays at 1.1×,
    // while the ratio of the two medians (140 / 100) would say 1.4×.
    const samples = new Map([
      ['portcullis-public', [sample({ cpuUsPerRequest: 100 }), sample({ cpuUsPerRequest: 200 }), sample({ cpuUsPerRequest: 60 })]],
      ['full-policy', [sample({ cpuUsPerRequest: 110 }), sample({ cpuUsPerRequest: 220 }), sample({ cpuUsPerRequest: 140 })]],
    ]);
    const ratio = targetChecks(samples).find((c) => c.row === 'full-policy' && c.unit === '×')!;
    expect(ratio.runs.map((v) => +v.toFixed(3))).toEqual([1.1, 1.1, 2.333]);
    expect(ratio.value).toBeCloseTo(1.1);
    expect(ratio.met).toBe(true);
    const absolute = targetChecks(samples).find((c) => c.row === 'full-policy' && c.unit === 'µs')!;
    expect(absolute.value).toBe(140);
    expect(absolute.met).toBe(false);
  });

  it('judges throughput against nginx auth_request, latency against the direct upstream, and workers against one process', () => {
    const samples = new Map([
      ['direct', [sample({ p50Ms1: 0.1 }), sample({ p50Ms1: 0.12 })]],
      ['nginx-auth-request', [sample({ rps: 1000 }), sample({ rps: 800 })]],
      ['protected-redis', [sample({ rps: 1100, p50Ms1: 0.2 }), sample({ rps: 700, p50Ms1: 0.3 })]],
      ['full-policy', [sample({ rps: 900 }), sample({ rps: 900 })]],
      ['workers-auto', [sample({ rps: 990 }), sample({ rps: 1080 })]],
    ]);
    const checks = targetChecks(samples);
    const of = (row: string, measure: RegExp) => checks.find((c) => c.row === row && measure.test(c.measure))!;
    const throughput = of('protected-redis', /nginx/);
    expect(throughput.runs).toEqual([1.1, 0.875]);
    expect(throughput.met).toBe(false); // median 0.9875
    const latency = of('protected-redis', /p50/);
    expect(latency.runs.map(Math.round)).toEqual([100, 180]);
    expect(latency.met).toBe(true); // median 140
    const workers = of('workers-auto', /single process/);
    expect(workers.value).toBeCloseTo(1.15);
    expect(workers.met).toBe(true);
    // No public route in this run: the check that needs it is left out, not guessed.
    expect(checks.some((c) => /public/.test(c.measure))).toBe(false);
  });

  it('says each verdict in one line', () => {
    const samples = new Map([
      ['portcullis-public', [sample({ cpuUsPerRequest: 100 })]],
      ['full-policy', [sample({ cpuUsPerRequest: 130 })]],
    ]);
    const lines = targetCheckLines(targetChecks(samples), new Map([['full-policy', 'full policy']]));
    expect(lines[0]).toBe("full policy: CPU µs/request ÷ the public route's 1.30× (target ≤ 1.2×: not met; runs 1.30×)");
    expect(lines[1]).toBe('full policy: CPU µs/request 130 µs (target ≤ 80 µs: not met; runs 130 µs)');
  });
});

describe('soakVerdict', () => {
  const point = (seconds: number, rssMib: number): SoakPoint => ({
    seconds, rssMib, heapTotalMib: null, heapUsedMib: null, oldSpaceUsedMib: null, heapSpacesMib: null, externalMib: null,
    rps: seconds === 0 ? null : 30_000, cpuUsPerRequest: null, errors: null, machineBusyPct: null,
  });
  const run = (rss: number[]) => soakVerdict(rss.map((r, i) => point(i * 10, r)), 1);

  it('calls steady growth after warm-up growth', () => {
    const v = run([200, 202, 204, 206, 208, 210, 212]);
    expect(v.trendRssMibPerMinute).toBeCloseTo(12);
    expect(v.grew).toBe(true);
  });

  it('does not call warm-up growth that levels off growth', () => {
    expect(run([150, 190, 200, 200.5, 200.2, 200.4, 200.3]).grew).toBe(false);
  });

  it('does not call one late jump growth when the run ended below where it began', () => {
    // The readings of a full run (2026-11-30 18:19 UTC): the line through the last four rises
    // by 14 MiB/min, but RSS ended 5 MiB under where it began.
    const v = run([208.6, 193.3, 193.7, 195.3, 195.8, 195.6, 203.4]);
    expect(v.trendRssMibPerMinute!).toBeGreaterThan(10);
    expect(v.grew).toBe(false);
  });
});
