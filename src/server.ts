// Composition root: configuration -> state -> listeners. Owns reloads and shutdown.
import http from 'node:http';
import https from 'node:https';
import { watch, type FSWatcher } from 'node:fs';
import { dirname, basename } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { loadConfigFile, type Env } from './config/load.ts';
import { compileConfig, insecureSettings, type CompiledConfig } from './config/compile.ts';
import { ConfigError } from './errors.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics } from './ops/metrics.ts';
import { createOpsHandler } from './ops/endpoints.ts';
import { UpstreamPools } from './request/forward.ts';
import { createRequestHandler, type RuntimeState } from './request/handle.ts';
import { createUpgradeHandler, isWebSocketUpgrade, type OpenWebSocket, type UpgradeHandler } from './request/websocket.ts';
import { createRedirectHandler } from './request/redirect.ts';
import { closeIfSilent, handleClientError } from './request/client-error.ts';
import { version } from './version.ts';
import { Auth, buildAuthComponents, randomSecret, type AuthComponents } from './auth/auth.ts';
import type { Sessions } from './auth/session-data.ts';
import { openSessionLayer, sessionLifetimeMs } from './session/open.ts';
import type { SessionManager } from './session/sessions.ts';
import { createAdminHandler } from './admin/api.ts';
import { createRateLimiting } from './request/rate-limit.ts';
import { createOpsServer } from './admin/ops-listener.ts';

export interface StartOptions {
  readonly configFile: string;
  readonly env?: Env;
  /** log destination: a file descriptor or path (default stdout) */
  readonly logDestination?: number | string;
  readonly logSync?: boolean;
  /** reload automatically when the file changes (default true) */
  readonly watch?: boolean;
  /** in a worker (workers > 1): every worker's metrics, gathered by the primary (src/workers.ts) */
  readonly clusterMetrics?: () => Promise<string>;
}

export interface ReloadResult {
  readonly ok: boolean;
  readonly checksum: string;
  readonly errors?: readonly string[];
}

export interface Portcullis {
  readonly logger: Logger;
  readonly metrics: Metrics;
  config(): CompiledConfig;
  /** the bound addresses, for tests and the start-up banner */
  readonly addresses: { main: AddressInfo; ops: AddressInfo; redirect?: AddressInfo };
  reload(): Promise<ReloadResult>;
  /** stop accepting, let in-flight requests finish (up to limits.shutdown_timeout), then close */
  shutdown(): Promise<void>;
}

export async function startPortcullis(options: StartOptions): Promise<Portcullis> {
  const env = options.env ?? process.env;
  // The posture verifier logs key outages; the logger exists only after the first compile.
  let loggerRef: Logger | undefined;
  const postureLog = { warn: (fields: Record<string, unknown>, message: string) => loggerRef?.warn({ type: 'posture', ...fields }, message) };
  const first = compileConfig(loadConfigFile(options.configFile, env), { logger: postureLog });
  const logger = createLogger({ level: first.log.level, destination: options.logDestination, sync: options.logSync });
  loggerRef = logger;
  const metrics = new Metrics();
  const pools = new UpstreamPools();
  // Without cookie.secret the login-state key is random per process (warned about at start).
  const fallbackSecret = randomSecret();
  let sessions: Sessions | undefined;
  let handleUpgrade: UpgradeHandler | undefined;
  let sessionAdmin: SessionManager | undefined;
  let components: AuthComponents | undefined;
  async function buildAuth(config: CompiledConfig): Promise<Auth | undefined> {
    if (!config.auth) return undefined;
    if (!sessions) {
      ({ sessions, manager: sessionAdmin } = openSessionLayer(config, logger));
      // A revocation on any instance (Redis pub/sub) re-checks this instance's open WebSockets at once.
      sessions.onRevoked(() => void handleUpgrade?.recheckAll());
    }
    components = await buildAuthComponents(config.auth, config.publicUrl, logger, components, fallbackSecret);
    return new Auth(components, config, sessions, logger, sessionLifetimeMs(config));
  }
  // Limiters are rebuilt per config; unchanged limits keep their counts (and their Redis keys).
  const rateLimiting = createRateLimiting(logger);
  let state: RuntimeState = { config: first, pools, auth: await buildAuth(first), rateLimits: rateLimiting.build(first) };
  let draining = false;
  metrics.setConfig(first.checksum);
  for (const warning of insecureSettings(first)) logger.warn({ type: 'insecure_setting' }, warning);

  const deps = { state: () => state, logger, metrics, isDraining: () => draining };
  const handleRequest = createRequestHandler(deps);
  const openWebSockets = new Set<OpenWebSocket>();
  // Declared before use in buildAuth's revocation hook (which only runs later, on a revocation).
  handleUpgrade = createUpgradeHandler(deps, openWebSockets);

  const limits = first.limits;
  const serverOptions: http.ServerOptions = {
    maxHeaderSize: limits.max_header_bytes,
    headersTimeout: limits.header_timeout,
    requestTimeout: limits.request_timeout,
    keepAliveTimeout: limits.keep_alive_timeout,
    // Host is checked by Portcullis itself so the client gets a proper error page.
    requireHostHeader: false,
    // Only WebSocket upgrades switch protocols; an "Upgrade: h2c" request is served as plain HTTP/1.1.
    shouldUpgradeCallback: isWebSocketUpgrade,
    // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3): Node then
    // hands it over already ended instead of running a readable stream's life cycle for nothing.
    // Nothing here listens to a request's stream events; a body is read with for await, which
    // sees the end, and forwarded only when one of the two headers is there (request/forward.ts).
    optimizeEmptyRequests: true,
    connectionsCheckingInterval: Math.min(30_000, Math.max(1000, Math.floor(limits.header_timeout / 2))),
  };
  const main = first.listen.tls
    ? https.createServer({ ...serverOptions, cert: first.listen.tls.cert, key: first.listen.tls.key, minVersion: 'TLSv1.2', handshakeTimeout: limits.header_timeout }, handleRequest)
    : http.createServer(serverOptions, handleRequest);
  // One more than the limit, so the handler can tell "too many" from "exactly the limit".
  main.maxHeadersCount = limits.max_headers + 1;
  main.maxConnections = limits.max_connections;
  main.timeout = limits.idle_timeout;
  main.on('upgrade', handleUpgrade);
  const upgrades = handleUpgrade;
  main.on('clientError', (err: Error, socket: Socket) => handleClientError(err, socket, logger));
  // Silent clients: no byte at all, or (with TLS) a finished handshake and then no request.
  main.on('connection', (socket: Socket) => closeIfSilent(socket, limits.header_timeout));
  if (first.listen.tls) main.on('secureConnection', (socket: Socket) => closeIfSilent(socket, limits.header_timeout));

  const servers: http.Server[] = [main];
  const mainAddress = await listen(main, first.listen.address);

  let redirectAddress: AddressInfo | undefined;
  if (first.listen.redirectHttp) {
    const redirect = http.createServer({ ...serverOptions, shouldUpgradeCallback: () => false }, createRedirectHandler(() => state.config, mainAddress.port));
    redirect.on('clientError', (err: Error, socket: Socket) => handleClientError(err, socket, logger));
    redirect.on('connection', (socket: Socket) => closeIfSilent(socket, limits.header_timeout));
    servers.push(redirect);
    redirectAddress = await listen(redirect, first.listen.redirectHttp);
  }

  const ops = createOpsServer(
    first.ops,
    createOpsHandler({
      admin: createAdminHandler({ ops: () => state.config.ops, sessions: () => sessionAdmin, logger }),
      metricsText: options.clusterMetrics,
      metrics,
      state: () => state.config,
      isReady: () => !draining,
      checks: async () => {
        const out: Record<string, { ok: boolean; detail?: string }> = {};
        const auth = state.auth;
        if (auth) {
          const idp = auth.components.oidc.status();
          out.identity_provider = idp.ready ? { ok: true } : { ok: false, detail: idp.error };
          out.session_store = await sessions!.ping().then(
            () => ({ ok: true }),
            (err: Error) => ({ ok: false, detail: err.message }),
          );
        }
        return out;
      },
    }),
  );
  const opsAddress = await listen(ops, first.opsAddress);

  logger.info(
    { type: 'start', version, config: options.configFile, checksum: first.checksum, listen: fmt(mainAddress, !!first.listen.tls), ops: fmt(opsAddress, !!first.ops.tls), routes: first.routes.length },
    'portcullis started',
  );

  let reloading: Promise<ReloadResult> | undefined;
  async function reload(): Promise<ReloadResult> {
    // Reloads never overlap: a change during a reload waits for it and then runs again.
    while (reloading) await reloading;
    reloading = (async () => {
      try {
        const next = compileConfig(loadConfigFile(options.configFile, env), { logger: postureLog });
        // Same YAML and same referenced files (certificates, keys, geo database): nothing to do.
        if (next.fingerprint === state.config.fingerprint) return { ok: true, checksum: next.checksum };
        const old = state.config;
        warnAboutRestartOnly(old, next, logger);
        if (next.listen.tls && main instanceof https.Server) {
          main.setSecureContext({ cert: next.listen.tls.cert, key: next.listen.tls.key, minVersion: 'TLSv1.2' });
        }
        state = { config: next, pools, auth: await buildAuth(next), rateLimits: rateLimiting.build(next) };
        pools.retainOnly(next.routes);
        logger.level = next.log.level;
        metrics.configReloads.labels('success').inc();
        metrics.setConfig(next.checksum);
        for (const warning of insecureSettings(next)) logger.warn({ type: 'insecure_setting' }, warning);
        logger.info({ type: 'config_reload', result: 'success', checksum: next.checksum, routes: next.routes.length }, 'configuration reloaded');
        return { ok: true, checksum: next.checksum };
      } catch (err) {
        metrics.configReloads.labels('failure').inc();
        const errors = err instanceof ConfigError ? err.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.path ? p.path + ': ' : ''}${p.message}`) : [String(err)];
        logger.error({ type: 'config_reload', result: 'failure', errors }, 'configuration rejected; still serving the previous one');
        return { ok: false, checksum: state.config.checksum, errors };
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  }

  let watcher: FSWatcher | undefined;
  if (options.watch !== false) watcher = watchFile(options.configFile, () => void reload(), logger);

  let shuttingDown: Promise<void> | undefined;
  function shutdown(): Promise<void> {
    shuttingDown ??= (async () => {
      draining = true;
      watcher?.close();
      logger.info({ type: 'shutdown', timeout_ms: state.config.limits.shutdown_timeout }, 'draining connections');
      const deadline = state.config.limits.shutdown_timeout;
      const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      // WebSockets live for hours; waiting for them would only delay the exit. Clients reconnect elsewhere.
      upgrades.stop();
      for (const ws of openWebSockets) ws.client.destroy();
      for (const s of servers) s.closeIdleConnections();
      // Idle keep-alive connections that become idle later are closed as they do.
      const idleSweep = setInterval(() => servers.forEach((s) => s.closeIdleConnections()), 100);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([closed.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), deadline)))]);
      clearTimeout(timer);
      clearInterval(idleSweep);
      if (timedOut) {
        logger.warn({ type: 'shutdown' }, 'shutdown deadline reached; closing remaining connections');
        for (const s of servers) s.closeAllConnections();
      }

      await pools.close();
      components?.oidc.stop();
      await sessions?.close().catch(() => {});
      await rateLimiting.close();
      await new Promise<void>((resolve) => ops.close(() => resolve()));
      ops.closeAllConnections();
      logger.info({ type: 'shutdown' }, 'stopped');
      logger.flush();
    })();
    return shuttingDown;
  }

  return {
    logger,
    metrics,
    config: () => state.config,
    addresses: { main: mainAddress, ops: opsAddress, redirect: redirectAddress },
    reload,
    shutdown,
  };
}

function listen(server: http.Server, address: { host: string; port: number }): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function fmt(a: AddressInfo, tls: boolean): string {
  return `${tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}

function warnAboutRestartOnly(old: CompiledConfig, next: CompiledConfig, logger: Logger): void {
  const changed: string[] = [];
  if (JSON.stringify(old.listen.address) !== JSON.stringify(next.listen.address)) changed.push('listen.address');
  if (!!old.listen.tls !== !!next.listen.tls) changed.push('listen.tls (on/off)');
  if (JSON.stringify(old.listen.redirectHttp) !== JSON.stringify(next.listen.redirectHttp)) changed.push('listen.redirect_http');
  if (JSON.stringify(old.opsAddress) !== JSON.stringify(next.opsAddress)) changed.push('ops.address');
  if (JSON.stringify(old.limits) !== JSON.stringify(next.limits)) changed.push('limits');
  if (changed.length) logger.warn({ type: 'config_reload', restart_required: changed }, `these settings take effect only after a restart: ${changed.join(', ')}`);
}

/**
 * Watch the directory, not the file: editors and Kubernetes ConfigMaps replace the file
 * (rename or symlink swap), which a watch on the old inode would never see.
 */
function watchFile(file: string, onChange: () => void, logger: Logger): FSWatcher | undefined {
  let timer: NodeJS.Timeout | undefined;
  try {
    const w = watch(dirname(file), { persistent: false }, (_event, name) => {
      if (name !== null && name !== basename(file) && !String(name).startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, 150);
    });
    w.on('error', (err) => logger.warn({ type: 'config_watch', error: err.message }, 'cannot watch the configuration file; reload with SIGHUP'));
    return w;
  } catch (err) {
    logger.warn({ type: 'config_watch', error: (err as Error).message }, 'cannot watch the configuration file; reload with SIGHUP');
    return undefined;
  }
}

