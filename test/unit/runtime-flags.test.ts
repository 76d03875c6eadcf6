// Every way Portcullis is started passes the same Node flags (src/runtime.ts).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { NODE_FLAGS } from '../../src/runtime.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('Node flags', () => {
  it('are the same in package.json, the Dockerfile and the CLI shebang', () => {
    expect(NODE_FLAGS.length).toBeGreaterThan(0);
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!;
    const entrypoint = read('Dockerfile').split('\n').find((l) => l.startsWith('ENTRYPOINT'))!;
    const shebang = read('src/cli.ts').split('\n')[0]!;
    for (const flag of NODE_FLAGS) {
      expect(start.split(' ')).toContain(flag);
      expect(JSON.parse(entrypoint.slice('ENTRYPOINT'.length))).toContain(flag);
      expect(shebang.split(' ')).toContain(flag);
    }
    expect(shebang.startsWith('#!/usr/bin/env -S node ')).toBe(true);
  });

  it('are accepted by this Node (a V8 flag a later Node drops would stop Portcullis from starting)', () => {
    const run = spawnSync(process.execPath, [...NODE_FLAGS, '-e', 'process.stdout.write("started")'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('started');
  });
});
