// `npm run bench`: speed of the views in headless Chromium, each as a ratio against a plain
// baseline measured in the same run on the same synthetic BERT-base-shaped attention.
import * as esbuild from 'esbuild';
import * as path from 'node:path';
import { chromium } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '..');
const bundle = async (file) => (await esbuild.build({ entryPoints: [path.join(root, file)], bundle: true, write: false, format: 'iife', platform: 'browser' })).outputFiles[0].text;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-quic'], ignoreDefaultArgs: ['--headless'] });
const f = (ms) => `${ms.toFixed(1)} ms`;
const ratio = (base, ours) => `${(base / ours).toFixed(1)}×`;
/** A blank page of the size given with the bundled benchmark page `file` loaded. */
const benchPage = async (file, viewport) => {
  const page = await browser.newPage(viewport ? { viewport } : {});
  await page.setContent('<!DOCTYPE html><html><body></body></html>');
  await page.addScriptTag({ content: await bundle(file) });
  return page;
};

// Head view (12 heads), against one stroke per link on a canvas as tall as the input.
{
  const page = await benchPage('bench/headViewPage.ts', { width: 1000, height: 800 });
  console.log('head view, 12 heads, all heads visible; times until the change is on screen (two animation frames, ≥ 2 × 16.7 ms), Chromium headless, software rendering');
  await page.evaluate(() => window.runBench(32, 12)); // warm-up: JIT and first canvas allocation
  console.log('naive = one stroke per link above weight 0.01 on a canvas as tall as the input (a direct port of a notebook head view)');
  console.log('tokens | first draw | naive first draw | speed-up | hover on screen | naive hover | speed-up | hover JS | naive hover JS | links drawn / naive');
  for (const n of [64, 128, 256, 512]) {
    const r = await page.evaluate(([n]) => window.runBench(n, 12), [n]);
    console.log(`${String(n).padStart(6)} | ${f(r.firstDraw).padStart(10)} | ${f(r.naiveFirst).padStart(16)} | ${ratio(r.naiveFirst, r.firstDraw).padStart(8)} | ${f(r.hover).padStart(15)} | ${f(r.naiveHover).padStart(11)} | ${ratio(r.naiveHover, r.hover).padStart(8)} | ${f(r.hoverJs).padStart(8)} | ${f(r.naiveHoverJs).padStart(14)} | ${r.links} / ${r.naiveLinks}`);
  }
  await page.close();
}

// Head explorer, statistics and matrix view on 12 layers × 12 heads.
{
  const page = await benchPage('bench/explorerPage.ts', { width: 1000, height: 900 });
  await page.evaluate(() => window.runExplorer(32)); // warm-up
  console.log('\nhead explorer, statistics and matrix view: 12 layers × 12 heads (144 heads); on-screen times include two animation frames (≥ 33 ms)');
  console.log('plain baselines: statistics as one pass per statistic over nested arrays; grid as one fillRect per thumbnail pixel; heat map as one fillRect per cell');
  console.log('hover JS = the work a hover does before the browser paints (the on-screen time adds two frames)');
  console.log('tokens | stats 144 heads | plain stats | speed-up | stats + thumbnails | grid first draw | plain grid | speed-up | re-colour | grid hover JS | matrix first draw | plain matrix | speed-up | matrix hover JS');
  const editor = [];
  for (const n of [128, 512, 1024]) {
    const r = await page.evaluate(([n]) => window.runExplorer(n), [n]);
    editor.push(r);
    console.log(`${String(n).padStart(6)} | ${f(r.stats).padStart(15)} | ${f(r.plainStats).padStart(11)} | ${ratio(r.plainStats, r.stats).padStart(8)} | ${f(r.gridData).padStart(18)} | ${f(r.gridFirst).padStart(15)} | ${f(r.plainGrid).padStart(10)} | ${ratio(r.plainGrid, r.gridFirst).padStart(8)} | ${f(r.recolor).padStart(9)} | ${f(r.gridHoverJs).padStart(13)} | ${f(r.matrixFirst).padStart(17)} | ${f(r.plainMatrix).padStart(12)} | ${ratio(r.plainMatrix, r.matrixFirst).padStart(8)} | ${f(r.matrixHoverJs).padStart(15)}`);
  }
  console.log('\nthe same grid full size in the editor area (a 1050 × 760 tab, 1400 × 900 with the sidebar open); target: first draw under 300 ms with cells of at least 64 px');
  console.log('tokens | cell | first draw | ÷ 300 ms | plain grid at that cell size | speed-up | hover JS');
  for (const r of editor) {
    console.log(`${String(r.n).padStart(6)} | ${r.editorCell} px | ${f(r.editorFirst).padStart(10)} | ${(r.editorFirst / 300).toFixed(2)} | ${f(r.plainEditorGrid).padStart(28)} | ${ratio(r.plainEditorGrid, r.editorFirst).padStart(8)} | ${f(r.editorHoverJs)}`);
  }
  await page.close();
}

// Comparison: the head correspondence of one layer, 12 × 12 heads.
{
  const page = await benchPage('bench/comparePage.ts');
  await page.evaluate(() => window.runCompare(32)); // warm-up
  console.log('\nhead correspondence of a comparison: one layer, 12 heads of A × 12 of B, Jensen-Shannon distance per pair (mean over rows)');
  console.log('naive = the definition, one rowJsDistance (two logarithms per key) per pair of rows');
  console.log('tokens | ours | naive | speed-up | max |Δ|');
  for (const n of [128, 512]) {
    const r = await page.evaluate(([n]) => window.runCompare(n), [n]);
    console.log(`${String(n).padStart(6)} | ${f(r.ours)} | ${f(r.naive)} | ${ratio(r.naive, r.ours)} | ${r.maxDiff.toExponential(1)}`);
  }
  // A long comparison computes one pair of heads per task: how long a task takes, against one pass reading both heads.
  console.log('\none pair of heads of a long comparison (one task of the panel) against one pass that only reads both heads (a sum), better of three each');
  console.log('tokens | mask | first pair (with both heads\' row terms) | pair | read both | pair ÷ read | first ÷ read');
  for (const n of [1024, 2048, 4096]) {
    for (const causal of [true, false]) {
      const r = await page.evaluate(([n, causal]) => window.runPair(n, causal), [n, causal]);
      console.log(`${String(n).padStart(6)} | ${causal ? 'causal' : 'none  '} | ${f(r.first)} | ${f(r.pair)} | ${f(r.read)} | ${ratio(r.pair, r.read)} | ${ratio(r.first, r.read)}`);
    }
  }
  await page.close();
}

await browser.close();
