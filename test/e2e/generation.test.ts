/// <reference lib="dom" />
// Generate with Attention in the real extension (issue 25): the bundled causal model continues the
// first line of story.md; the steps arrive in the panel's strip one by one, the tokens are the
// CLI's greedy tokens for the same text, the step slider and ←/→ replay the steps in the views,
// Insert puts the output after the selection, and the editor's hover on a generated token shows
// what the model nearly chose and what it looked at. A T5 fixture generates an output for its
// source and opens on the cross-attention matrix. A classifier shows its predicted labels.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { tokenLabel } from '../../src/core/tokens';
import { bundledModels } from '../../src/models/modelRegistry';
import { ARTIFACTS, ROOT, panelFrame } from './codeServer';
import { useSession } from './session';
import { chooseFromContextMenu, firstLine, openAndSelectAll, openSampleAndSelect, runCommand, selectFirstLine, showAttentionByKey } from './workbench';
import { attentionGraph } from '../engine/attentionGraphs';

const SELECTED = 'The cat sat on the mat because it was tired.';
const NEW_TOKENS = 8;
// The hf-tiny T5 export. (The split t5-split fixture's next-token probabilities are nearly flat, about
// 0.001 each, so the panel's backend and the CLI's could pick different argmaxes: its cache path is
// checked against PyTorch in test/engine/generation.test.ts.)
const T5 = path.join(ROOT, 'test/fixtures/models/t5-attn');

/** The CLI's generation for the same text and model (the same greedy choice, on node's onnxruntime). */
function cliGenerate(model: string, text: string, max: number): Promise<{ ids: number[]; tokens: Array<{ text: string; generated: boolean }>; output: string; stop: string }> {
  return new Promise((resolve, reject) => execFile(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), 'generate', '--model', model, '--text', text, '--max-new-tokens', String(max), '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 },
    (e, out, err) => (e ? reject(new Error(`CLI failed: ${err}`)) : resolve(JSON.parse(out)))));
}

/** Counts of generated chips each time the strip changed, recorded in the page. */
async function watchChips(frame: Frame): Promise<void> {
  await frame.evaluate(() => {
    const w = window as unknown as { __chips: number[] };
    w.__chips = [];
    const tokens = document.getElementById('gen-tokens')!;
    new MutationObserver(() => w.__chips.push(tokens.querySelectorAll('.gen-token').length)).observe(tokens, { childList: true });
  });
}

const detail = (frame: Frame) => frame.$eval('#gen-detail', (e) => e.textContent ?? '');

describe('Generate with Attention', () => {
  const session = useSession(false, { 'attentionLens.generation.maxNewTokens': NEW_TOKENS });

  it('streams the steps, replays them, inserts the output, and hovers a generated token in the editor', async () => {
    const { page, server } = session;
    const expected = cliGenerate(bundledModels(ROOT)[0].folder, SELECTED, NEW_TOKENS);
    await page.goto(server.url);
    await openSampleAndSelect(page);
    // Show Attention first: the panel exists, so its strip can be watched from the first step.
    await runCommand(page, 'Attention Lens: Show Attention');
    let frame = await panelFrame(page);
    await frame.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
    await watchChips(frame);
    await selectFirstLine(page);
    await chooseFromContextMenu(page, /Generate with Attention/);
    frame = await panelFrame(page);
    await frame.waitForFunction((n) => document.querySelectorAll('#gen-tokens .gen-token').length === n && document.body.dataset.state === 'ready' && !document.getElementById('gen-slider')!.hidden, NEW_TOKENS, { timeout: 120_000, polling: 100 });
    expect(await frame.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent))).toBe('');
    // The steps arrived one at a time (the strip grew 1, 2, … before the whole sequence was drawn).
    const counts = await frame.evaluate(() => (window as unknown as { __chips: number[] }).__chips);
    expect(counts.slice(0, 3)).toEqual([1, 2, 3]);
    // The same tokens as the CLI's greedy generation.
    const cli = await expected;
    const generated = cli.tokens.filter((t) => t.generated).map((t) => tokenLabel(t));
    expect(await frame.$$eval('#gen-tokens .gen-token', (bs) => bs.map((b) => b.textContent))).toEqual(generated);
    expect(await frame.$eval('#gen-status', (e) => e.textContent)).toMatch(/^8 generated tokens \(reached the maximum number of new tokens\)/);
    // The steps as text: each token with its probability and what else was likely.
    const listed = await frame.$$eval('#gen-steps li', (lis) => lis.map((l) => l.textContent ?? ''));
    expect(listed).toHaveLength(NEW_TOKENS);
    expect(listed[0]).toMatch(new RegExp(`^${generated[0].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} p 0\\.\\d{3} · also likely: `));
    // The whole sequence is one run: the layer's queries are the prompt and the output.
    expect(Number(await frame.$eval('#view', (v) => (v as HTMLElement).dataset.links))).toBeGreaterThan(0);

    // Step back and forth: End, ←, →, the slider; each shows the query that chose the token.
    await frame.click('#gen-tokens .gen-token >> nth=0');
    expect(await detail(frame)).toMatch(/^Step 1 of 8: .* p 0\.\d{3}/);
    await frame.press('#gen-tokens', 'End');
    expect(await detail(frame)).toMatch(/^Step 8 of 8/);
    await frame.press('#gen-tokens', 'ArrowLeft');
    expect(await detail(frame)).toMatch(/^Step 7 of 8/);
    expect(await frame.$eval('#gen-tokens .gen-token[aria-selected="true"]', (b) => (b as HTMLElement).dataset.step)).toBe('6');
    // The tooltip names the query that chose step 7: the token before it (prompt tokens + 5 generated).
    await frame.waitForFunction(() => !document.getElementById('tooltip')!.hidden, undefined, { timeout: 10_000 });
    const query = cli.tokens[cli.tokens.findIndex((t) => t.generated) + 5];
    expect(await frame.$eval('#tooltip', (t) => t.textContent ?? '')).toContain(tokenLabel(query).trim());
    await frame.press('#gen-tokens', 'ArrowRight');
    expect(await detail(frame)).toMatch(/^Step 8 of 8/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'generation.png') });
    // The README's picture of generation: `UPDATE_SCREENSHOT=1 npm run test:e2e` refreshes it.
    if (process.env.UPDATE_SCREENSHOT) fs.copyFileSync(path.join(ARTIFACTS, 'generation.png'), path.join(ROOT, 'docs/generation.png'));

    // Insert: the output follows the selection in the editor; a generated token's hover shows its alternatives.
    await frame.click('#gen-insert');
    const story = path.join(server.workspace, 'story.md');
    await firstLine(page).first().click();
    await page.keyboard.press('Control+S');
    await expect.poll(() => fs.readFileSync(story, 'utf8').split('\n')[0], { timeout: 10_000 }).toBe(SELECTED + cli.output);
    // Hover the end of the line: the last generated token (the line may wrap: its last visual row).
    const tail = page.locator('.monaco-editor .view-line span span', { hasText: cli.output.trim().split(/\s+/).at(-1)! }).last();
    const last = (await tail.boundingBox())!;
    await page.mouse.click(last.x + last.width - 2, last.y + last.height / 2);
    await page.mouse.move(last.x + last.width - 3, last.y + last.height / 2 + 1);
    const hover = page.locator('.monaco-hover').filter({ hasText: 'generated token' }).first();
    await hover.waitFor({ timeout: 20_000 });
    const text = await hover.innerText();
    expect(text).toMatch(/generated token .* \(step \d+\): p 0\.\d{3}, rank 1/);
    expect(text).toContain('it could have chosen');
    expect(text).toContain('Chosen while the model looked at');
  });

  it('generates with an encoder-decoder model and opens on its cross-attention matrix', async () => {
    const { page, server } = session;
    server.updateSettings({ 'attentionLens.model': T5, 'attentionLens.generation.maxNewTokens': 5 });
    fs.writeFileSync(path.join(server.workspace, 'source.txt'), SELECTED);
    await page.reload();
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
    await openAndSelectAll(page, 'source.txt');
    await runCommand(page, 'Attention Lens: Generate with Attention');
    const frame = await panelFrame(page);
    await frame.waitForFunction(() => document.body.dataset.state === 'ready' && !document.getElementById('gen-slider')!.hidden, undefined, { timeout: 120_000, polling: 100 });
    expect(await frame.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent))).toBe('');
    const cli = await cliGenerate(T5, SELECTED, 5);
    const made = cli.tokens.filter((t) => t.generated).map((t) => tokenLabel(t));
    expect(await frame.$$eval('#gen-tokens .gen-token', (bs) => bs.map((b) => b.textContent))).toEqual(made);
    expect(await frame.$eval('#view-mode', (s) => (s as HTMLSelectElement).value)).toBe('matrix');
    expect(await frame.$eval('#layer-select', (s) => (s as HTMLSelectElement).selectedOptions[0]?.textContent ?? '')).toMatch(/cross/i);
    expect(await frame.$eval('#matrix', (m) => (m as HTMLElement).hidden)).toBe(false);
    await page.screenshot({ path: path.join(ARTIFACTS, 'generation-t5.png') });
    if (process.env.UPDATE_SCREENSHOT) fs.copyFileSync(path.join(ARTIFACTS, 'generation-t5.png'), path.join(ROOT, 'docs/translation.png'));
  });

  it('shows a classifier’s predicted labels with their probabilities', async () => {
    const { page, server } = session;
    // A hand-built classifier (three labels) with the BERT fixture's tokenizer; the CLI gives the reference prediction.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-classifier-e2e-'));
    try {
      fs.cpSync(path.join(ROOT, 'test/fixtures/models/bert-plain'), dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'onnx/model.onnx'), attentionGraph({ form: 'eager', layers: 2, hidden: 32, heads: 4, kvHeads: 4, causal: false, vocab: 3000, seed: 5, classifier: 3 }));
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, id2label: { 0: 'negative', 1: 'neutral', 2: 'positive' } }));
      const cli = await new Promise<{ prediction: Array<{ label: string; probability: number }> }>((resolve, reject) => execFile(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), 'inspect', '--model', dir, '--text', SELECTED, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 },
        (e, out, err) => (e ? reject(new Error(`CLI failed: ${err}`)) : resolve(JSON.parse(out)))));
      server.updateSettings({ 'attentionLens.model': dir });
      await page.reload();
      await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
      await openAndSelectAll(page, 'source.txt');
      const frame = await showAttentionByKey(page);
      await frame.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
      expect(await frame.$eval('#prediction', (e) => ((e as HTMLElement).hidden ? '' : e.textContent))).toBe(`Predicted: ${cli.prediction.map((p) => `${p.label} ${p.probability.toFixed(3)}`).join(' · ')}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
