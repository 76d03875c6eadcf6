// A configuration reload swaps the whole snapshot at once: under load no request fails,
// a valid change takes effect, an invalid file changes nothing and says why.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { Agent, request } from 'undici';
import { baseConfig, metricValue, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function namedUpstream(name: string): Promise<Upstream> {
  const u = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(name);
  });
  cleanups.push(() => u.close());
  return u;
}

function routesYaml(routes: { name: string; host: string; to: string }[]): string {
  return `routes:\n${routes.map((r) => `  - { name: ${r.name}, from: "http://${r.host}", to: "${r.to}", public: true }\n`).join('')}`;
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function readyz(proxy: Running): Promise<{ config: { checksum: string } }> {
  const res = await request(`${proxy.opsUrl}/readyz`);
  return (await res.body.json()) as { config: { checksum: string } };
}

/** Replace the file the way editors and ConfigMaps do: write aside, then rename over it. */
function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

describe('reloading the configuration', () => {
  it('under continuous load, a valid reload and then an invalid one fail no request', async () => {
    const a = await namedUpstream('a');
    const b = await namedUpstream('b');
    const proxy = await startProxy(baseConfig + routesYaml([{ name: 'app', host: 'app.test', to: a.url }]));
    cleanups.push(() => proxy.stop());
    const agent = new Agent({ connections: 8 });
    cleanups.push(() => agent.close());

    let stop = false;
    const failures: string[] = [];
    const servedBy = new Map<string, number>();
    async function loop(): Promise<void> {
      while (!stop) {
        try {
          const res = await request(`${proxy.url}/`, { dispatcher: agent, headers: { host: 'app.test' } });
          const body = await res.body.text();
          if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body.slice(0, 200)}`);
          else servedBy.set(body, (servedBy.get(body) ?? 0) + 1);
        } catch (err) {
          failures.push(String(err));
        }
      }
    }
    const loops = Array.from({ length: 4 }, loop);
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

    await pause(500);
    // A valid change: app moves to upstream b, and a new route appears.
    const valid = baseConfig + routesYaml([{ name: 'app', host: 'app.test', to: b.url }, { name: 'new', host: 'new.test', to: a.url }]);
    writeFileSync(proxy.configFile, valid);
    const first = await proxy.portcullis.reload();
    expect(first.ok).toBe(true);
    expect(first.checksum).toBe(sha256(proxy.configFile));
    const validChecksum = first.checksum;

    await pause(500);
    const newRoute = await request(`${proxy.url}/`, { headers: { host: 'new.test' } });
    expect(newRoute.statusCode).toBe(200);
    expect(await newRoute.body.text()).toBe('a');

    // An invalid file: an unknown key and a bad duration.
    writeFileSync(proxy.configFile, `${baseConfig}routes:\n  - { name: app, from: "http://app.test", to: "${a.url}", public: true, timout: 5s }\n`);
    const second = await proxy.portcullis.reload();
    expect(second.ok).toBe(false);
    expect(second.checksum).toBe(validChecksum);
    expect(second.errors?.join('\n')).toMatch(/portcullis\.yaml:\d+:\d+: routes\[0\]\.timout: unknown key "timout"; did you mean "timeout"\?/);

    await pause(700);
    stop = true;
    await Promise.all(loops);

    expect(failures).toEqual([]);
    expect(servedBy.get('a')).toBeGreaterThan(0);
    expect(servedBy.get('b')).toBeGreaterThan(0);

    // The previous valid configuration keeps serving after the invalid one.
    const after = await request(`${proxy.url}/`, { headers: { host: 'app.test' } });
    expect(await after.body.text()).toBe('b');
    expect((await readyz(proxy)).config.checksum).toBe(validChecksum);

    const metrics = await (await request(`${proxy.opsUrl}/metrics`)).body.text();
    expect(metricValue(metrics, 'portcullis_config_reloads_total', { result: 'success' })).toBe(1);
    expect(metricValue(metrics, 'portcullis_config_reloads_total', { result: 'failure' })).toBe(1);
    expect(metricValue(metrics, 'portcullis_config_info', { checksum: validChecksum })).toBe(1);
  }, 20_000);

  it('reloading an unchanged file is a no-op that reports success', async () => {
    const a = await namedUpstream('a');
    const proxy = await startProxy(baseConfig + routesYaml([{ name: 'app', host: 'app.test', to: a.url }]));
    cleanups.push(() => proxy.stop());
    const r = await proxy.portcullis.reload();
    expect(r).toEqual({ ok: true, checksum: sha256(proxy.configFile) });
  });

  it('a route removed by a reload stops being served', async () => {
    const a = await namedUpstream('a');
    const proxy = await startProxy(baseConfig + routesYaml([{ name: 'app', host: 'app.test', to: a.url }, { name: 'old', host: 'old.test', to: a.url }]));
    cleanups.push(() => proxy.stop());
    expect((await request(`${proxy.url}/`, { headers: { host: 'old.test' } })).statusCode).toBe(200);
    writeFileSync(proxy.configFile, baseConfig + routesYaml([{ name: 'app', host: 'app.test', to: a.url }]));
    expect((await proxy.portcullis.reload()).ok).toBe(true);
    const res = await request(`${proxy.url}/`, { headers: { host: 'old.test', accept: 'application/json' } });
    expect(res.statusCode).toBe(404);
    await res.body.dump();
  });

  it('the file watcher picks up a change by itself, including a file replaced by rename', async () => {
    const a = await namedUpstream('a');
    const b = await namedUpstream('b');
    const proxy = await startProxy(baseConfig + routesYaml([{ name: 'app', host: 'app.test', to: a.url }]), { watch: true });
    cleanups.push(() => proxy.stop());
    const before = (await readyz(proxy)).config.checksum;

    replaceFile(proxy.configFile, baseConfig + routesYaml([{ name: 'app', host: 'app.test', to: b.url }]));
    const expected = sha256(proxy.configFile);
    expect(expected).not.toBe(before);
    // Poll, bounded: the watcher debounces and then reloads.
    const deadline = Date.now() + 5000;
    while ((await readyz(proxy)).config.checksum !== expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect((await readyz(proxy)).config.checksum).toBe(expected);
    const res = await request(`${proxy.url}/`, { headers: { host: 'app.test' } });
    expect(await res.body.text()).toBe('b');
  });
});
