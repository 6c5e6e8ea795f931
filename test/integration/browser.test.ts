/**
 * What a person sees in a browser, in Debian's headless Chromium: GraphiQL works on a machine
 * without internet (its scripts come from the node itself), and a query run in it answers; the
 * market dashboard takes a key, submits a job, shows it finish with its subtasks, timeline and
 * payments, and lists the providers. Screenshots are kept in test-artifacts/ for a look afterwards.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../infra/chromium.js';
import { startMarket, type TestMarket } from '../support/harness.js';

const artifacts = path.resolve('test-artifacts');

describe('in a browser', () => {
  let market: TestMarket;
  let browser: Browser;
  beforeAll(async () => {
    [market, browser] = await Promise.all([startMarket(['seen', 'watched']), launchChromium((m) => console.log(m))]);
    await fs.mkdir(artifacts, { recursive: true });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await market?.close();
  });

  /** A page on which any request off this machine fails (a page that needs a CDN would stay blank); those asked for are listed. */
  async function offlinePage(viewport?: { width: number; height: number }): Promise<{ page: Page; offMachine: string[] }> {
    const page = await browser.newPage(viewport ? { viewport } : {});
    const offMachine: string[] = [];
    await page.route('**/*', (route) => {
      const host = new URL(route.request().url()).hostname;
      if (host === '127.0.0.1' || host === 'localhost') return route.continue();
      offMachine.push(route.request().url());
      return route.abort();
    });
    return { page, offMachine };
  }

  it('GraphiQL loads with nothing from the internet and runs its query against the market', async () => {
    const { page, offMachine } = await offlinePage();
    await page.goto(`${market.apiUrl}/graphql`);
    await page.waitForSelector('.graphiql-container', { timeout: 30_000 });
    expect(await page.title()).toBe('Golemflow GraphiQL');
    await page.click('.graphiql-execute-button');
    // The result pane as the person reads it (its editor shows spaces as no-break spaces).
    const shown = async () => (await page.locator('.result-window').innerText()).replace(/\u00a0/g, ' ');
    await expect.poll(shown, { timeout: 15_000 }).toContain(market.providers[0].id);
    const answer = JSON.parse(await shown());
    expect(answer.data.marketStats.onlineProviders).toBe(2);
    expect(answer.data.offers.nodes.map((o: { providerId: string }) => o.providerId).sort()).toEqual(market.providers.map((p) => p.id).sort());
    expect(offMachine).toEqual([]);
    await page.screenshot({ path: path.join(artifacts, 'graphiql.png') });
    await page.close();
  });

  it('the dashboard submits a paid job and shows it finish: subtasks, verdicts, timeline, payments; and the providers', async () => {
    const { page, offMachine } = await offlinePage({ width: 1280, height: 900 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The node's root leads to the dashboard.
    await page.goto(market.apiUrl);
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    // Without a key: the market only, and a word on where the key is.
    await expect.poll(() => page.locator('#providers tbody tr').count(), { timeout: 15_000 }).toBe(2);
    expect(await page.locator('main').innerText()).toContain('Enter your API key');
    await page.fill('#key', market.apiKey);
    await page.click('#key-form button');

    await page.goto(`${market.apiUrl}/dashboard#/submit`);
    await page.fill(
      '#spec',
      ['name: dashboard primes', 'image: golemflow/compute:1', 'command: [primes, "{start}", "{end}"]', 'split: { kind: range, start: 0, end: 40000, step: 10000 }', 'merge: { kind: sum }', 'redundancy: 2', "budget: { amount: '2' }"].join('\n'),
    );
    await page.click('#submit-form button');
    await page.waitForURL(/#\/job\/job-/, { timeout: 15_000 });
    const jobId = decodeURIComponent(new URL(page.url()).hash.slice('#/job/'.length));
    // It finishes in the page: status, result, every subtask accepted on two providers, and paid.
    await expect.poll(() => page.locator('h2 .badge').innerText(), { timeout: 120_000 }).toBe('succeeded');
    expect(await page.locator('#job-result').innerText()).toBe('4203');
    expect(await page.locator('#subtasks tbody tr').count()).toBe(4);
    for (const row of await page.locator('#subtasks tbody tr').all()) expect(await row.locator('.attempt .badge.accepted').count()).toBe(2);
    expect(await page.locator('#timeline rect.bar.accepted').count()).toBe(8);
    expect(await page.locator('#timeline rect.bar.negotiating').count()).toBeGreaterThanOrEqual(8);
    await expect.poll(() => page.locator('#payments tbody tr .badge.paid').count(), { timeout: 60_000 }).toBe(8);
    expect(await page.locator('#payments tbody tr').first().locator('code').innerText()).toMatch(/^0x[0-9a-f]{64}$/);
    await page.screenshot({ path: path.join(artifacts, 'dashboard-job.png'), fullPage: true });

    // The market page lists the job as done and each provider with its earnings.
    await page.goto(`${market.apiUrl}/dashboard#/`);
    const row = page.locator(`#jobs tr[data-job="${jobId}"]`);
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(1);
    expect(await row.locator('.badge').innerText()).toBe('succeeded');
    expect(await row.locator('.count').innerText()).toBe('4/4');
    for (const p of market.providers) {
      const provider = page.locator(`#providers tr[data-provider="${p.id}"]`);
      expect(await provider.innerText()).toContain('online');
      expect(await provider.locator('td').last().innerText()).not.toMatch(/^0 \//);
    }
    expect(await page.locator('#health .big').innerText()).toBe('healthy');
    await page.screenshot({ path: path.join(artifacts, 'dashboard-market.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(offMachine).toEqual([]);
    await page.close();
  });
});
