// The upstream histogram is Portcullis's own (observe() is on every request); what /metrics
// shows must be exactly what prom-client's Histogram shows for the same observations,
// alone and when the primary aggregates its workers' metrics.
import { describe, expect, it } from 'vitest';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { RouteHistogram } from '../../src/ops/route-histogram.ts';

const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const observations: [string, number][] = [
  ['app', 0.0004],
  ['app', 0.001],
  ['app', 0.0011],
  ['app', 0.02],
  ['api', 0.7],
  ['app', 31],
  ['api', 2.5],
  ['a "quoted" \\ route', 0.003],
];

function both(seen: readonly [string, number][]) {
  const ours = new Registry();
  const theirs = new Registry();
  const mine = new RouteHistogram({ name: 'h_seconds', help: 'help text', buckets, registers: [ours] });
  const reference = new Histogram({ name: 'h_seconds', help: 'help text', labelNames: ['route'], buckets, registers: [theirs] });
  for (const [route, v] of seen) {
    mine.observe(route, v);
    reference.labels(route).observe(v);
  }
  return { ours, theirs, mine };
}

describe('the route histogram', () => {
  it('is exposed exactly as prom-client exposes a histogram with a route label', async () => {
    const { ours, theirs } = both(observations);
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('h_seconds_bucket{le="0.001",route="app"} 2\n');
    expect(text).toContain('h_seconds_bucket{le="+Inf",route="app"} 5\n');
    expect(text).toContain('h_seconds_count{route="api"} 2\n');
  });

  it('aggregates across workers exactly as prom-client does', async () => {
    const a = both(observations.slice(0, 4));
    const b = both(observations.slice(3));
    const merged = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
    const reference = AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]);
    expect(await merged.metrics()).toBe(await reference.metrics());
  });

  it('shows nothing before the first observation and after a reset', async () => {
    const { ours, theirs, mine } = both([]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    mine.observe('app', 0.2);
    mine.reset();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});
