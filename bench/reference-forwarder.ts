// The floor for any Node proxy: node:http in front of an undici Pool, nothing else
// but hop-by-hop header stripping. Runs as its own process; prints {"port":N} when ready.
// Usage: node bench/reference-forwarder.ts http://127.0.0.1:UPSTREAM_PORT
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
const pool = new Pool(process.argv[2]!, { keepAliveTimeout: 30_000 });

function withoutHopByHop(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name) && headers[name] !== undefined) out[name] = headers[name]!;
  return out;
}

const server = http.createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.stream(
    { path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: withoutHopByHop(req.headers), body: hasBody ? req : null },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, withoutHopByHop(headers));
      return res;
    },
    (err) => {
      if (!err) return;
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    },
  );
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.close();
});
