/// <reference lib="dom" />
/**
 * Generate with Attention in the real VS Code (code-server + headless Chromium, the e2e harness),
 * issue 25: the bundled default model continues a 32-token prompt by 32 tokens on WebAssembly.
 * Per step: how long the step took (the interval between steps, the model's run and the attention
 * rows), and how long from the step to its token painted in the panel's strip (the host decodes
 * it: a message each way); then from the last step to the picture of the whole sequence. Each
 * latency is also given as a ratio to the step interval measured in the same run. Run by
 * `npm run bench:generation` (bench/e2eBench.mjs bundles it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatMillis } from '../src/core/timing';
import { bundledModels } from '../src/models/modelRegistry';
import { ROOT, panelFrame } from '../test/e2e/codeServer';
import { nextTimings, openAndSelectAll, paletteEnter } from '../test/e2e/workbench';
import { session, textOfTokens } from './firstPicture';

const NEW_TOKENS = 32;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function main(): Promise<void> {
  const [model] = bundledModels(ROOT);
  const prompt = await textOfTokens(model.folder, fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8'), 32);
  await session({ 'attentionLens.generation.maxNewTokens': NEW_TOKENS }, { 'prompt.txt': prompt }, async (page) => {
    await openAndSelectAll(page, 'prompt.txt');
    // Warm: the runtime compiled and the session open, as for every generation after the first.
    let t0 = await paletteEnter(page, 'Attention Lens: Show Attention');
    const { frame } = await nextTimings(page, t0 - 60_000);
    await openAndSelectAll(page, 'prompt.txt');
    t0 = await paletteEnter(page, 'Attention Lens: Generate with Attention');
    const panel = await panelFrame(page);
    await panel.waitForFunction((n) => (JSON.parse(document.body.dataset.generationSteps ?? '[]') as unknown[]).length === n, NEW_TOKENS, { timeout: 300_000, polling: 50 });
    const steps = JSON.parse(await panel.evaluate(() => document.body.dataset.generationSteps ?? '[]')) as Array<[number, number]>;
    const lastShown = Math.max(...steps.map(([, shown]) => shown));
    const whole = await nextTimings(page, lastShown - 5_000, frame);
    const made = steps.map(([m]) => m).sort((a, b) => a - b);
    const intervals = made.slice(1).map((m, i) => m - made[i]);
    const latencies = steps.map(([m, shown]) => shown - m);
    const step = median(intervals);
    const toPicture = whole.timings.pictureAt - made[made.length - 1];
    console.log(`\nGenerate with Attention, ${model.label}, WebAssembly, ${prompt.length} characters of prompt, ${NEW_TOKENS} new tokens (this machine, ${new Date().toISOString().slice(0, 10)})`);
    console.log('measure | ms | ÷ step');
    console.log('---|---:|---:');
    console.log(`step (median interval between steps; ${(1000 / step).toFixed(1)} tokens/s) | ${formatMillis(step)} | 1.00`);
    console.log(`step → its token painted in the strip, median | ${formatMillis(median(latencies))} | ${(median(latencies) / step).toFixed(2)}`);
    console.log(`step → its token painted in the strip, slowest | ${formatMillis(Math.max(...latencies))} | ${(Math.max(...latencies) / step).toFixed(2)}`);
    console.log(`last step → the whole sequence drawn (one more run, every view) | ${formatMillis(toPicture)} | ${(toPicture / step).toFixed(2)}`);
    console.log(`command → the whole sequence drawn | ${formatMillis(whole.timings.pictureAt - t0)} | ${((whole.timings.pictureAt - t0) / step).toFixed(2)}`);
  });
}
