// `npm test`: run the whole suite with vitest and end with the plain
// "N passed, N failed, N skipped" line that CI reads. Exit code is vitest's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
const report = join(dir, 'vitest.json');
const vitest = join(import.meta.dirname, '..', 'node_modules', 'vitest', 'vitest.mjs');
const run = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, FORCE_COLOR: process.env.CI ? '0' : process.env.FORCE_COLOR },
});

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const r = JSON.parse(readFileSync(report, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests?: number;
    testResults?: { status: string; assertionResults?: { status: string }[] }[];
  };
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  skipped = r.numPendingTests + (r.numTodoTests ?? 0);
  // A file that fails outside its tests (a beforeAll, an import) reports its tests as skipped:
  // they did not pass, so count them as failed, and the file itself when it has no tests.
  for (const file of r.testResults ?? []) {
    if (file.status !== 'failed') continue;
    const notRun = (file.assertionResults ?? []).filter((a) => a.status === 'pending' || a.status === 'skipped' || a.status === 'todo').length;
    const failedHere = (file.assertionResults ?? []).filter((a) => a.status === 'failed').length;
    if (failedHere === 0) {
      failed += Math.max(1, notRun);
      skipped -= notRun;
    }
  }
} catch {
  // vitest crashed before writing its report: count that as a failure
  failed = Math.max(failed, 1);
}
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = run.status === 0 && failed === 0 ? 0 : 1;
