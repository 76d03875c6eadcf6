// The operations listener (loopback by default): liveness, readiness, metrics.
// Kept off the public listener so nobody outside can read metrics or probe state.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompiledConfig } from '../config/compile.ts';
import type { Metrics } from './metrics.ts';
import { version } from '../version.ts';

export interface OpsDeps {
  readonly metrics: Metrics;
  readonly state: () => CompiledConfig;
  /** false while draining (and, later, while a dependency the routes need is down) */
  readonly isReady: () => boolean;
  /** extra readiness checks by name, such as the identity provider */
  readonly checks?: () => Promise<Record<string, { ok: boolean; detail?: string }>>;
  /** the admin API under /admin (src/admin/api.ts); only ever mounted here, never on the public listener */
  readonly admin?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** with workers > 1: every worker's metrics together, gathered by the primary (src/workers.ts) */
  readonly metricsText?: () => Promise<string>;
}

export function createOpsHandler(deps: OpsDeps) {
  return async function handleOps(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/healthz') return json(res, 200, { status: 'ok', version });
      if (path === '/readyz') {
        const checks = (await deps.checks?.()) ?? {};
        const ready = deps.isReady() && Object.values(checks).every((c) => c.ok);
        const config = deps.state();
        return json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', version, config: { file: config.file, checksum: config.checksum }, checks });
      }
      if (path === '/metrics') {
        const body = await (deps.metricsText ?? (() => deps.metrics.registry.metrics()))();
        res.writeHead(200, { 'content-type': deps.metrics.registry.contentType, 'cache-control': 'no-store' });
        res.end(body);
        return;
      }
      if (deps.admin && (path === '/admin' || path?.startsWith('/admin/'))) return await deps.admin(req, res);
      json(res, 404, { error: 'not_found', endpoints: ['/healthz', '/readyz', '/metrics', '/admin/sessions'] });
    } catch (err) {
      json(res, 500, { error: 'internal_error', message: (err as Error).message });
    }
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
