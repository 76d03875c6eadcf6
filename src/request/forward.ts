// Forward one request to its upstream over a keep-alive undici pool, streaming
// both bodies with backpressure; nothing is buffered whole.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import type { CompiledRoute } from '../config/compile.ts';
import type { ErrorCode } from '../errors.ts';
import { filterResponseHeaders } from './headers.ts';

/** One pool per upstream origin and TLS setting, shared across config reloads. */
export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();

  get(route: CompiledRoute): Pool {
    let pool = this.#pools.get(route.upstreamKey);
    if (!pool) {
      const t = route.upstreamTls;
      pool = new Pool(route.to.origin, {
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: t
          ? { ca: t.ca, cert: t.cert, key: t.key, servername: t.servername, rejectUnauthorized: t.rejectUnauthorized }
          : undefined,
      });
      this.#pools.set(route.upstreamKey, pool);
    }
    return pool;
  }

  /** After a reload: close the pools no route uses any more, once their requests finish. */
  retainOnly(routes: readonly CompiledRoute[]): void {
    const keep = new Set(routes.map((r) => r.upstreamKey));
    for (const [key, pool] of this.#pools) {
      if (!keep.has(key)) {
        this.#pools.delete(key);
        pool.close().catch(() => {});
      }
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }

  async destroy(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
}

export interface ForwardOutcome {
  /** set when the upstream could not be used; the caller renders the error page */
  readonly error?: ErrorCode;
  readonly cause?: Error;
  /** milliseconds until the upstream's response headers arrived */
  readonly upstreamMs?: number;
}

export interface ForwardRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: CompiledRoute;
  readonly pool: Dispatcher;
  /** normalized path and the query, exactly as checked */
  readonly pathAndQuery: string;
  /** flat [name, value, ...] list, already filtered and with the trusted headers added */
  readonly headers: string[];
  readonly requestId: string;
  readonly done: (outcome: ForwardOutcome) => void;
}

/** A request on its way to the upstream. */
export interface ForwardHandle {
  /** The client closed the connection (res 'close'): stop the upstream request if it is still going. */
  clientClosed(): void;
}

/** The caller tells the handle when the response closes; forward adds no listener of its own. */
export function forward(f: ForwardRequest): ForwardHandle {
  const { req } = f;
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  if (req.headers['content-length'] !== undefined) f.headers.push('content-length', req.headers['content-length']);
  const handler = new ForwardHandler(f);
  try {
    dispatchTo(f, hasBody, handler);
  } catch (err) {
    // undici refuses some requests synchronously (for example a header value it will not send)
    handler.onResponseError(undefined, err as Error);
  }
  return handler;
}

function dispatchTo(f: ForwardRequest, hasBody: boolean, handler: ForwardHandler): void {
  const { req, route } = f;
  f.pool.dispatch(
    {
      path: route.to.basePath ? route.to.basePath + f.pathAndQuery : f.pathAndQuery,
      method: req.method as Dispatcher.HttpMethod,
      headers: f.headers,
      body: hasBody ? req : null,
      headersTimeout: route.timeoutMs,
      bodyTimeout: route.timeoutMs,
    },
    handler,
  );
}

/** The reason undici is given when the client's departure stops an upstream request. */
const clientLeft = () => new Error('client closed the connection');

class ForwardHandler implements Dispatcher.DispatchHandler, ForwardHandle {
  readonly #f: ForwardRequest;
  readonly #started = performance.now();
  #controller: Dispatcher.DispatchController | undefined;
  #finished = false;
  #upstreamMs: number | undefined;

  constructor(f: ForwardRequest) {
    this.#f = f;
  }

  clientClosed(): void {
    // The client went away before we finished: stop the upstream request too. Nothing to
    // report: the handler's access line says the client left.
    if (this.#finished) return;
    this.#finished = true;
    this.#controller?.abort(clientLeft());
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // The client left while the request waited for a connection.
    if (this.#finished) controller.abort(clientLeft());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    this.#upstreamMs = performance.now() - this.#started;
    const res = this.#f.res;
    if (res.destroyed) {
      this.#finished = true;
      controller.abort(clientLeft());
      return;
    }
    res.writeHead(statusCode, statusMessage || undefined, filterResponseHeaders(headers, this.#f.requestId));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.#f.res;
    if (!res.write(chunk)) {
      controller.pause();
      res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.#finished = true;
    this.#f.res.end();
    this.#f.done({ upstreamMs: this.#upstreamMs });
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    const res = this.#f.res;
    // The client left first (a broken upload, say): not the upstream's failure, and the
    // handler's access line says so.
    if (res.destroyed) return;
    if (res.headersSent) {
      // Too late for an error page: cut the connection so the client sees a broken
      // response rather than a silently truncated one.
      res.destroy();
      this.#f.done({ error: 'upstream_bad_response', cause: error, upstreamMs: this.#upstreamMs });
      return;
    }
    this.#f.done({ error: classifyUpstreamError(error), cause: error });
  }
}

export function classifyUpstreamError(error: Error): ErrorCode {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return 'upstream_timeout';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_INFO':
      return 'upstream_bad_response';
    default:
      return 'upstream_unreachable';
  }
}
