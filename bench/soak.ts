/// <reference lib="dom" />
/**
 * Soak: 100 Show Attention runs on changing selections in the real VS Code (code-server + headless
 * Chromium, the bundled default on WebAssembly). Measures the extension host's and the browser
 * renderers' resident memory and the panel's JS heap (after a forced GC) at run 10 and run 100
 * (flat within 10 % passes), counts the editor's attention highlights (one run's worth, never
 * accumulating), and checks the extension host log for unhandled rejections. Then LONG_RUNS runs
 * on selections cut at the model's 512 positions, which the panel compacts (16-bit copies, full
 * precision in Blobs held by the browser process): every Chromium process's memory, the panel's
 * heap and its attention bytes at long run 3 and the last (flat within 10 %). Exits non-zero when
 * a check fails. Run by `npm run bench:soak` (bench/soak.bench.mjs bundles this file).
 */
import * as fs from 'node:fs';
import { rssOf } from './processes';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { formatBytes } from '../src/core/units';
import { CodeServer, ROOT, launchBrowser } from '../test/e2e/codeServer';
import { highlightCount, nextTimings, paletteEnter, panelHeap, settledAttentionBytes } from '../test/e2e/workbench';

const RUNS = Number(process.env.SOAK_RUNS ?? 100);
const CHECKPOINTS = [10, RUNS];
const LONG_RUNS = Number(process.env.SOAK_LONG_RUNS ?? 12);
const LONG_CHECKPOINTS = [3, LONG_RUNS];


interface Sample {
  run: number;
  extensionHost: number;
  renderers: number;
  panelHeap: number;
  highlights: number;
}

async function sample(page: Page, frame: Frame, run: number): Promise<Sample> {
  // The cursor inside the line's last token: the editor highlights what it attends to (one run's worth).
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowLeft');
  await page.waitForTimeout(800);
  const heap = await panelHeap(frame, true);
  return { run, extensionHost: rssOf(/--type=extensionHost|extensionHostProcess|bootstrap-fork.*extensionHost/), renderers: rssOf(/chromium.*--type=renderer/), panelHeap: heap, highlights: await highlightCount(page) };
}

interface LongSample {
  run: number;
  chromium: number;
  panelHeap: number;
  held: number;
  naive: number;
}

/** After the panel's attention bytes settle (compaction done): every Chromium process, the panel's heap after GC, its attention bytes. */
async function longSample(frame: Frame, run: number): Promise<LongSample> {
  const held = await settledAttentionBytes(frame, 30);
  const tokens = await frame.$$eval('#link-list li', (l) => l.length);
  return { run, chromium: rssOf(/chrom(e|ium)/i), panelHeap: await panelHeap(frame, true), held, naive: 4 * 8 * tokens * tokens * 4 };
}

/** Selects line `line` (1-based) with Go to Line, then Home and Shift+End. */
async function selectLine(page: Page, line: number): Promise<void> {
  await page.keyboard.press('Control+G');
  await page.keyboard.type(String(line));
  await page.keyboard.press('Enter');
  await page.keyboard.press('Home');
  await page.keyboard.press('Shift+End');
}

export async function main(): Promise<void> {
  // RUNS different lines: windows of 8 to 31 words sliding through the sample text.
  const words = fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8').split(/\s+/).filter(Boolean);
  const lines = Array.from({ length: RUNS }, (_, i) => words.slice((i * 13) % (words.length - 40), ((i * 13) % (words.length - 40)) + 8 + ((i * 7) % 24)).join(' '));
  const server = await CodeServer.start({ 'attentionLens.backend': 'wasm' });
  fs.writeFileSync(path.join(server.workspace, 'soak.txt'), lines.slice(0, RUNS).join('\n'));
  const b = await launchBrowser(false, ['--js-flags=--expose-gc', '--enable-precise-memory-info']);
  const samples: Sample[] = [];
  let failures = 0;
  const t0 = Date.now();
  try {
    const { page } = b;
    await page.goto(server.url);
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
    const item = page.getByRole('treeitem', { name: /soak\.txt/ });
    await item.waitFor({ timeout: 60_000 });
    await item.dblclick();
    await page.locator('.monaco-editor .view-line').first().waitFor({ timeout: 30_000 });
    let frame: Frame | undefined;
    let last = 0;
    for (let run = 1; run <= RUNS; run++) {
      await page.locator('.monaco-editor .view-lines').first().click();
      await selectLine(page, run);
      const pressed = await paletteEnter(page, 'Attention Lens: Show Attention');
      let r;
      try {
        r = await nextTimings(page, Math.max(last, pressed - 60_000), frame, 120_000);
      } catch (e) {
        throw new Error(`run ${run}: ${(e as Error).message}`);
      }
      frame = r.frame;
      last = r.timings.commandAt;
      if (CHECKPOINTS.includes(run)) samples.push(await sample(page, frame, run));
      if (run % 10 === 0) console.log(`run ${run}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    // Long selections: each compacted once drawn; Blobs of earlier runs must go with them.
    const long = Array.from({ length: LONG_RUNS }, (_, i) => words.slice(i * 37 % (words.length - 500), i * 37 % (words.length - 500) + 450).join(' '));
    fs.writeFileSync(path.join(server.workspace, 'soak-long.txt'), long.join('\n'));
    const longItem = page.getByRole('treeitem', { name: /soak-long\.txt/ });
    await longItem.waitFor({ timeout: 60_000 });
    await longItem.dblclick();
    await page.waitForTimeout(1000);
    const longSamples: LongSample[] = [];
    for (let run = 1; run <= LONG_RUNS; run++) {
      await page.locator('.monaco-editor .view-lines').first().click();
      await selectLine(page, run);
      const pressed = await paletteEnter(page, 'Attention Lens: Show Attention');
      const r = await nextTimings(page, Math.max(last, pressed - 60_000), frame, 120_000);
      frame = r.frame;
      last = r.timings.commandAt;
      if (LONG_CHECKPOINTS.includes(run)) longSamples.push(await longSample(frame, run));
    }
    const log = server.extensionHostLogs();
    const unhandled = (log.match(/unhandled|rejected promise/gi) ?? []).length;
    const [a, z] = [samples[0], samples[samples.length - 1]];
    console.log(`\nsoak: ${RUNS} Show Attention runs on changing selections, bundled default, WebAssembly, code-server + headless Chromium`);
    console.log('measure | run 10 | run ' + RUNS + ' | change | verdict (flat within 10 %)');
    for (const [key, label] of [['extensionHost', 'extension host RSS'], ['renderers', 'Chromium renderers RSS'], ['panelHeap', 'panel JS heap after GC']] as const) {
      const change = a[key] > 0 ? z[key] / a[key] - 1 : 0;
      const ok = change <= 0.1;
      if (!ok) failures++;
      console.log(`${label} | ${formatBytes(a[key])} | ${formatBytes(z[key])} | ${(100 * change).toFixed(1)} % | ${ok ? 'flat' : 'GROWS'}`);
    }
    const [la, lz] = [longSamples[0], longSamples[longSamples.length - 1]];
    console.log(`\nlong selections: ${LONG_RUNS} runs cut at 512 tokens (${formatBytes(la.naive)} of attention each), compacted by the panel`);
    console.log(`measure | long run ${la.run} | long run ${lz.run} | change | verdict (flat within 10 %)`);
    for (const [key, label] of [['chromium', 'every Chromium process RSS (Blobs live in the browser process)'], ['panelHeap', 'panel JS heap after GC'], ['held', 'attention held by the panel']] as const) {
      const change = la[key] > 0 ? lz[key] / la[key] - 1 : 0;
      const ok = change <= 0.1;
      if (!ok) failures++;
      console.log(`${label} | ${formatBytes(la[key])} | ${formatBytes(lz[key])} | ${(100 * change).toFixed(1)} % | ${ok ? 'flat' : 'GROWS'}`);
    }
    const highlightsOk = a.highlights > 0 && z.highlights > 0 && z.highlights <= a.highlights * 2;
    if (!highlightsOk) failures++;
    console.log(`editor highlights with the cursor in the last token | ${a.highlights} | ${z.highlights} | | ${highlightsOk ? 'one run\'s worth' : 'NONE OR ACCUMULATING'}`);
    if (unhandled > 0) failures++;
    console.log(`unhandled rejections in the extension host log | | ${unhandled} | | ${unhandled === 0 ? 'none' : 'FOUND'}`);
  } finally {
    await b.context.close().catch(() => undefined);
    fs.rmSync(b.dir, { recursive: true, force: true });
    await server.stop();
  }
  if (failures > 0) {
    console.error(`soak: ${failures} check(s) failed`);
    process.exitCode = 1;
  }
}
