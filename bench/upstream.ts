// The benchmark's upstream: a plain node:http server answering every request with
// the same 1 KiB body over keep-alive. Runs as its own process; prints {"port":N} when ready.
// GET /__bench/served answers how many requests it has served so far (that one not counted):
// wrk counts only 4xx/5xx as errors, so the bench compares this count with wrk's to catch
// the 302s to a sign-in page that would otherwise pass as fast successes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const BODY = Buffer.alloc(1024, 'x');
let served = 0;

const server = http.createServer((req, res) => {
  if (req.url === '/__bench/served') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ served }));
    return;
  }
  served++;
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
