// The session check behind nginx's auth_request in the "classic oauth2-proxy shape": nginx
// asks this small service about every request, and it looks the session cookie up in Redis.
// 200 when the session exists, 401 otherwise. It does less than oauth2-proxy (no decryption
// of the session, no group check), so the nginx + auth_request row is a floor for that
// deployment, not a measurement of oauth2-proxy itself.
// Usage: node bench/nginx-auth-check.ts REDIS_URL KEY_PREFIX; prints {"port":N} when ready.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';

export const SESSION_COOKIE = '_oauth2_proxy';

/** Pure: the value of one cookie in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function main(redisUrl: string, prefix: string): void {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', (err: Error) => console.error(`nginx-auth-check: Redis: ${err.message}`));
  const server = http.createServer((req, res) => {
    const ticket = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (!ticket) return void res.writeHead(401, { 'content-length': 0 }).end();
    redis.getBuffer(prefix + ticket).then(
      (session) => res.writeHead(session ? 200 : 401, { 'content-length': 0 }).end(),
      () => res.writeHead(503, { 'content-length': 0 }).end(),
    );
  });
  server.keepAliveTimeout = 120_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
  });
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    redis.disconnect();
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [redisUrl, prefix] = process.argv.slice(2);
  if (!redisUrl || prefix === undefined) {
    console.error('usage: node bench/nginx-auth-check.ts REDIS_URL KEY_PREFIX');
    process.exit(2);
  }
  main(redisUrl, prefix);
}
