// Sessions hold the user's access token only while some route forwards it
// (pass_access_token): a bearer token no upstream receives is not kept anywhere.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { startLoginEnv, alice, bob, type LoginEnv } from '../helpers/login-env.ts';
import type { Browser } from '../helpers/browser.ts';

let env: LoginEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

const routes = (passAccessToken: boolean) => `
  - name: app
    from: http://app.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}
    pass_access_token: ${passAccessToken}`;

async function authorizationSeen(e: LoginEnv, browser: Browser): Promise<string | undefined> {
  const res = await browser.fetch(e.appUrl('/'));
  expect(res.statusCode).toBe(200);
  return ((await res.body.json()) as { headers: Record<string, string> }).headers.authorization;
}

describe('access token in the session', () => {
  it('is forwarded when a route asks for it', async () => {
    env = await startLoginEnv({ routes: routes(true) });
    const browser = env.browser();
    await browser.signIn(env.appUrl('/'), alice);
    expect(await authorizationSeen(env, browser)).toMatch(/^Bearer \S{20,}$/);
  });

  it('is not kept while no route forwards it: after a reload turns forwarding on, only new sign-ins have one', async () => {
    env = await startLoginEnv({ routes: routes(false) });
    const before = env.browser();
    await before.signIn(env.appUrl('/'), alice);
    expect(await authorizationSeen(env, before)).toBeUndefined();

    const file = env.proxy.configFile;
    writeFileSync(file, readFileSync(file, 'utf8').replace('pass_access_token: false', 'pass_access_token: true'));
    expect((await env.proxy.portcullis.reload()).ok).toBe(true);

    // The session signed in while nothing forwarded the token never stored it.
    expect(await authorizationSeen(env, before)).toBeUndefined();
    const after = env.browser();
    await after.signIn(env.appUrl('/'), bob);
    expect(await authorizationSeen(env, after)).toMatch(/^Bearer \S{20,}$/);
  });
});
