// `portcullis check FILE` under the real node binary: exit 0 for a valid file,
// 1 with every problem printed as file:line:column for an invalid one.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { writeConfig } from '../helpers/servers.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

function check(file: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'check', file], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('portcullis check', () => {
  it('exits 0 and says the file is valid', async () => {
    const file = writeConfig(`public_url: https://access.example.com
routes:
  - name: app
    from: https://app.example.com
    to: \${APP_UPSTREAM}
    public: true
`);
    const r = await check(file, { APP_UPSTREAM: 'http://10.0.0.5:8080' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${file}: valid (1 route, sha256 `);
  });

  it('exits 1 and prints every problem as file:line:column with its key', async () => {
    const file = writeConfig(`public_url: https://access.example.com
routes:
  - name: app
    from: https://app.example.com
    to: http://10.0.0.5:8080
    public: true
    timout: 5s
  - name: other
    from: https://other.example.com
    to: \${OTHER_UPSTREAM}
    public: true
`);
    const r = await check(file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${file}: 2 problems`);
    expect(r.stderr).toContain(`${file}:7:5: routes[0].timout: unknown key "timout"; did you mean "timeout"?`);
    expect(r.stderr).toMatch(new RegExp(`${file.replaceAll('.', '\\.')}:10:\\d+: routes\\[1\\]\\.to: environment variable OTHER_UPSTREAM is not set`));
  });

  it('exits 1 for a file that does not exist, naming it', async () => {
    const r = await check('/nonexistent/portcullis.yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nonexistent/portcullis.yaml');
    expect(r.stderr).toContain('ENOENT');
  });
});
