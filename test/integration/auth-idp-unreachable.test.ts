// Portcullis starts while the identity provider is down, says so, refuses sign-in quickly
// with a clear page, and recovers by itself once the provider is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alice } from '../helpers/login-env.ts';
import { startCustomEnv, waitUntilReady, type CustomEnv } from '../helpers/auth-flow.ts';

let env: CustomEnv;
beforeAll(async () => {
  env = await startCustomEnv({ deferIdp: true });
});
afterAll(async () => {
  await env?.stop();
});

describe('an identity provider that is unreachable at start-up', () => {
  it('Portcullis starts, reports not ready with the reason, refuses sign-in with a 503 page, and recovers once the provider listens', async () => {
    const readyz = await fetch(`${env.proxy.opsUrl}/readyz`);
    expect(readyz.status).toBe(503);
    const body = (await readyz.json()) as { checks: Record<string, { ok: boolean; detail?: string }> };
    expect(body.checks.identity_provider?.ok).toBe(false);
    expect(body.checks.identity_provider?.detail).toMatch(/ECONNREFUSED|fetch failed|discovery has not run/);

    // Public routes keep working meanwhile.
    const browser = env.browser();
    const open = await browser.open(env.url('public.test', '/'));
    expect(open.status).toBe(200);

    // A sign-in attempt gets a clear answer, not a hang.
    const attempt = await browser.open(env.url('app.test', '/dashboard'));
    expect(attempt.status).toBe(503);
    expect(attempt.url.pathname).toBe('/.portcullis/start');
    expect(attempt.headers['content-type']).toContain('text/html');
    expect(attempt.body).toMatch(/identity provider/);
    expect(attempt.body).toContain('Try again');
    expect(attempt.headers['set-cookie']).toBeUndefined();

    // The provider comes up on the port Portcullis expects; discovery succeeds by itself.
    await env.startIdp();
    expect((await waitUntilReady(env.proxy)).status).toBe(200);
    const page = await browser.signIn(env.url('app.test', '/dashboard'), alice);
    expect(page.status).toBe(200);
    expect(page.url.toString()).toBe(env.url('app.test', '/dashboard'));
    expect((JSON.parse(page.body) as { headers: Record<string, string> }).headers['x-forwarded-user']).toBe('alice');
  });
});
