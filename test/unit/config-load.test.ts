// Configuration errors tell the admin where (file:line:column), which key, and what to write instead.
import { describe, expect, it } from 'vitest';
import { loadConfigText, substituteEnv } from '../../src/config/load.ts';
import { compileConfig } from '../../src/config/compile.ts';
import { ConfigError, type ConfigProblem } from '../../src/errors.ts';

const head = `public_url: https://access.example.com
`;

function problemsOf(text: string, env: Record<string, string> = {}): ConfigProblem[] {
  try {
    compileConfig(loadConfigText(text, 'portcullis.yaml', env));
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected the configuration to be rejected');
}

function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
}

describe('a valid configuration', () => {
  it('loads with defaults filled in', () => {
    const text = `${head}routes:\n  - name: app\n    from: https://app.example.com\n    to: http://10.0.0.5:8080\n`;
    const loaded = loadConfigText(text, 'portcullis.yaml', {});
    expect(loaded.raw.routes[0]!.timeout).toBe(30_000);
    expect(loaded.raw.routes[0]!.public).toBe(false);
    expect(loaded.raw.listen.address).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(loaded.checksum).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('configuration errors name the line and the key', () => {
  it('an unknown key is an error, with the closest known key suggested', () => {
    const text = `${head}routes:\n  - name: app\n    from: https://app.example.com\n    to: http://10.0.0.5:8080\n    timout: 5s\n`;
    const [p, ...rest] = problemsOf(text);
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ file: 'portcullis.yaml', line: lineOf(text, 'timout'), column: 5, path: 'routes[0].timout' });
    expect(p!.message).toBe('unknown key "timout"; did you mean "timeout"?');
  });

  it('an unknown top-level key far from any known one gets no suggestion', () => {
    const text = `${head}frobnicate: true\nroutes:\n  - { name: app, from: "https://a.example.com", to: "http://10.0.0.5" }\n`;
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ line: 2, path: 'frobnicate', message: 'unknown key "frobnicate"' });
  });

  it('a value of the wrong type points at the value', () => {
    const text = `${head}limits:\n  max_headers: many\nroutes:\n  - { name: app, from: "https://a.example.com", to: "http://10.0.0.5" }\n`;
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ line: lineOf(text, 'max_headers'), column: 16, path: 'limits.max_headers' });
    expect(p!.message).toMatch(/number/);
  });

  it('a bad duration says how to write one', () => {
    const text = `${head}routes:\n  - name: app\n    from: https://app.example.com\n    to: http://10.0.0.5:8080\n    timeout: 5 seconds\n`;
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ line: lineOf(text, 'timeout'), path: 'routes[0].timeout' });
    expect(p!.message).toContain('"5 seconds" is not a duration');
    expect(p!.message).toContain('"30s"');
  });

  it('an unset ${ENV} without a default is an error naming the variable and the key', () => {
    const text = `${head}routes:\n  - name: app\n    from: https://app.example.com\n    to: \${APP_UPSTREAM}\n    public: true\n`;
    const problems = problemsOf(text);
    // Reported once: not again as an empty, invalid URL.
    expect(problems).toHaveLength(1);
    const p = problems[0];
    expect(p).toMatchObject({ line: lineOf(text, 'APP_UPSTREAM'), path: 'routes[0].to' });
    expect(p!.message).toContain('environment variable APP_UPSTREAM is not set');
    expect(p!.message).toContain('${APP_UPSTREAM:-default}');
  });

  it('${ENV} is substituted, and ${ENV:-default} falls back when unset or empty', () => {
    const text = `${head}routes:\n  - name: app\n    from: https://app.example.com\n    to: \${APP_UPSTREAM}\n    timeout: \${APP_TIMEOUT:-7s}\n`;
    const set = loadConfigText(text, 'portcullis.yaml', { APP_UPSTREAM: 'http://10.1.1.1:81', APP_TIMEOUT: '9s' });
    expect(set.raw.routes[0]!.to.origin).toBe('http://10.1.1.1:81');
    expect(set.raw.routes[0]!.timeout).toBe(9000);
    const fallback = loadConfigText(text, 'portcullis.yaml', { APP_UPSTREAM: 'http://10.1.1.1:81', APP_TIMEOUT: '' });
    expect(fallback.raw.routes[0]!.timeout).toBe(7000);
  });

  it('"$$" is a literal dollar sign', () => {
    expect(substituteEnv('a$$b${X:-c}', {})).toEqual({ value: 'a$bc', missing: [] });
  });

  it('duplicate route names are an error pointing at the second one', () => {
    const text = `${head}routes:\n  - name: app\n    from: https://a.example.com\n    to: http://10.0.0.5\n    public: true\n  - name: app\n    from: https://b.example.com\n    to: http://10.0.0.6\n    public: true\n`;
    const problems = problemsOf(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 7, path: 'routes[1].name' });
    expect(problems[0]!.message).toContain('already used by routes[0]');
  });

  it('two routes for the same host and prefix are an error', () => {
    const text = `${head}routes:\n  - { name: a, from: "https://a.example.com/api/", to: "http://10.0.0.5", public: true }\n  - { name: b, from: "https://A.example.com/api", to: "http://10.0.0.6", public: true }\n`;
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ line: 4, path: 'routes[1].from' });
  });

  it('several problems at once are all reported, sorted by line', () => {
    const text = [
      'public_url: not a url',
      'limits:',
      '  header_timeout: soon',
      'routes:',
      '  - name: app',
      '    from: ftp://app.example.com',
      '    to: http://10.0.0.5',
      '    websocket: true',
      '  - name: "bad name!"',
      '    from: https://b.example.com',
      '    to: ${NOPE}',
      '',
    ].join('\n');
    const problems = problemsOf(text);
    expect(problems.map((p) => p.line)).toEqual([...problems.map((p) => p.line)].sort((x, y) => x - y));
    expect(problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['public_url', 'limits.header_timeout', 'routes[0].from', 'routes[0].websocket', 'routes[1].name', 'routes[1].to']),
    );
    expect(problems.find((p) => p.path === 'routes[0].websocket')!.message).toContain('did you mean "websockets"?');
    expect(problems.every((p) => p.line > 0)).toBe(true);
  });

  it('problems found after validation (names, sign-in) are sorted by line too', () => {
    const text = `${head}routes:\n  - name: app\n    from: https://a.example.com\n    to: http://10.0.0.5\n  - name: app\n    from: https://b.example.com\n    to: http://10.0.0.6\n`;
    const problems = problemsOf(text);
    expect(problems.length).toBeGreaterThan(1);
    expect(problems.map((p) => p.line)).toEqual([...problems.map((p) => p.line)].sort((x, y) => x - y));
    expect(problems.map((p) => p.path)).toContain('routes[1].name');
  });

  it('a YAML syntax error reports its line', () => {
    const text = `${head}routes:\n  - name: app\n    from: [unclosed\n`;
    const [p] = problemsOf(text);
    expect(p!.line).toBeGreaterThanOrEqual(3);
  });

  it('a duplicated key in a mapping is an error', () => {
    const text = `${head}public_url: https://other.example.com\nroutes:\n  - { name: app, from: "https://a.example.com", to: "http://10.0.0.5" }\n`;
    const [p] = problemsOf(text);
    expect(p!.line).toBe(2);
  });

  it('a config without routes says to define one', () => {
    const [p] = problemsOf(`${head}routes: []\n`);
    expect(p).toMatchObject({ path: 'routes', line: 2 });
    expect(p!.message).toContain('at least one route');
  });

  it('upstream_tls on a plain http upstream is an error', () => {
    const text = `${head}routes:\n  - name: app\n    from: https://a.example.com\n    to: http://10.0.0.5\n    public: true\n    upstream_tls: { insecure_skip_verify: true }\n`;
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ path: 'routes[0].upstream_tls' });
    expect(p!.message).toContain('https://');
  });

  it('a CA file that cannot be read is an error naming the file, at the key', () => {
    const text = `${head}routes:\n  - name: app\n    from: https://a.example.com\n    to: https://10.0.0.5\n    public: true\n    upstream_tls: { ca: /nonexistent/ca.pem }\n`;
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ path: 'routes[0].upstream_tls.ca', line: 7 });
    expect(p!.message).toContain('/nonexistent/ca.pem');
  });
});
