// Prometheus metrics. What every request touches (the request counter, the upstream
// histogram) is counted in plain fields and handed to prom-client when scraped, so the hot
// path never pays for prom-client's label hashing and validation.
import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client';
import { RouteHistogram } from './route-histogram.ts';

interface RequestCount {
  readonly child: Counter.Internal;
  /** requests counted since the counter was last read */
  pending: number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly #requestCounts = new Map<string, RequestCount>();
  readonly requests: Counter<'route' | 'status'> = new Counter({
    name: 'portcullis_requests_total',
    help: 'Requests answered, by route and HTTP status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
    // Requests are counted in a plain field and added here, when the counter is read: prom-client
    // hashes and validates the labels on every inc(), even through a cached child.
    collect: () => {
      for (const count of this.#requestCounts.values()) {
        if (count.pending === 0) continue;
        count.child.inc(count.pending);
        count.pending = 0;
      }
    },
  });
  readonly upstreamSeconds = new RouteHistogram({
    name: 'portcullis_upstream_duration_seconds',
    help: 'Time from sending a request upstream to receiving its response headers',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'portcullis_config_reloads_total',
    help: 'Configuration reloads, by result (success or failure)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly configInfo = new Gauge({
    name: 'portcullis_config_info',
    help: 'The loaded configuration; the checksum label is the sha256 of the file',
    labelNames: ['checksum'] as const,
    registers: [this.registry],
  });
  readonly websocketsOpen = new Gauge({
    name: 'portcullis_websockets_open',
    help: 'WebSocket connections currently open',
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: 'portcullis_rate_limited_total',
    help: 'Requests refused with 429 by a rate limit, by route (".portcullis" for sign-in endpoints) and scope (user or ip)',
    labelNames: ['route', 'scope'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });
  }

  countRequest(route: string, status: number): void {
    const key = route + ' ' + status;
    let count = this.#requestCounts.get(key);
    if (!count) {
      count = { child: this.requests.labels(route, String(status)), pending: 0 };
      this.#requestCounts.set(key, count);
    }
    count.pending++;
  }

  observeUpstream(route: string, ms: number): void {
    this.upstreamSeconds.observe(route, ms / 1000);
  }

  countRateLimited(route: string, scope: 'user' | 'ip'): void {
    this.rateLimited.labels(route, scope).inc();
  }

  setConfig(checksum: string): void {
    this.configInfo.reset();
    this.configInfo.labels(checksum).set(1);
  }
}
