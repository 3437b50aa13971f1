/// <reference lib="dom" />
/**
 * Long inputs (issue 24): a Qwen2.5-0.5B-shaped q4 stand-in (tools/real-size/llm.mjs: 24 layers ×
 * 14 heads, random weights) in the panel on the native engine, at 512 tokens (its weights kept
 * whole, as before long inputs, and again as queries and keys with `attentionLens.keepWeightsMB`
 * 0) and at 1,024, 2,048 and 4,096 (kept as queries and keys). Per
 * length, each figure with its ratio to a baseline of the same run:
 * - peak memory (the extension host's, where the native engine runs, and the webview renderer's
 *   peaks together; the renderer's alone too) against the weights plus the naive L·H·n²·4 bytes
 *   of every layer's weights;
 * - the first picture (key to picture; a fresh window, so opening the model is part of it) less
 *   the opening, against the inference in it;
 * - a layer switch and a hover in the panel, each until the next frame, against a 16 ms frame;
 * - the head explorer's grid filled, after the picture;
 * - then the rollout chosen, until it is drawn (a pass over every layer for a long input), and
 *   the largest peak of any renderer process alive after it.
 *
 *   npm run bench:long                       # 512, 1,024, 2,048 and 4,096 tokens
 *   npm run bench:long -- --tokens 512,1024  # some lengths
 *   npm run bench:long -- --tokens 4096 --picture-only  # the first picture only (and the peak until then)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type RunTimings, formatMillis, stageTotals } from '../src/core/timing';
import { formatBytes } from '../src/core/units';
import { readModelFolder } from '../src/models/modelFolder';
import { ROOT, explorerFrame } from '../test/e2e/codeServer';
import { nextTimings, openAndSelectAll, paletteEnter, runCommand } from '../test/e2e/workbench';
import { session, textOfTokens } from './firstPicture';
import { peakRssOf } from './processes';

const FRAME_MS = 16;

interface Row {
  tokens: number;
  onDemand: boolean;
  picture: number;
  /** Opening the model: reading it and creating the session (a cold window opens it first). */
  open: number;
  inference: number;
  peak: number;
  rendererPeak: number;
  naive: number;
  layerSwitch: number;
  /** The longest gap between the page's frames during the layer switches. */
  switchStall: number;
  hover: number;
  explorer: number;
  held: number;
  /** Choosing the rollout until it is drawn, and the largest peak of any renderer alive after it. */
  rollout: number;
  rolloutPeak: number;
  /** Each stage's span from the key, for where the time between inference and picture goes. */
  timeline: string;
}

/** Time in the panel from `act` (run in the page) to the next frame, the better of three. */
const untilFrame = (act: string) => `(async () => {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    ${act}
    await new Promise((r) => requestAnimationFrame(() => r(undefined)));
    best = Math.min(best, performance.now() - t);
  }
  return best;
})()`;

async function measure(folder: string, onnx: string, tokens: number, text: string, weights: number, layers: number, heads: number, onDemand: boolean, pictureOnly: boolean): Promise<Row> {
  let row: Row | undefined;
  const settings = { 'attentionLens.backend': 'native', 'attentionLens.model': path.join(folder, onnx), 'attentionLens.warnModelSizeMB': 100_000, ...(onDemand ? { 'attentionLens.keepWeightsMB': 0 } : {}) };
  await session(settings, { 'long.txt': text }, async (page) => {
    await openAndSelectAll(page, 'long.txt');
    const t0 = await paletteEnter(page, 'Attention Lens: Show Attention');
    const { frame, timings } = await nextTimings(page, t0 - 60_000, undefined, 3_600_000);
    const pictureAt = Date.now();
    /** What the first picture's run measured, with the peaks read now. */
    const firstPicture = async () => {
      const t = stageTotals(timings as RunTimings);
      const notice = await frame.$eval('#notice', (n) => n.textContent ?? '');
      return {
        tokens, onDemand: /computed from its queries and keys/.test(notice), picture: timings.pictureAt - t0, open: (t.model ?? 0) + (t.session ?? 0), inference: t.inference ?? 0,
        peak: peakRssOf(/--type=extensionHost/) + peakRssOf(/chrom(e|ium).*--type=renderer/), rendererPeak: peakRssOf(/chrom(e|ium).*--type=renderer/), naive: weights + 4 * layers * heads * tokens * tokens,
        timeline: (timings as RunTimings).spans.map((s) => `${s.stage} ${Math.round(s.start - t0)}–${Math.round(s.end - t0)}`).join(', ') + `, picture ${Math.round(timings.pictureAt - t0)}`,
      };
    };
    if (pictureOnly) return void (row = { ...(await firstPicture()), layerSwitch: NaN, switchStall: NaN, hover: NaN, explorer: NaN, held: NaN, rollout: NaN, rolloutPeak: NaN });
    // The grid is computed in the panel from the picture on; the explorer shows it when it is done.
    await runCommand(page, 'Attention Lens: Show Head Explorer');
    const explorer = await explorerFrame(page, 120_000);
    await explorer.waitForSelector('#main:not([hidden]) #grid[data-cells]', { timeout: 3_600_000 });
    const explorerMs = Date.now() - pictureAt;
    // Layer 2 and back: each computed (in the page's workers) or decoded when chosen, until it is
    // drawn, the better of three; and the longest gap between the page's frames meanwhile.
    const { best: layerSwitch, stall: switchStall } = (await frame.evaluate(`(async () => {
      let best = Infinity, stall = 0;
      for (let i = 0; i < 3; i++) {
        const s = document.getElementById('layer-select');
        const want = s.value === '1' ? '0' : '1';
        const label = 'Layer ' + (Number(want) + 1) + ' ';
        let last = performance.now(), on = true;
        const tick = (t) => { stall = Math.max(stall, t - last); last = t; if (on) requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
        const t = performance.now();
        s.value = want;
        s.dispatchEvent(new Event('change', { bubbles: true }));
        while (document.body.dataset.computing || !((document.getElementById('link-list-title')?.textContent ?? '') + ' ').includes(label)) await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => requestAnimationFrame(() => r(undefined)));
        best = Math.min(best, performance.now() - t);
        on = false;
      }
      return { best, stall };
    })()`)) as { best: number; stall: number };
    // A hover over the first query token of the head view.
    const hover = (await frame.evaluate(untilFrame(`
      const v = document.getElementById('view');
      const r = v.getBoundingClientRect();
      v.dispatchEvent(new MouseEvent('mousemove', { clientX: r.left + 20, clientY: r.top + 12 + 16 * (i + 1), bubbles: true }));`))) as number;
    const held = Number(await frame.$eval('body', (b) => b.dataset.attentionBytes ?? 0));
    const measured = await firstPicture(); // the peaks before the rollout
    // The rollout through every layer, until the first layer's is drawn (a long input's is a pass over every layer).
    const rolloutStart = Date.now();
    await frame.selectOption('#layer-select', '0');
    await frame.selectOption('#aggregate', 'rollout');
    await frame.waitForFunction(() => document.body.dataset.state === 'ready' && (document.getElementById('link-list-title')?.textContent ?? '').includes('Rollout through Layer 1'), undefined, { timeout: 3_600_000, polling: 50 });
    const rollout = Date.now() - rolloutStart;
    row = { ...measured, layerSwitch, switchStall, hover, explorer: explorerMs, held, rollout, rolloutPeak: peakRssOf(/chrom(e|ium).*--type=renderer/) };
  });
  return row!;
}

/** Entry point of the bench runner. */
export async function main(): Promise<void> {
  const argv = process.argv.slice(3);
  const lengths = argv.includes('--tokens') ? argv[argv.indexOf('--tokens') + 1].split(',').map(Number) : [512, 1024, 2048, 4096];
  // Only the first picture and the peak until then (the explorer, switch, hover and rollout take minutes at 4,096 tokens).
  const pictureOnly = argv.includes('--picture-only');
  const gen = (await import(pathToFileURL(path.join(ROOT, 'tools/real-size/llm.mjs')).href)) as { ensureLlmVariant(c: string, s: string, v: string, o: { log?: (m: string) => void }): { folder: string; onnx: string } };
  const cache = path.join(process.env.ATTENTION_LENS_CACHE ?? path.join(os.homedir(), '.cache', 'attention-lens'), 'real-size');
  const { folder, onnx } = gen.ensureLlmVariant(cache, 'qwen2.5-0.5b', 'q4', { log: (m) => console.error(m) });
  const info = readModelFolder(folder, onnx);
  const [layers, heads] = [info.layers!, info.heads!];
  const source = fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8').repeat(8);
  console.log(`\nLong inputs: Qwen2.5-0.5B-shaped q4 stand-in (${layers} layers × ${heads} heads, ${formatBytes(info.footprint.weightBytes)} of weights), native engine, ${os.cpus().length} cores: ${os.cpus()[0]?.model ?? ''}, ${formatBytes(os.totalmem())}`);
  console.log('tokens | weights kept as | key → picture | of which opening the model | of which inference | picture less opening ÷ inference | peak memory: host + renderer | of which the renderer (the panel) | weights + L·H·n²·4 | peak ÷ that | attention held in the panel | layer switch | ÷ 16 ms | longest frame gap in it | hover | ÷ 16 ms | explorer filled after the picture | rollout, chosen to drawn | largest renderer peak after it');
  console.log('---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:');
  // 512 tokens twice: weights kept whole (the default there), and as queries and keys (keepWeightsMB 0).
  const cases = lengths.flatMap((n) => (n === 512 ? [[n, false], [n, true]] : [[n, false]]) as Array<[number, boolean]>);
  const timelines: string[] = [];
  // What --picture-only did not measure prints as –.
  const ms = (x: number) => (Number.isNaN(x) ? '–' : formatMillis(x)), bytes = (x: number) => (Number.isNaN(x) ? '–' : formatBytes(x));
  const frames = (x: number) => (Number.isNaN(x) ? '–' : `${(x / FRAME_MS).toFixed(1)}×`);
  for (const [n, onDemand] of cases) {
    const r = await measure(folder, onnx, n, await textOfTokens(folder, source, n), info.footprint.weightBytes, layers, heads, onDemand, pictureOnly);
    console.log(`${n} | ${r.onDemand ? 'queries and keys' : 'weights'} | ${ms(r.picture)} | ${ms(r.open)} | ${ms(r.inference)} | ${((r.picture - r.open) / r.inference).toFixed(2)}× | ${bytes(r.peak)} | ${bytes(r.rendererPeak)} | ${bytes(r.naive)} | ${(r.peak / r.naive).toFixed(2)}× | ${bytes(r.held)} | ${ms(r.layerSwitch)} | ${frames(r.layerSwitch)} | ${ms(r.switchStall)} | ${ms(r.hover)} | ${frames(r.hover)} | ${ms(r.explorer)} | ${ms(r.rollout)} | ${bytes(r.rolloutPeak)}`);
    timelines.push(`${n}${onDemand ? ' (queries and keys)' : ''}: ${r.timeline}`);
  }
  console.log('\ntimelines (each stage\'s span in ms from the key):');
  for (const t of timelines) console.log(t);
}
