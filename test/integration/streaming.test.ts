// Bodies stream through the proxy in both directions: nothing is buffered whole,
// whatever the size, with or without a content-length.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { request } from 'undici';
import { baseConfig, rawRequest, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

const MiB = 1024 * 1024;
// 256 MiB by default, so the suite stays fast on a shared 2-core machine. Set
// PORTCULLIS_STREAM_MIB=1024 for the full 1 GiB run (about 7 s per direction on 2 cores).
const BIG = Number(process.env.PORTCULLIS_STREAM_MIB ?? 256) * MiB;
const CHUNK = 64 * 1024;
// A proxy that buffered a body would hold all of it; streaming holds a few chunks per hop.
// Client, proxy and upstream share this process, and RSS also counts buffers already freed
// whose memory V8's background thread or malloc has not handed back yet: 0-34 MiB on a
// quiet machine, 70 MiB once in CI with every core busy. Half the default body (at most
// half of any) tells the two apart.
const MAX_RSS_GROWTH = Math.min(128 * MiB, BIG / 2);
// One random block, stamped with the chunk number so order and loss both change the hash.
const block = randomBytes(CHUNK);

function chunkAt(i: number): Buffer {
  const b = Buffer.from(block);
  b.writeUInt32BE(i, 0);
  return b;
}

/**
 * Generate `size` bytes lazily: a new chunk only when the consumer asks for one. `taken` is
 * told of each chunk as it is made (a 'data' listener would start the stream flowing before
 * its consumer is attached, and that consumer would miss what it emitted).
 */
function generated(size: number, taken?: (bytes: number) => void): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  let i = 0;
  const chunks = size / CHUNK;
  const stream = new Readable({
    highWaterMark: CHUNK,
    read() {
      if (i === chunks) return void this.push(null);
      const c = chunkAt(i++);
      hash.update(c);
      taken?.(c.length);
      this.push(c);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

// A full collection between samples, so garbage not yet collected is not mistaken for
// buffering. Exposed at run time because the test runner's workers start without --expose-gc.
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Peak RSS growth while `work` runs, sampled every 200 ms. `warmUp` runs first and is not
 * measured: sockets, allocator arenas and JIT grow once on the first transfer and then stay.
 * What is left is growth that scales with the body, which is what buffering would cause.
 */
async function peakRssGrowth<T>(warmUp: () => Promise<unknown>, work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  await warmUp();
  gc();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    gc();
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 200);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - baseline };
  } finally {
    clearInterval(sampler);
  }
}

/** Polls `count` until it has started and stopped growing (or reached the whole body), and returns where it stopped. */
async function whenItStops(count: () => number): Promise<number> {
  const deadline = Date.now() + 30_000;
  let last = -1;
  while ((count() === 0 || count() !== last) && count() < BIG && Date.now() < deadline) {
    last = count();
    await new Promise((r) => setTimeout(r, 300));
  }
  return count();
}

async function upload(size: number, body: Readable) {
  const res = await request(`${proxy.url}/upload`, {
    method: 'POST',
    headers: { host: 'files.test', 'content-length': String(size), 'content-type': 'application/octet-stream' },
    body,
  });
  return { status: res.statusCode, body: (await res.body.json()) as { bytes: number; sha256: string; contentLength: string } };
}

async function download(size: number) {
  const res = await request(`${proxy.url}/download?size=${size}&length=1`, { headers: { host: 'files.test' } });
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const c of res.body) {
    bytes += (c as Buffer).length;
    hash.update(c as Buffer);
  }
  return { status: res.statusCode, length: res.headers['content-length'], bytes, sha256: hash.digest('hex') };
}

let upstream: Upstream;
let proxy: Running;
/** sha256 of the last body the upstream generated for /download */
let lastDownloadDigest = '';
/** bytes the upstream has generated so far for the current /download (it generates only what its socket takes) */
let downloadGenerated = 0;
/** the upstream's handle on a /stalled-upload it has not read yet */
let stalledUpload: { resume: () => void } | undefined;

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/upload') {
      // Count and hash what arrives, answer only at the end.
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => ((bytes += c.length), hash.update(c)));
      req.on('end', () => {
        const body = JSON.stringify({ bytes, sha256: hash.digest('hex'), chunked: req.headers['transfer-encoding'] === 'chunked', contentLength: req.headers['content-length'] ?? null });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (url.pathname === '/stalled-upload') {
      // Reads nothing until told to, then counts what arrives.
      stalledUpload = { resume: () => {
        let bytes = 0;
        req.on('data', (c: Buffer) => (bytes += c.length));
        req.on('end', () => res.end(String(bytes)));
      } };
      return;
    }
    if (url.pathname === '/download') {
      const size = Number(url.searchParams.get('size'));
      const withLength = url.searchParams.get('length') === '1';
      downloadGenerated = 0;
      const { stream, digest } = generated(size, (bytes) => (downloadGenerated += bytes));
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...(withLength ? { 'content-length': String(size) } : {}) });
      stream.pipe(res);
      stream.on('end', () => (lastDownloadDigest = digest()));
      return;
    }
    if (url.pathname === '/close-delimited') {
      // An HTTP/1.0-style body that ends when the connection closes: no length, no chunking.
      res.socket!.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n');
      res.socket!.write('first part, ');
      setTimeout(() => res.socket!.end('second part'), 50);
      return;
    }
    res.writeHead(404).end();
  });
  proxy = await startProxy(`${baseConfig}
routes:
  - name: files
    from: http://files.test
    to: ${upstream.url}
    public: true
`);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});


describe('large bodies stream through without being buffered', () => {
  it(`a ${BIG / MiB} MiB upload streams to the upstream with flat memory`, async () => {
    const { stream, digest } = generated(BIG);
    const { result, growth } = await peakRssGrowth(() => upload(64 * MiB, generated(64 * MiB).stream), () => upload(BIG, stream));
    expect(result.status).toBe(200);
    expect(result.body.bytes).toBe(BIG);
    expect(result.body.contentLength).toBe(String(BIG));
    expect(result.body.sha256).toBe(digest());
    expect(growth).toBeLessThan(MAX_RSS_GROWTH);
  }, 120_000);

  it(`a ${BIG / MiB} MiB download streams to the client with flat memory`, async () => {
    const { result, growth } = await peakRssGrowth(() => download(64 * MiB), () => download(BIG));
    expect(result.status).toBe(200);
    expect(result.length).toBe(String(BIG));
    expect(result.bytes).toBe(BIG);
    expect(result.sha256).toBe(lastDownloadDigest);
    expect(growth).toBeLessThan(MAX_RSS_GROWTH);
  }, 120_000);

  it('a client that stops reading holds the upstream back instead of filling the proxy with its body', async () => {
    const net = await import('node:net');
    const socket = net.connect(proxy.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.pause();
    downloadGenerated = 0;
    socket.write(`GET /download?size=${BIG}&length=1 HTTP/1.1\r\nhost: files.test\r\nconnection: close\r\n\r\n`);
    // The upstream generates only what the proxy takes. Wait until it stops: with backpressure
    // it does once the socket buffers on the way are full; without, it runs to the end of the
    // body, all of it kept in the proxy for a client that reads nothing.
    const heldBack = await whenItStops(() => downloadGenerated);
    expect(heldBack).toBeGreaterThan(0);
    // What the socket buffers on the way hold: 8-11 MiB on loopback here.
    expect(heldBack).toBeLessThan(64 * MiB);
    // Reading again lets it flow: every byte arrives.
    let received = 0;
    socket.on('data', (c: Buffer) => (received += c.length));
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(downloadGenerated).toBe(BIG);
    expect(received).toBeGreaterThan(BIG);
  }, 120_000);

  it('an upstream that stops reading holds the client back instead of filling the proxy with the upload', async () => {
    stalledUpload = undefined;
    let sent = 0;
    const { stream } = generated(BIG, (bytes) => (sent += bytes));
    const done = request(`${proxy.url}/stalled-upload`, {
      method: 'POST',
      headers: { host: 'files.test', 'content-length': String(BIG), 'content-type': 'application/octet-stream' },
      body: stream,
    });
    // The client's body is generated only as fast as the proxy takes it; wait until it stops.
    await whenItStops(() => sent);
    expect(stalledUpload).toBeDefined();
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(64 * MiB);
    stalledUpload!.resume();
    const res = await done;
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe(String(BIG));
  }, 120_000);
});

describe('bodies without a content-length', () => {
  it('a chunked request body reaches the upstream whole', async () => {
    const size = 8 * CHUNK;
    const { stream, digest } = generated(size);
    // A stream body without a length makes undici send Transfer-Encoding: chunked.
    const res = await request(`${proxy.url}/upload`, { method: 'POST', headers: { host: 'files.test' }, body: stream });
    const body = (await res.body.json()) as { bytes: number; sha256: string; chunked: boolean };
    expect(res.statusCode).toBe(200);
    expect(body.bytes).toBe(size);
    expect(body.sha256).toBe(digest());
  });

  it('a chunked request sent over a raw socket is forwarded with its body intact', async () => {
    const reply = await rawRequest(
      proxy.port,
      'POST /upload HTTP/1.1\r\nHost: files.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    );
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { bytes: number; sha256: string };
    expect(body.bytes).toBe(11);
    expect(body.sha256).toBe(createHash('sha256').update('hello world').digest('hex'));
  });

  it('a response without a content-length is streamed to the client in full', async () => {
    const size = 16 * CHUNK;
    const res = await request(`${proxy.url}/download?size=${size}`, { headers: { host: 'files.test' } });
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const c of res.body) {
      bytes += (c as Buffer).length;
      hash.update(c as Buffer);
    }
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBeUndefined();
    expect(bytes).toBe(size);
    expect(hash.digest('hex')).toBe(lastDownloadDigest);
  });

  it('a response whose end is the upstream closing the connection reaches the client in full', async () => {
    const res = await request(`${proxy.url}/close-delimited`, { headers: { host: 'files.test' } });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('first part, second part');
  });
});
