// Summarize a V8 .cpuprofile (from node --cpu-prof, e.g. BENCH_PROFILE=1 npm run bench):
// self time by function and by file, so a hot spot shows without opening DevTools.
// Usage: node bench/profile-summary.ts FILE.cpuprofile [TOP=30]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topText] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.ts FILE.cpuprofile [TOP]');
  process.exit(2);
}
const top = Number(topText ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/node_modules\//, 'npm:').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/');
}

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, us] of selfUs) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
  const key = `${functionName || '(anonymous)'} ${where}`.trim();
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const fileKey = url ? shortUrl(url).replace(/^(npm:(@[^/]+\/)?[^/]+)\/.*$/, '$1') : functionName;
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
}

function print(title: string, map: Map<string, number>): void {
  console.log(`\n${title}`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`);
  }
}
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
print('self time by function', byFunction);
print('self time by file or package', byFile);
