// With workers, each worker writes its log into a pipe of its own and the primary copies it,
// whole lines at a time, into its one destination (relayLines): lines arrive whole however
// the pipe cuts them and however long they are, each worker's in its order.
import { describe, expect, it } from 'vitest';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { LogDestination, relayLines } from '../../src/log.ts';
import { tempDir } from '../helpers/servers.ts';
import { stalledPipe } from '../helpers/stalled-pipe.ts';

const flushed = (dest: LogDestination) => new Promise<void>((resolve) => dest.flush(() => resolve()));

function logFile() {
  const file = join(tempDir('log-relay-'), 'out.log');
  const fd = openSync(file, 'a');
  return { dest: new LogDestination(fd), read: () => (closeSync(fd), readFileSync(file, 'utf8')) };
}

/** Feed `text` into a pipe stand-in in pieces of the given sizes (cycled), cutting lines and characters anywhere. */
async function feed(pipe: PassThrough, text: string, sizes: readonly number[]): Promise<void> {
  const bytes = Buffer.from(text);
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    pipe.write(bytes.subarray(at, at + size));
    at += size;
    if (i % 7 === 0) await new Promise((r) => setImmediate(r));
  }
  pipe.end();
}

describe('relaying workers\' logs through the primary', () => {
  it('writes whole lines however the pipe cuts them: multi-byte characters, lines of 100 KiB, a last line without its newline', async () => {
    const { dest, read } = logFile();
    const pipe = new PassThrough();
    const relayed = relayLines(pipe, dest);
    const lines = Array.from({ length: 400 }, (_, i) => JSON.stringify({ seq: i, text: 'é€😀'.repeat(i % 5) + 'x'.repeat(i % 97 === 0 ? 100_000 : i * 3) }));
    await feed(pipe, lines.join('\n') + '\n{"last":"cut off"}', [1, 4093, 7, 65_536, 3, 250]);
    await relayed;
    await flushed(dest);
    expect(read()).toBe(lines.join('\n') + '\n{"last":"cut off"}\n');
  });

  it('keeps two workers\' lines and the primary\'s own whole, each source in its order', async () => {
    const { dest, read } = logFile();
    const pipes = [new PassThrough(), new PassThrough()];
    const relayed = pipes.map((p) => relayLines(p, dest));
    const linesOf = (worker: number) => Array.from({ length: 3000 }, (_, seq) => JSON.stringify({ worker, seq, pad: String(worker).repeat((seq * 997 + worker * 131) % 9000) }) + '\n');
    const own: string[] = [];
    const writeOwn = setInterval(() => {
      const line = JSON.stringify({ worker: 'primary', seq: own.length }) + '\n';
      own.push(line);
      dest.write(line);
    }, 1);
    await Promise.all([feed(pipes[0]!, linesOf(0).join(''), [5000, 17, 70_000]), feed(pipes[1]!, linesOf(1).join(''), [64 * 1024, 1, 333])]);
    await Promise.all(relayed);
    clearInterval(writeOwn);
    await flushed(dest);
    const got = read()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { worker: number | string; seq: number });
    for (const worker of [0, 1]) expect(got.filter((l) => l.worker === worker).map((l) => l.seq)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(got.filter((l) => l.worker === 'primary').map((l) => l.seq)).toEqual(own.map((_, i) => i));
    expect(own.length).toBeGreaterThan(0);
  });

  it('drops relayed lines past the buffer bound while the output is stuck, and says how many', async () => {
    const pipe = await stalledPipe();
    const dest = new LogDestination(pipe.fd);
    // 40 pieces of 1 MiB, 1,024 lines each, while nobody reads: the first batch's write waits
    // for the reader, and the destination keeps at most 32 Mi characters.
    const line = 'y'.repeat(1023) + '\n';
    const piece = Buffer.from(line.repeat(1024));
    for (let i = 0; i < 40; i++) dest.writeBytes(piece);
    pipe.resume();
    await flushed(dest);
    dest.write('{"after":true}\n');
    await flushed(dest);
    const lines = (await pipe.close()).split('\n').filter(Boolean);
    const kept = lines.filter((l) => l === line.slice(0, -1)).length;
    const notice = lines.map((l) => JSON.parse(l.startsWith('{') ? l : '{}') as { type?: string; dropped?: number }).find((l) => l.type === 'log');
    expect(kept).toBeGreaterThanOrEqual(31 * 1024);
    expect(kept).toBeLessThan(40 * 1024);
    expect(notice?.dropped).toBe(40 * 1024 - kept);
    expect(lines.at(-1)).toBe('{"after":true}');
  });
});
