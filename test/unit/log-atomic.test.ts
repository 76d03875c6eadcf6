// Workers share the primary's stdout. Their log writes must never interleave inside a line:
// on a pipe or socket each write holds whole lines and at most PIPE_BUF bytes, which a pipe
// takes atomically; a regular file takes whole batches, which it never interleaves.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, createReadStream, open, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { LogDestination, PIPE_BUF, wholeLinesLength } from '../../src/log.ts';
import { tempDir } from '../helpers/servers.ts';

const lines = (...lengths: number[]) => Buffer.from(lengths.map((n) => 'x'.repeat(n - 1) + '\n').join(''));

describe('whole-line writes of at most PIPE_BUF bytes', () => {
  it('takes everything that fits, else the whole lines that fit, else one long line whole', () => {
    expect(wholeLinesLength(lines(100, 200), 0)).toBe(300);
    expect(wholeLinesLength(lines(2000, 2000, 2000), 0)).toBe(4000);
    expect(wholeLinesLength(lines(2000, 2000, 2000), 4000)).toBe(2000);
    expect(wholeLinesLength(lines(PIPE_BUF, 10), 0)).toBe(PIPE_BUF);
    expect(wholeLinesLength(lines(9000, 10), 0)).toBe(9000);
    expect(wholeLinesLength(Buffer.from('y'.repeat(9000)), 0)).toBe(9000);
  });

  it('two writers sharing one pipe with a slow reader: every line arrives whole and in order', async () => {
    const fifo = join(tempDir('log-fifo-'), 'stdout');
    execFileSync('mkfifo', [fifo]);
    const chunks: Buffer[] = [];
    const reader = createReadStream(fifo);
    // Opened asynchronously: opening either end of a FIFO waits for the other.
    const fd = await new Promise<number>((resolve, reject) => open(fifo, 'w', (err, opened) => (err ? reject(err) : resolve(opened))));
    // A slow log collector: the pipe fills and writers wait with their batches half written.
    reader.pause();
    reader.on('data', (c) => chunks.push(c as Buffer));
    const ended = new Promise<void>((r) => reader.on('end', () => r()));
    const writers = [new LogDestination(fd, false, true), new LogDestination(fd, false, true)];
    const perWriter = 1500;
    for (let i = 0; i < perWriter; i++) {
      writers.forEach((w, id) => w.write(`${JSON.stringify({ writer: id, seq: i, pad: 'p'.repeat((i * 997 + id * 131) % 3900) })}\n`));
    }
    const flushed = Promise.all(writers.map((w) => new Promise<void>((r) => w.flush(() => r()))));
    setTimeout(() => reader.resume(), 200);
    await flushed;
    closeSync(fd);
    await ended;
    const received = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean);
    const parsed = received.map((line) => JSON.parse(line) as { writer: number; seq: number });
    for (const id of [0, 1]) expect(parsed.filter((p) => p.writer === id).map((p) => p.seq)).toEqual(Array.from({ length: perWriter }, (_, i) => i));
  });

  it('cuts writes on pipes and sockets, not on regular files, and only when asked', async () => {
    const dir = tempDir('log-kinds-');
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = createReadStream(fifo);
    const pipeFd = await new Promise<number>((resolve, reject) => open(fifo, 'w', (err, opened) => (err ? reject(err) : resolve(opened))));
    const fileFd = openSync(join(dir, 'file.log'), 'a');
    const server = net.createServer((s) => s.resume());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    try {
      expect(new LogDestination(pipeFd, true, true).writesAtMostPipeBuf).toBe(true);
      expect(new LogDestination((socket as unknown as { _handle: { fd: number } })._handle.fd, true, true).writesAtMostPipeBuf).toBe(true);
      expect(new LogDestination(fileFd, true, true).writesAtMostPipeBuf).toBe(false);
      expect(new LogDestination(pipeFd, true, false).writesAtMostPipeBuf).toBe(false);
    } finally {
      closeSync(fileFd);
      closeSync(pipeFd);
      reader.destroy();
      socket.destroy();
      server.close();
    }
  });

  it('two writers appending to one regular file in whole batches: every line arrives whole and in order', async () => {
    const file = join(tempDir('log-file-'), 'shared.log');
    // Two descriptors, as two worker processes appending to one file would have; libuv's
    // thread pool runs their writes at the same time.
    const fds = [openSync(file, 'a'), openSync(file, 'a')];
    const writers = fds.map((fd) => new LogDestination(fd, false, true));
    expect(writers.every((w) => !w.writesAtMostPipeBuf)).toBe(true);
    const perWriter = 3000;
    for (let i = 0; i < perWriter; i++) {
      writers.forEach((w, id) => w.write(`${JSON.stringify({ writer: id, seq: i, pad: String(id).repeat((i * 997 + id * 131) % 9000) })}\n`));
    }
    await Promise.all(writers.map((w) => new Promise<void>((r) => w.flush(() => r()))));
    fds.forEach((fd) => closeSync(fd));
    const parsed = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { writer: number; seq: number; pad: string });
    for (const id of [0, 1]) {
      const mine = parsed.filter((p) => p.writer === id);
      expect(mine.map((p) => p.seq)).toEqual(Array.from({ length: perWriter }, (_, i) => i));
      expect(mine.every((p) => p.pad === String(id).repeat((p.seq * 997 + id * 131) % 9000))).toBe(true);
    }
  });
});
