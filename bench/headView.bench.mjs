// `npm run bench`: head view speed in headless Chromium, as ratios against a naive renderer
// (one canvas stroke per link, every link, as a direct port of a notebook head view would do)
// measured in the same run on the same synthetic BERT-base-shaped attention (12 heads).
import * as esbuild from 'esbuild';
import * as path from 'node:path';
import { chromium } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '..');
const bundle = await esbuild.build({ entryPoints: [path.join(root, 'bench/headViewPage.ts')], bundle: true, write: false, format: 'iife', platform: 'browser' });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-quic'], ignoreDefaultArgs: ['--headless'] });
const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
await page.setContent('<!DOCTYPE html><html><body></body></html>');
await page.addScriptTag({ content: bundle.outputFiles[0].text });
console.log('head view, 12 heads, all heads visible; times until the change is on screen (two animation frames, ≥ 2 × 16.7 ms), Chromium headless, software rendering');
await page.evaluate(() => window.runBench(32, 12)); // warm-up: JIT and first canvas allocation
console.log('naive = one stroke per link above weight 0.01 on a canvas as tall as the input (a direct port of a notebook head view)');
console.log('tokens | first draw | naive first draw | speed-up | hover on screen | naive hover | speed-up | hover JS | naive hover JS | links drawn / naive');
for (const n of [64, 128, 256, 512]) {
  const r = await page.evaluate(([n]) => window.runBench(n, 12), [n]);
  const f = (ms) => `${ms.toFixed(1)} ms`;
  console.log(`${String(n).padStart(6)} | ${f(r.firstDraw).padStart(10)} | ${f(r.naiveFirst).padStart(16)} | ${(r.naiveFirst / r.firstDraw).toFixed(1).padStart(7)}× | ${f(r.hover).padStart(14)} | ${f(r.naiveHover).padStart(11)} | ${(r.naiveHover / r.hover).toFixed(1).padStart(7)}× | ${f(r.hoverJs).padStart(8)} | ${f(r.naiveHoverJs).padStart(14)} | ${r.links} / ${r.naiveLinks}`);
}
await browser.close();
