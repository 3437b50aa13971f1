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

describe('the HTML report of an image model’s run', () => {
  it('draws the image with the heat map of the patch under the pointer (the CLI’s weights), offline, and maps of the image as thumbnails', async () => {
    const vit = path.join(ROOT, 'test/fixtures/models/vit-attn');
    const imageReport = path.join(tmp, 'image-report.html');
    execFileSync(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), 'inspect', '--model', vit, '--image', path.join(vit, 'landscape.png'), '--export', imageReport]);
    const cli = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), 'inspect', '--model', vit, '--image', path.join(vit, 'landscape.png'), '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 })) as { attention: Array<{ weights: number[][][] }> };
    const page = await browser.context.newPage();
    const seen: string[] = [];
    const errors: string[] = [];
    await browser.context.route(`file://${imageReport}`, (route) => route.continue());
    page.on('request', (r) => r.url() !== `file://${imageReport}` && seen.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`file://${imageReport}`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
    await page.waitForFunction(() => document.getElementById('image-view')!.dataset.image !== undefined, undefined, { timeout: 10_000 });
    expect([await page.$eval('#image-view', (v) => (v as HTMLElement).dataset.image), await page.$eval('.text', (t) => t.textContent)]).toEqual(['decoded', 'landscape.png (70 × 45)']);
    // Patch (1, 2) of the 4 × 4 grid over the 70 × 45 image: token 7; its strongest patch weight, mean of the heads, is the CLI's.
    const canvas = (await page.$('#image-view canvas'))!;
    const box = (await canvas.boundingBox())!;
    const scale = Math.min(box.width / 70, box.height / 45);
    await page.mouse.move(box.x + (box.width - 70 * scale) / 2 + 2.5 * 17.5 * scale, box.y + (box.height - 45 * scale) / 2 + 1.5 * 11.25 * scale);
    await page.waitForFunction(() => document.getElementById('image-view')!.dataset.query === '7', undefined, { timeout: 10_000 });
    const w = cli.attention[0].weights;
    const mean = w[0][7].map((_, k) => w.reduce((s, head) => s + head[7][k], 0) / w.length);
    expect(Number(await page.$eval('#image-view', (v) => (v as HTMLElement).dataset.heat))).toBeCloseTo(Math.max(...mean.slice(1)), 3);
    expect(await page.$$eval('.grid canvas', (c) => c.length)).toBe(2 * 4);
    expect([seen, errors]).toEqual([[], []]);
    await page.close();
  });
});
