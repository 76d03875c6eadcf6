// A pipe whose reader has stopped reading, like a stuck log collector on stdout.
import { execFileSync } from 'node:child_process';
import { closeSync, createReadStream, open } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './servers.ts';

export interface StalledPipe {
  /** the writing end */
  readonly fd: number;
  /** the reader starts reading again */
  resume(): void;
  /** Close the writing end; resolves with everything the reader got. */
  close(): Promise<string>;
}

export async function stalledPipe(): Promise<StalledPipe> {
  const fifo = join(tempDir('stalled-pipe-'), 'stdout');
  execFileSync('mkfifo', [fifo]);
  const reader = createReadStream(fifo);
  // Opened asynchronously: opening either end of a FIFO waits for the other.
  const fd = await new Promise<number>((resolve, reject) => open(fifo, 'w', (err, opened) => (err ? reject(err) : resolve(opened))));
  reader.pause();
  const chunks: Buffer[] = [];
  reader.on('data', (c) => chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => reader.on('end', () => r()));
  return {
    fd,
    resume: () => void reader.resume(),
    close: async () => {
      closeSync(fd);
      await ended;
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}
