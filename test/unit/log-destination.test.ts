// The asynchronous log destination encodes each batch into a buffer it keeps and reuses
// once the batch's write is done: whatever the lines hold and however long they are, the
// file gets exactly them, in order.
import { describe, expect, it } from 'vitest';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogDestination } from '../../src/log.ts';
import { tempDir } from '../helpers/servers.ts';
import { stalledPipe } from '../helpers/stalled-pipe.ts';

const flushed = (dest: LogDestination) => new Promise<void>((resolve) => dest.flush(() => resolve()));

/** A destination writing to a new file; read() closes the file and returns what it holds. */
function logFile(name: string) {
  const file = join(tempDir('log-dest-'), name);
  const fd = openSync(file, 'a');
  return { dest: new LogDestination(fd), read: () => (closeSync(fd), readFileSync(file, 'utf8')), peek: () => readFileSync(file, 'utf8') };
}

describe('the asynchronous log destination', () => {
  it('writes every line whole and in order: non-ASCII text, lines longer than a batch, bursts across many batches', async () => {
    const { dest, read } = logFile('out.jsonl');
    const expected: string[] = [];
    const put = (line: string) => {
      expected.push(line);
      dest.write(line);
    };
    for (let i = 0; i < 3000; i++) {
      // ü and € take 2 and 3 bytes, 😀 is 4 bytes from two UTF-16 units: a batch may hold up to
      // three times as many bytes as characters
      const text = i % 3 === 0 ? `grüße 😀 ${'€'.repeat((i * 37) % 2500)}` : 'x'.repeat((i * 131) % 2000);
      put(`${JSON.stringify({ seq: i, text })}\n`);
      // 100,000 characters, up to 300,000 bytes: more than the buffer kept for batches holds,
      // so its batch is encoded in a buffer of its own, and the line still comes in its place
      if (i % 1000 === 500) put(`${JSON.stringify({ seq: `${i}-long`, text: 'L€'.repeat(50_000) })}\n`);
    }
    await flushed(dest);
    // after the buffer was written once, it is reused: what was written before must not change
    for (let i = 0; i < 200; i++) put(`${JSON.stringify({ seq: `after-${i}`, text: 'ö'.repeat(i * 10) })}\n`);
    await flushed(dest);
    expect(read()).toBe(expected.join(''));
  });

  it('writes a batch of three-byte characters whole: 88,032 characters, 264,032 bytes', async () => {
    const { dest, read } = logFile('euro.jsonl');
    const lines = [...Array.from({ length: 31 }, () => `${'€'.repeat(2000)}\n`), `${'€'.repeat(26_000)}\n`];
    for (const line of lines) dest.write(line);
    await flushed(dest);
    expect(read()).toBe(lines.join(''));
  });

  it('writes what is buffered on the periodic flush, without a full batch or a flush call', async () => {
    const { dest, read, peek } = logFile('timer.jsonl');
    dest.write('{"one":1}\n');
    dest.write('{"two":"zwö"}\n');
    expect(peek()).toBe('');
    const deadline = Date.now() + 5_000;
    while (peek() === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(read()).toBe('{"one":1}\n{"two":"zwö"}\n');
  });

  it('never reuses a buffer whose write is still in flight: a stalled reader, lines added meanwhile', async () => {
    const pipe = await stalledPipe();
    const dest = new LogDestination(pipe.fd);
    const expected: string[] = [];
    // The pipe holds 64 KiB: the second batch's write waits in the thread pool for the reader,
    // while the event loop goes on adding lines. Bursts smaller than a batch, so that the write
    // in flight is from the kept buffer (a larger backlog is encoded into a buffer of its own).
    for (let burst = 0; burst < 60; burst++) {
      for (let i = 0; i < 20; i++) {
        const line = `${JSON.stringify({ burst, i, pad: String.fromCharCode(97 + ((burst + i) % 26)).repeat(1000 + i * 7) })}\n`;
        expected.push(line);
        dest.write(line);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    pipe.resume();
    await flushed(dest);
    expect(await pipe.close()).toBe(expected.join(''));
  });
});
