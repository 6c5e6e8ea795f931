/**
 * What a person sees in a browser, in Debian's headless Chromium: GraphiQL works on a machine
 * without internet (its scripts come from the node itself), and a query run in it answers.
 * Screenshots are kept in test-artifacts/ for a look afterwards.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../infra/chromium.js';
import { startMarket, type TestMarket } from '../support/harness.js';

const artifacts = path.resolve('test-artifacts');

describe('in a browser', () => {
  let market: TestMarket;
  let browser: Browser;
  beforeAll(async () => {
    [market, browser] = await Promise.all([startMarket(['seen']), launchChromium((m) => console.log(m))]);
    await fs.mkdir(artifacts, { recursive: true });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await market?.close();
  });

  it('GraphiQL loads with nothing from the internet and runs its query against the market', async () => {
    const page = await browser.newPage();
    // Any request off this machine fails: a page that needs a CDN would stay blank.
    const offMachine: string[] = [];
    await page.route('**/*', (route) => {
      const host = new URL(route.request().url()).hostname;
      if (host === '127.0.0.1' || host === 'localhost') return route.continue();
      offMachine.push(route.request().url());
      return route.abort();
    });
    await page.goto(`${market.apiUrl}/graphql`);
    await page.waitForSelector('.graphiql-container', { timeout: 30_000 });
    expect(await page.title()).toBe('Golemflow GraphiQL');
    await page.click('.graphiql-execute-button');
    // The result pane as the person reads it (its editor shows spaces as no-break spaces).
    const shown = async () => (await page.locator('.result-window').innerText()).replace(/\u00a0/g, ' ');
    await expect.poll(shown, { timeout: 15_000 }).toContain(market.providers[0].id);
    const answer = JSON.parse(await shown());
    expect(answer.data.marketStats.onlineProviders).toBe(1);
    expect(answer.data.offers.map((o: { providerId: string }) => o.providerId)).toEqual([market.providers[0].id]);
    expect(offMachine).toEqual([]);
    await page.screenshot({ path: path.join(artifacts, 'graphiql.png') });
    await page.close();
  });
});
