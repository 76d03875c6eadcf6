// A minimal WebSocket upstream for tests (RFC 6455 server side, no extensions):
// the handshake, unfragmented frames up to 2^53 bytes, echo of text and binary
// messages, ping -> pong, and a clean close. Enough to prove bytes flow both ways
// through the proxy without pulling in a WebSocket library.
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface WebSocketUpstream {
  readonly url: string; // http://127.0.0.1:PORT
  readonly port: number;
  /** every upgrade request the upstream received, in order */
  readonly upgrades: { url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[] }[];
  /** every message the upstream received, in order (text as string, binary as Buffer) */
  readonly messages: (string | Buffer)[];
  close(): Promise<void>;
}

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** One frame, unmasked (servers never mask). */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (len < 126) head[1] = len;
  else if (len < 65536) {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

interface Frame {
  opcode: number;
  payload: Buffer;
  /** bytes of the buffer this frame used */
  size: number;
}

/** Parse one (masked or not) frame from the start of buf, or undefined when more bytes are needed. */
export function decodeFrame(buf: Buffer): Frame | undefined {
  if (buf.length < 2) return undefined;
  const opcode = buf[0]! & 0x0f;
  const masked = (buf[1]! & 0x80) !== 0;
  let len = buf[1]! & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  const maskOffset = offset;
  if (masked) offset += 4;
  if (buf.length < offset + len) return undefined;
  const payload = Buffer.from(buf.subarray(offset, offset + len));
  if (masked) for (let i = 0; i < len; i++) payload[i]! ^= buf[maskOffset + (i % 4)]!;
  return { opcode, payload, size: offset + len };
}

/**
 * Start an upstream that accepts every WebSocket upgrade, greets with "hello <path>",
 * and echoes each message back prefixed with "echo:" (text) or as is (binary).
 */
export async function startWebSocketUpstream(): Promise<WebSocketUpstream> {
  const upgrades: WebSocketUpstream['upgrades'] = [];
  const messages: WebSocketUpstream['messages'] = [];
  const sockets = new Set<Duplex>();
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('websocket only\n');
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrades.push({ url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders });
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // Like real WebSocket servers: when the peer hangs up, hang up too (http sockets allow half-open).
    socket.on('end', () => socket.end());
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string') {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
    socket.write(encodeFrame(0x1, Buffer.from(`hello ${req.url}`)));
    let pending: Buffer = head.length ? Buffer.from(head) : Buffer.alloc(0);
    const drain = () => {
      for (let frame = decodeFrame(pending); frame; frame = decodeFrame(pending)) {
        pending = pending.subarray(frame.size);
        if (frame.opcode === 0x1) {
          const text = frame.payload.toString('utf8');
          messages.push(text);
          socket.write(encodeFrame(0x1, Buffer.from(`echo:${text}`)));
        } else if (frame.opcode === 0x2) {
          messages.push(frame.payload);
          socket.write(encodeFrame(0x2, frame.payload));
        } else if (frame.opcode === 0x9) {
          socket.write(encodeFrame(0xa, frame.payload));
        } else if (frame.opcode === 0x8) {
          socket.end(encodeFrame(0x8, frame.payload.subarray(0, 2)));
          return;
        }
      }
    };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      drain();
    });
    drain();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    upgrades,
    messages,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Collect the next n messages from a (browser-style) WebSocket, with a deadline. */
export function nextMessages(ws: WebSocket, n: number, timeoutMs = 5000): Promise<(string | ArrayBuffer)[]> {
  return new Promise((resolve, reject) => {
    const got: (string | ArrayBuffer)[] = [];
    const timer = setTimeout(() => {
      ws.removeEventListener('message', onMessage);
      reject(new Error(`timed out after ${got.length} of ${n} messages`));
    }, timeoutMs);
    const onMessage = (e: MessageEvent) => {
      got.push(e.data as string | ArrayBuffer);
      if (got.length === n) {
        clearTimeout(timer);
        ws.removeEventListener('message', onMessage);
        resolve(got);
      }
    };
    ws.addEventListener('message', onMessage);
  });
}

export function opened(ws: WebSocket, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('websocket did not open in time')), timeoutMs);
    ws.addEventListener('open', () => (clearTimeout(timer), resolve()), { once: true });
    ws.addEventListener('error', (e) => (clearTimeout(timer), reject(new Error(`websocket failed: ${(e as Event & { message?: string }).message ?? 'error'}`))), { once: true });
  });
}
