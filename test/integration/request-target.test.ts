// One request, one meaning: targets that servers could read differently are refused
// with 400 before routing; harmless variants are normalized so the upstream sees
// exactly the path that was routed and checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseConfig, parseRawResponse, rawRequest, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

let upstream: Upstream;
let proxy: Running;

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(`${baseConfig}
routes:
  - name: app
    from: http://app.test
    to: ${upstream.url}
    public: true
  - name: other
    from: http://other.test
    to: ${upstream.url}/other-base
    public: true
`);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

async function send(requestLine: string, headerLines: string[] = ['Host: app.test']) {
  const before = upstream.received.length;
  const raw = await rawRequest(proxy.port, `${requestLine}\r\n${headerLines.map((l) => l + '\r\n').join('')}Accept: application/json\r\nConnection: close\r\n\r\n`, 100);
  const reply = parseRawResponse(raw);
  return { ...reply, reachedUpstream: upstream.received.length > before, upstreamUrl: upstream.received[before]?.url, upstreamHost: upstream.received[before]?.headers.host };
}

describe('ambiguous paths are refused with 400 and never reach the upstream', () => {
  it.each([
    ['an encoded slash', '/a%2fb'],
    ['an encoded slash, upper case', '/a%2Fb'],
    ['an encoded backslash', '/a%5cb'],
    ['a raw backslash', '/a\\b'],
    ['an encoded dot segment', '/a/%2e%2e/admin'],
    ['a half-encoded dot segment', '/a/.%2e/admin'],
    ['a double-encoded slash', '/a%252fb'],
    ['a double-encoded dot', '/a/%252e%252e/admin'],
    ['an encoded NUL', '/a%00b'],
    ['a double-encoded NUL', '/a%2500'],
    ['invalid percent-encoding', '/a%zzb'],
    ['a truncated escape', '/a%2'],
    ['invalid UTF-8 in an escape', '/a%c3%28'],
    ['".." escaping the root', '/../etc/passwd'],
    ['".." escaping the root after a segment', '/a/../../etc/passwd'],
  ])('%s: %s', async (_name, path) => {
    const r = await send(`GET ${path} HTTP/1.1`);
    expect(r.status).toBe(400);
    expect(r.reachedUpstream).toBe(false);
    expect(JSON.parse(r.body).error).toMatch(/^(ambiguous_path|bad_request)$/);
  });

  it('a raw NUL byte in the request line is refused', async () => {
    const r = await send('GET /a\0b HTTP/1.1');
    expect(r.status).toBe(400);
    expect(r.reachedUpstream).toBe(false);
  });
});

describe('harmless variants reach the upstream normalized', () => {
  it.each([
    ['//a', '/a'],
    ['/a/./b', '/a/b'],
    ['/a//b/', '/a/b/'],
    ['/a/x/../b', '/a/b'],
    ['/%61dmin', '/admin'],
    ['/caf%c3%a9?q=%2f', '/caf%C3%A9?q=%2f'],
  ])('%s arrives as %s', async (path, expected) => {
    const r = await send(`GET ${path} HTTP/1.1`);
    expect(r.status).toBe(200);
    expect(r.upstreamUrl).toBe(expected);
  });

  it('the normalized path is what routes: //admin on a base-path route lands under the base path', async () => {
    const r = await send('GET //x/./y HTTP/1.1', ['Host: other.test']);
    expect(r.status).toBe(200);
    expect(r.upstreamUrl).toBe('/other-base/x/y');
  });
});

describe('the host is unambiguous', () => {
  it('an absolute-form target naming another host than Host is refused', async () => {
    const r = await send('GET http://other.test/x HTTP/1.1', ['Host: app.test']);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toBe('bad_host');
    expect(r.reachedUpstream).toBe(false);
  });

  it('an absolute-form target routes by its authority', async () => {
    const r = await send('GET http://other.test/x?y=1 HTTP/1.1', []);
    expect(r.status).toBe(200);
    expect(r.upstreamUrl).toBe('/other-base/x?y=1');
  });

  it('an absolute-form target agreeing with Host (case and port aside) is served', async () => {
    const r = await send('GET http://APP.test:80/x HTTP/1.1', ['Host: app.test']);
    expect(r.status).toBe(200);
    expect(r.upstreamUrl).toBe('/x');
  });

  it('two Host headers are refused, even when they agree', async () => {
    for (const second of ['Host: other.test', 'Host: app.test', 'host: app.test']) {
      const r = await send('GET / HTTP/1.1', ['Host: app.test', second]);
      expect(r.status).toBe(400);
      expect(r.reachedUpstream).toBe(false);
    }
  });

  it('an HTTP/1.0 request without Host is refused', async () => {
    const r = await send('GET / HTTP/1.0', []);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toBe('bad_host');
  });

  it('an HTTP/1.1 request without Host is refused', async () => {
    const r = await send('GET / HTTP/1.1', []);
    expect(r.status).toBe(400);
    expect(r.reachedUpstream).toBe(false);
  });

  it.each([['app.test@evil.test'], ['app.test:abc'], ['app test'], ['[::1']])('an invalid Host header (%s) is refused', async (host) => {
    const r = await send('GET / HTTP/1.1', [`Host: ${host}`]);
    expect(r.status).toBe(400);
    expect(r.reachedUpstream).toBe(false);
  });

  it('an asterisk-form target is refused', async () => {
    const r = await send('OPTIONS * HTTP/1.1');
    expect(r.status).toBe(400);
    expect(r.reachedUpstream).toBe(false);
  });

  it('CONNECT is never tunnelled: the connection is closed without a tunnel', async () => {
    const r = await send('CONNECT app.test:443 HTTP/1.1');
    expect(r.status === 0 || r.status >= 400).toBe(true);
    expect(r.status).not.toBe(200);
    expect(r.reachedUpstream).toBe(false);
  });
});

describe('request framing that could be read two ways is refused', () => {
  it('Content-Length together with Transfer-Encoding is refused before any upstream sees it', async () => {
    const before = upstream.received.length;
    const raw = await rawRequest(
      proxy.port,
      'POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n',
      100,
    );
    expect(parseRawResponse(raw).status).toBe(400);
    expect(upstream.received.length).toBe(before);
  });

  it('two different Content-Length headers are refused', async () => {
    const before = upstream.received.length;
    const raw = await rawRequest(proxy.port, 'POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde', 100);
    expect(parseRawResponse(raw).status).toBe(400);
    expect(upstream.received.length).toBe(before);
  });
});
