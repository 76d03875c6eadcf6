// Workers share the primary's stdout. Their log writes must never interleave inside a line:
// each write holds whole lines and at most PIPE_BUF bytes, which a pipe takes atomically.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, createReadStream, open } from 'node:fs';
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
});
