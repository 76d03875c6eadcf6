// The benchmark's upstream: a plain node:http server answering every request with
// the same 1 KiB body over keep-alive. Runs as its own process; prints {"port":N} when ready.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const BODY = Buffer.alloc(1024, 'x');

const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  res.end(BODY);
});
// Longer than any run, so neither wrk nor a proxy's pool ever sees a connection closed mid-run.
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
