// Class 5: framing that two HTTP parsers could read differently. Each attack hides a
// second request (GET /smuggled, without a session) in what Portcullis might read as a
// body; the hidden request must never reach the upstream on its own, and every request
// Portcullis does read is judged by itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, startTarget, type RawReply, type Target } from './harness.ts';

let t: Target;
beforeAll(async () => {
  t = await startTarget();
});
afterAll(async () => {
  await t?.stop();
});

const hidden = 'GET /smuggled HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-User: mallory\r\n\r\n';

function head(lines: string[], withSession = true): string {
  return ['POST /ok HTTP/1.1', 'Host: app.test', ...(withSession ? [`Cookie: ${t.cookie}`] : []), 'Accept: application/json', ...lines].join('\r\n') + '\r\n\r\n';
}

function expectNothingSmuggled(r: RawReply): void {
  for (const req of r.upstream) {
    expect(req.url).not.toContain('smuggled');
    expect(req.headers['x-forwarded-user']).toBe(t.user);
  }
  expect(r.raw).not.toMatch(/"url":"\/smuggled"/);
}

describe('ambiguous framing is refused or read one way only', () => {
  it.each([
    ['CL.TE', ['Content-Length: 6', 'Transfer-Encoding: chunked'], '0\r\n\r\n' + hidden],
    ['TE.CL', ['Transfer-Encoding: chunked', 'Content-Length: 3'], `${(8).toString(16)}\r\nSMUGGLED\r\n0\r\n\r\n` + hidden],
    ['TE "chunked, identity" with CL', ['Transfer-Encoding: chunked, identity', 'Content-Length: 5'], '0\r\n\r\n' + hidden],
    ['TE "xchunked"', ['Transfer-Encoding: xchunked'], '0\r\n\r\n' + hidden],
    ['TE with a tab before the value', ['Transfer-Encoding:\tchunked', 'Content-Length: 4'], '0\r\n\r\n' + hidden],
    ['TE "chunked" twice with CL', ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked', 'Content-Length: 4'], '0\r\n\r\n' + hidden],
    ['TE "identity" then "chunked" in two headers', ['Transfer-Encoding: identity', 'Transfer-Encoding: chunked'], '0\r\n\r\n' + hidden],
    ['TE with a space before the colon', ['Transfer-Encoding : chunked', 'Content-Length: 4'], '0\r\n\r\n' + hidden],
    ['TE folded onto the next line (obs-fold)', ['Transfer-Encoding:', ' chunked', 'Content-Length: 4'], '0\r\n\r\n' + hidden],
    ['two different Content-Lengths', ['Content-Length: 4', 'Content-Length: 60'], 'abcd' + hidden],
    ['a Content-Length list', ['Content-Length: 4, 60'], 'abcd' + hidden],
    ['a signed Content-Length', ['Content-Length: +4'], 'abcd' + hidden],
    ['a hexadecimal Content-Length', ['Content-Length: 0x4'], 'abcd' + hidden],
    ['a negative Content-Length', ['Content-Length: -1'], 'abcd' + hidden],
    ['an overflowing chunk size', ['Transfer-Encoding: chunked'], 'ffffffffffffffffff1\r\nx\r\n0\r\n\r\n' + hidden],
  ])('%s', async (_name, lines, body) => {
    const r = await raw(t, head(lines) + body);
    expectNothingSmuggled(r);
    // Ambiguity is refused outright; only an unambiguous parse may be forwarded.
    if (r.upstream.length === 0) expect(r.status).toBe(400);
  });

  it('bare LF line endings cannot split one request into two', async () => {
    const r = await raw(t, `POST /ok HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nContent-Length: 4\nX: y\r\n\r\nabcd${hidden}`);
    expectNothingSmuggled(r);
  });

  it('a bare CR inside a header value is refused', async () => {
    const r = await raw(t, `GET /ok HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nX-A: a\rX-Forwarded-User: mallory\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(400);
    expect(r.upstream).toHaveLength(0);
  });
});

describe('pipelined requests are judged one by one', () => {
  it('an authorized request followed by an anonymous one: the second is sent to sign in, not forwarded', async () => {
    const first = head(['Content-Length: 2']) + 'hi';
    const second = 'GET /second HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\nConnection: close\r\n\r\n';
    const r = await raw(t, first + second);
    expect(r.raw.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 401']);
    expect(r.upstream.map((x) => x.url)).toEqual(['/ok']);
  });

  it('an anonymous request on the public route followed by one for the app: the second still needs a session', async () => {
    const first = 'GET /pub HTTP/1.1\r\nHost: public.test\r\n\r\n';
    const second = 'GET /app HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\nConnection: close\r\n\r\n';
    const r = await raw(t, first + second);
    expect(r.raw.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 401']);
    expect(r.upstream.map((x) => x.url)).toEqual(['/pub']);
  });

  it('a request hidden in a body with an exact Content-Length stays a body', async () => {
    const r = await raw(t, head([`Content-Length: ${hidden.length}`, 'Connection: close']) + hidden);
    expect(r.status).toBe(200);
    expect(r.upstream.map((x) => x.url)).toEqual(['/ok']);
    expectNothingSmuggled(r);
  });

  it('a chunked body carrying a request stays a body and is re-framed for the upstream', async () => {
    const body = `${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`;
    const r = await raw(t, head(['Transfer-Encoding: chunked', 'Connection: close']) + body);
    expect(r.status).toBe(200);
    expect(r.upstream.map((x) => x.url)).toEqual(['/ok']);
  });
});

describe('protocol switches', () => {
  it('Upgrade: h2c is not honoured: no 101, and neither Upgrade nor HTTP2-Settings reaches the upstream', async () => {
    const r = await raw(t, `GET /ok HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nAccept: application/json\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`);
    expect(r.status).not.toBe(101);
    for (const req of r.upstream) {
      expect(req.headers.upgrade).toBeUndefined();
      expect(req.headers['http2-settings']).toBeUndefined();
    }
  });

  it('Upgrade: h2c without a session gets no upstream at all', async () => {
    const r = await raw(t, 'GET /ok HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
    expect(r.status).not.toBe(101);
    expect(r.upstream).toHaveLength(0);
  });

  it('the HTTP/2 connection preface is not a request', async () => {
    const r = await raw(t, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(r.upstream).toHaveLength(0);
    expect(r.status === 0 || r.status === 400 || r.status === 505).toBe(true);
  });
});
