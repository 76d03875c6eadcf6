// A Prometheus histogram with one label (route), observed on every request. prom-client's
// Histogram hashes and validates its labels on every observe(), even through a cached child,
// which cost more than the rest of the request's metrics; here an observation is a bucket
// search and three additions into a Float64Array, and the exposition is built when scraped.
// It is registered like any prom-client metric (get() returns the same shape, aggregator
// "sum"), so /metrics and the workers' aggregated metrics show it as before.
import type { Registry } from 'prom-client';

interface Series {
  /** per bucket (not cumulative), then +Inf; then sum */
  readonly counts: Float64Array;
  sum: number;
}

export class RouteHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(options: { name: string; help: string; buckets: readonly number[]; registers: readonly Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    for (const registry of options.registers) registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  observe(route: string, value: number): void {
    let series = this.#series.get(route);
    if (!series) {
      series = { counts: new Float64Array(this.#bounds.length + 1), sum: 0 };
      this.#series.set(route, series);
    }
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    series.counts[i]!++;
    series.sum += value;
  }

  /** The metric as prom-client's Histogram.get() returns it: cumulative buckets, +Inf, sum, count. */
  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [route, series] of this.#series) {
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += series.counts[i]!;
        values.push({ labels: { le, route }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      const count = cumulative + series.counts[this.#bounds.length]!;
      values.push({ labels: { le: '+Inf', route }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels: { route }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { route }, value: count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.#series.clear();
  }
}
