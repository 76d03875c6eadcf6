// The zero-config demo in a real browser: sign in, see the app with the right
// identity, sign out, and be asked to sign in again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startDemo, type Demo } from '../../src/demo/start.ts';
import { freePort } from '../helpers/login-env.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { tempDir } from '../helpers/servers.ts';

let demo: Demo;
let browser: Browser;
let port: number;
const shots = join(process.cwd(), '.tmp', 'screenshots');

beforeAll(async () => {
  port = await freePort();
  demo = await startDemo({
    env: { ...process.env, PORTCULLIS_PORT: String(port), PORTCULLIS_OPS_PORT: '0', DEMO_IDP_PORT: '0', DEMO_APP_PORT: '0' },
    banner: false,
    logDestination: join(tempDir(), 'demo.log'),
  });
  browser = await launchChromium();
  mkdirSync(shots, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await demo?.portcullis.shutdown();
  await demo?.stop();
});

describe('the demo in a browser', () => {
  it('signs a person in, shows the app with their identity, signs them out and asks them to sign in again', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`http://localhost:${port}/reports?q=1`);
    // Sent to the identity provider's sign-in page.
    expect(page.url().startsWith(demo.idpIssuer)).toBe(true);
    await page.screenshot({ path: join(shots, 'idp-login.png'), fullPage: true });
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-demo');
    await Promise.all([page.waitForURL(`http://localhost:${port}/reports?q=1`), page.click('button[type=submit]')]);

    // Back on the page first asked for, as alice, with an assertion the app verified.
    await expect(page.locator('h1').textContent()).resolves.toContain('alice@example.com');
    const body = (await page.locator('main').textContent()) ?? '';
    expect(body).toContain('engineering,admins');
    expect(body).toContain('verified against Portcullis');
    await page.screenshot({ path: join(shots, 'demo-app.png'), fullPage: true });

    await page.goto(`http://localhost:${port}/.portcullis/userinfo`);
    await expect(page.locator('main').textContent()).resolves.toContain('alice@example.com');
    await page.screenshot({ path: join(shots, 'userinfo.png'), fullPage: true });

    // Sign out: a confirmation page, then the provider's logout, then Portcullis's signed-out page.
    await page.goto(`http://localhost:${port}/.portcullis/logout`);
    await page.screenshot({ path: join(shots, 'logout-confirm.png'), fullPage: true });
    await Promise.all([page.waitForURL(`**/.portcullis/signed-out`), page.click('button[type=submit]')]);
    await expect(page.locator('h1').textContent()).resolves.toContain('signed out');
    await page.screenshot({ path: join(shots, 'signed-out.png'), fullPage: true });

    // The app asks for sign-in again.
    await page.goto(`http://localhost:${port}/reports`);
    expect(page.url().startsWith(demo.idpIssuer)).toBe(true);
    await expect(page.locator('h1').textContent()).resolves.toMatch(/Sign in/);
    await page.close();
  });

  it('shows a contractor a clear access-denied page that says what failed and what to do', async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const page = await context.newPage();
    await page.goto(`http://localhost:${port}/`);
    await page.fill('#username', 'carol');
    await page.fill('#password', 'carol-demo');
    await Promise.all([page.waitForURL(`http://localhost:${port}/`), page.click('button[type=submit]')]);
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain("You can't open this app right now");
    expect(text).toContain('example.com');
    expect(text).toContain('Request id');
    await page.screenshot({ path: join(shots, 'access-denied.png'), fullPage: true });
    await context.close();
  });

  it('asks an admin for the one-time code before the admin app, then lets her in', async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const page = await context.newPage();
    await page.goto(`http://admin.localhost:${port}/console`);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-demo');
    // Password only first: the admin policy needs MFA, so Portcullis sends her back to step up.
    await page.click('button[type=submit]');
    // Back at the provider, which now asks for the second factor.

    await page.locator('h1', { hasText: 'Verify' }).waitFor({ timeout: 15_000 });
    expect(page.url().startsWith(demo.idpIssuer)).toBe(true);
    await page.screenshot({ path: join(shots, 'step-up.png'), fullPage: true });
    if ((await page.inputValue('#username')) === '') await page.fill('#username', 'alice');
    if ((await page.inputValue('#password')) === '') await page.fill('#password', 'alice-demo');
    await page.fill('#otp', '123456');
    await Promise.all([page.waitForURL(`http://admin.localhost:${port}/console`), page.click('button[type=submit]')]);
    await expect(page.locator('h1').textContent()).resolves.toContain('alice@example.com');
    await context.close();
  });

  it('is readable on a phone-sized screen', async () => {
    const page = await browser.newPage({ viewport: { width: 375, height: 740 }, isMobile: true });
    await page.goto(`http://localhost:${port}/`);
    const scrollWidth = await page.evaluate<number>('document.documentElement.scrollWidth');
    expect(scrollWidth).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(shots, 'idp-login-phone.png'), fullPage: true });
    await page.goto(`http://public.localhost:${port}/nowhere/..%2f`);
    await page.screenshot({ path: join(shots, 'error-phone.png'), fullPage: true });
    await expect(page.locator('h1').textContent()).resolves.toContain('not allowed');
    const errorWidth = await page.evaluate<number>('document.documentElement.scrollWidth');
    expect(errorWidth).toBeLessThanOrEqual(375);
    await page.close();
  });
});
