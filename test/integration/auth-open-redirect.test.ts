// After signing in, a user lands on a page Portcullis serves, never on a host an attacker named.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';

let env: LoginEnv;
beforeAll(async () => {
  env = await startLoginEnv();
});
afterAll(async () => {
  await env?.stop();
});

function startUrl(rd: string): string {
  return `${env.publicUrl}/.portcullis/start?rd=${encodeURIComponent(rd)}`;
}

describe('the return address of a sign-in', () => {
  it.each([
    ['another host', (port: number) => `http://evil.test:${port}/steal`],
    ['a protocol-relative URL', (port: number) => `//evil.test:${port}/steal`],
    ['a served host used as userinfo', (port: number) => `http://app.test@evil.test:${port}/steal`],
    ['a backslash trick', (port: number) => `http://evil.test:${port}\\@app.test/`],
  ])('%s: the user ends up on the fallback page, not the evil host, after a real login', async (_what, rd) => {
    const browser = env.browser();
    const page = await browser.signIn(startUrl(rd(env.port)), alice);
    expect(page.status).toBe(200);
    expect(page.url.toString()).toBe(`${env.publicUrl}/.portcullis/userinfo`);
    expect(page.body).toContain('alice@example.com');
    for (const visited of page.trail) expect(visited.hostname).not.toBe('evil.test');
  });

  it('a served host is honoured: the same flow lands on the page asked for', async () => {
    const browser = env.browser();
    const page = await browser.signIn(startUrl(env.appUrl('/deep/page?q=1')), alice);
    expect(page.status).toBe(200);
    expect(page.url.toString()).toBe(env.appUrl('/deep/page?q=1'));
  });
});
