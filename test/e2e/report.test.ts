/// <reference lib="dom" />
// The standalone HTML report (--export FILE.html) in headless Chromium with every request
// blocked and logged: it makes none, logs no error, draws the head view and the matrix, and a
// hover changes what is drawn. Its only script and style are the ones its CSP hashes allow.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, launchBrowser } from './codeServer';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-report-'));
const file = path.join(tmp, 'report.html');
const TEXT = 'The cat sat on the mat because it was tired. </script><img src=x onerror=alert(1)>';
let browser: { context: BrowserContext; page: Page; dir: string };
const requests: string[] = [];
const problems: string[] = [];

beforeAll(async () => {
  execFileSync(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), 'inspect', '--model', path.join(ROOT, 'test/fixtures/models/gpt2-attn'), '--text', TEXT, '--export', file]);
  browser = await launchBrowser(false);
  // Everything but the file itself is blocked, and logged.
  await browser.context.route('**/*', (route) => {
    const url = route.request().url();
    if (url === `file://${file}`) return route.continue();
    requests.push(url);
    return route.abort();
  });
  // Routing may not see every scheme: every request the page makes is logged as well.
  browser.page.on('request', (r) => r.url() !== `file://${file}` && !requests.includes(r.url()) && requests.push(r.url()));
  browser.page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && problems.push(`${m.type()}: ${m.text()}`));
  browser.page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await browser.page.goto(`file://${file}`);
  await browser.page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
});

afterAll(async () => {
  await browser?.context.close();
  fs.rmSync(browser?.dir ?? '', { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the HTML report', () => {
  it('makes no request, logs no error, and shows the run', async () => {
    const { page } = browser;
    expect(requests).toEqual([]);
    expect(problems).toEqual([]);
    expect(Number(await page.$eval('#view', (v) => (v as HTMLElement).dataset.links))).toBeGreaterThan(0);
    // The document's text is text, never markup.
    expect(await page.$eval('.text', (t) => t.textContent)).toBe(TEXT);
    expect(await page.$$('img')).toHaveLength(0);
    // Every layer × head has a thumbnail, and every head a statistics row.
    expect(await page.$$eval('.grid canvas', (c) => c.length)).toBe(2 * 4);
    expect(await page.$$eval('table.stats tr', (r) => r.length)).toBe(1 + 2 * 4);
  });

  it('a hover changes what is drawn and shows the token’s partners', async () => {
    const { page } = browser;
    const overlay = () => page.$eval('#view canvas.layer-overlay', (c) => (c as HTMLCanvasElement).toDataURL());
    const before = await overlay();
    const box = (await page.$('#view'))!;
    const r = (await box.boundingBox())!;
    await page.mouse.move(r.x + 20, r.y + 6 + 18 * 3 + 9); // the fourth query token's label
    await page.waitForFunction(() => !(document.querySelector('.tooltip') as HTMLElement).hidden);
    expect(await overlay()).not.toBe(before);
    expect(await page.$eval('.tooltip', (t) => t.textContent)).toMatch(/attends to/);
  });

  it('choosing a layer and a head redraws the views', async () => {
    const { page } = browser;
    await page.mouse.move(0, 0);
    const links = async () => Number(await page.$eval('#view', (v) => (v as HTMLElement).dataset.links));
    const all = await links();
    await page.selectOption('select', '1');
    await page.dblclick('button.head >> nth=2');
    expect(await links()).toBeLessThan(all);
    expect(await page.$$eval('button.head.off', (b) => b.length)).toBe(3);
  });
});
