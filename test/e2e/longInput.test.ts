/// <reference lib="dom" />
// Long inputs in the real extension (issue 24): 4,096 tokens through a tiny Qwen2.5 stand-in
// whose config allows them (tools/real-size/llm.mjs; rotary angles are computed, so any position
// works), run by the native engine (auto, no hardware GPU here) as queries and keys. The panel
// draws, says what it keeps, switches layers, the editor hovers, the explorer fills, a figure
// exports, the rollout is made by a pass over the layers, and hiding with the mean of the heads,
// contributions and the mechanism of a query are computed from what the layer keeps, and a
// comparison with an edited copy runs both sides so. The rows themselves are checked against the model's weights in
// test/engine/queryKeys.test.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, explorerFrame } from './codeServer';
import { useSession } from './session';
import { llmGenerator } from '../llmStandIns';
import { editorHover, exportThroughDialog, openAndSelectAll, runCommand, settledAttentionBytes, showAttentionAndWait, startExport } from './workbench';

const TOKENS = 4096;
const generator = await llmGenerator();
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-long-e2e-'));
const made = generator.ensureLlmVariant(cache, 'qwen2.5-0.5b', 'fp32', { tiny: true });
// The stand-in says 2,048 positions; this copy takes 4,096 (the host truncates there).
for (const [file, key] of [['config.json', 'max_position_embeddings'], ['tokenizer_config.json', 'model_max_length']]) {
  const f = path.join(made.folder, file);
  if (fs.existsSync(f)) fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), [key]: TOKENS }));
}
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

/** Text of far more than 4,096 tokens, whose first line editorHover finds. */
const SENTENCES = ['The cat sat on the mat because it was tired.', 'A dog barked at the mail carrier twice.', 'Rain fell on the old stone bridge all night.', 'She wrote the numbers down and checked them again.'];
const TEXT = Array.from({ length: 260 }, (_, i) => SENTENCES[i % SENTENCES.length]).join('\n');

describe('A 4,096-token selection', () => {
  const session = useSession(false, { 'attentionLens.model': made.folder });

  it('draws from queries and keys, hovers, switches layers, fills the explorer, exports and compares with an edited copy', async () => {
    const { page, server } = session;
    fs.writeFileSync(path.join(server.workspace, 'long.txt'), TEXT);
    await page.goto(server.url);
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
    const frame = await showAttentionAndWait(page, undefined, (p) => openAndSelectAll(p, 'long.txt'));
    expect(await frame.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent))).toBe('');
    expect(await frame.$eval('body', (b) => b.dataset.backend)).toBe('native');
    // The first layer is drawn with the run; the other follows (its queries and keys one message after).
    await frame.waitForSelector('body[data-layers-pending="false"]', { timeout: 60_000 });
    const notice = await frame.$eval('#notice', (n) => n.textContent ?? '');
    expect(notice).toMatch(/only the first 4096 are shown\. 4,096 tokens: each layer's weights are computed from its queries and keys when shown \(\d+(\.\d)? MB held instead of 536\.9 MB\)/);
    expect(Number(await frame.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
    // Contributions (each key's value norm came with the queries and keys), the mechanism (of one query, from the values kept), word level, hiding and mean/max are made from the layer shown, the rollout by a pass.
    for (const sel of ['#weighting', '#words', '#aggregate', '#hide', '#aggregate option[value="rollout"]', '#view-mode option[value="mechanism"]']) expect(await frame.$eval(sel, (e) => (e as HTMLInputElement).disabled)).toBe(false);
    // Once settled, the panel holds the queries and keys and the one layer on screen (of two).
    const layerBytes = 4 * TOKENS * TOKENS * 4;
    expect(await settledAttentionBytes(frame, 60)).toBeLessThan(layerBytes + (16 << 20));
    await page.screenshot({ path: path.join(ARTIFACTS, 'long-input.png') });

    // Layer 2, computed when chosen (in the page's workers: the switch waits for it), then layer 1 again.
    for (const [value, label] of [['1', 'Layer 2'], ['0', 'Layer 1']]) {
      await frame.selectOption('#layer-select', value);
      await frame.waitForFunction((label) => document.body.dataset.state === 'ready' && !document.body.dataset.computing && (document.getElementById('link-list-title')?.textContent ?? '').includes(label)
        && Number(document.getElementById('view')?.dataset.links) > 0, label, { timeout: 60_000 });
    }
    expect(await frame.$eval('body', (b) => b.dataset.layerWorkers)).toBe('working');

    const hover = await editorHover(page);
    expect(hover).toMatch(/Layer 1/);
    expect(hover).toMatch(/0\.\d{3}/);

    await runCommand(page, 'Attention Lens: Show Head Explorer');
    const explorer = await explorerFrame(page);
    await explorer.waitForSelector('#main:not([hidden]) #grid[data-cells]', { timeout: 120_000 });
    expect(Number(await explorer.$eval('#grid', (g) => g.dataset.cells))).toBe(2 * 4);
    expect(await explorer.$eval('#title', (t) => t.textContent)).toMatch(/4,?096 tokens/);
    // The layer not on screen was measured in the page's workers, a head at a time: its weights never came to the page.
    expect(await frame.$eval('body', (b) => b.dataset.gridRows)).toBe('workers');

    const svg = fs.readFileSync(await exportThroughDialog(page, server.workspace, 'Figure as SVG', 'svg'), 'utf8');
    expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // The JSON document would hold every layer at once: refused, pointing to the archive, which computes one layer at a time.
    const files = fs.readdirSync(server.workspace).length;
    await startExport(page, 'Data as JSON', 'json');
    await page.locator('.notifications-toasts', { hasText: 'Export NumPy (.npz) instead' }).first().waitFor({ timeout: 30_000 });
    expect(await page.locator('.notifications-toasts').first().textContent()).toMatch(/the export failed \(this run is long enough that its layers are computed from queries and keys one at a time; a JSON document would hold every layer's weights at once \(536\.9 MB\)/);
    expect(fs.readdirSync(server.workspace).length).toBe(files);

    // The rollout: a pass over both layers in the page's worker, then drawn; each layer's is its own record.
    await frame.selectOption('#aggregate', 'rollout');
    for (const [value, label] of [['0', 'Rollout through Layer 1'], ['1', 'Rollout through Layer 2']]) {
      await frame.selectOption('#layer-select', value);
      await frame.waitForFunction((label) => document.body.dataset.state === 'ready' && (document.getElementById('link-list-title')?.textContent ?? '').includes(label)
        && Number(document.getElementById('view')?.dataset.links) > 0, label, { timeout: 120_000 });
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'long-input-rollout.png') });

    // Special tokens hidden and the mean of the heads, computed from the layer on screen when chosen
    // (this tokenizer gives every piece one word id, so word level would make one word of it all).
    await frame.selectOption('#hide', 'special');
    await frame.selectOption('#aggregate', 'mean');
    await frame.waitForFunction((n) => /without special tokens · mean of all 4 heads/.test(document.getElementById('layer-select')?.textContent ?? '')
      && document.getElementById('link-list')!.children.length === n - 1 && Number(document.getElementById('view')?.dataset.links) > 0, TOKENS, { timeout: 120_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'long-input-hidden-mean.png') });

    // Contributions ‖α·v·W_Oʰ‖: the layer shown computed from its queries and keys, each weight times its key's value norm.
    const weighted = await frame.$eval('#link-list', (l) => l.textContent);
    await frame.selectOption('#weighting', 'contribution');
    await frame.waitForFunction(() => document.body.dataset.weighting === 'contribution' && document.body.dataset.state === 'ready' && !document.body.dataset.computing
      && Number(document.getElementById('view')?.dataset.links) > 0, undefined, { timeout: 120_000 });
    expect(await frame.$eval('#notice', (n) => n.textContent)).toMatch(/Links show contributions ‖α·v·W_Oʰ‖ \(through the output projection\), normalised per query and head\./);
    await frame.waitForFunction((before) => document.getElementById('link-list')?.textContent !== before, weighted, { timeout: 60_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'long-input-contributions.png') });

    // The mechanism of one query, computed from what the layer keeps (its values; no second run of the model).
    await frame.selectOption('#view-mode', 'mechanism');
    await frame.waitForSelector('#mechanism[data-state="ready"]', { timeout: 60_000 });
    const query = 4000;
    await frame.selectOption('#mech-query', String(query));
    await frame.selectOption('#mech-sort', 'weight');
    await frame.waitForSelector(`#mechanism[data-query="${query}"]`);
    const rows = await frame.$$eval('#mechanism .mech-row[data-key]', (els) => els.map((e) => [Number((e as HTMLElement).dataset.key), Number((e as HTMLElement).dataset.weight)] as const));
    expect(rows.length).toBeGreaterThan(3);
    expect(rows.every(([key], i) => key <= query && (i === 0 || rows[i - 1][1] >= rows[i][1]))).toBe(true); // causal, by weight
    expect(rows[0][1]).toBeGreaterThan(0);
    expect(await frame.$eval('#mechanism', (m) => m.textContent ?? '')).toMatch(/score = 0\.\d{4} = 1\/√\d+ × q·k/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'long-input-mechanism.png') });

    // A comparison of so long a selection with an edited copy: both runs kept as queries and keys,
    // their tokens aligned through a diff, each side's aligned layer computed when shown.
    await runCommand(page, 'Attention Lens: Compare with Edited Text…');
    const box = page.locator('.quick-input-widget', { hasText: /Compare with Edited Text/ });
    await box.waitFor({ timeout: 15_000 });
    // The box keeps no line breaks: they show as a mark, and are line breaks again in the text compared.
    expect(await box.locator('input').inputValue()).toMatch(/^The cat sat on the mat because it was tired\.⏎A dog barked/);
    await page.keyboard.press('Home');
    await page.keyboard.type('Yesterday ');
    await page.keyboard.press('Enter');
    await frame.waitForFunction(() => document.body.dataset.state === 'ready' && /Compared by/.test(document.getElementById('notice')?.textContent ?? ''), undefined, { timeout: 300_000 });
    expect(await frame.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent))).toBe('');
    const compared = await frame.$eval('#notice', (n) => n.textContent ?? '');
    expect(compared).toMatch(/Compared by tokens of two texts: 2 edits; 40\d\d tokens are unchanged and compared/); // the words typed at the start, and B's last tokens past the limit
    expect(compared).toMatch(/Run A: 4,096 tokens: each layer's weights are computed from its queries and keys when shown \(\d+(\.\d)? MB held instead of 536\.9 MB\)\. Run B: 4,096 tokens/);
    expect(Number(await frame.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
    expect(Number(await frame.$eval('#view-b', (v) => v.dataset.links))).toBeGreaterThan(0);
    // Each side's layer aligned in the page's workers: the layer itself never came to the page.
    expect(await frame.$eval('body', (b) => b.dataset.alignedIn)).toBe('workers');
    // A − B, from the two layers on screen: the panel's stores hold those two and the queries and
    // keys, not the other layers (8 in all); the difference drawn from them is the pane's own.
    await frame.selectOption('#compare-show', 'difference');
    await frame.waitForFunction(() => document.getElementById('view-b')!.hidden && Number(document.getElementById('view')?.dataset.links) > 0, undefined, { timeout: 60_000 });
    // The figure is written after each change, and once (a CI run, the explorer's pass over both
    // runs running meanwhile) it read three layers and stayed so. A change (side by side and back)
    // writes it again: the test fails only if the third layer stays held.
    const held = async () => {
      const bytes = await settledAttentionBytes(frame, 30);
      if (bytes < 2 * layerBytes + (32 << 20)) return bytes;
      await frame.selectOption('#compare-show', 'side');
      await frame.selectOption('#compare-show', 'difference');
      return bytes;
    };
    await expect.poll(held, { timeout: 180_000, interval: 1000 }).toBeLessThan(2 * layerBytes + (32 << 20));
    await page.screenshot({ path: path.join(ARTIFACTS, 'long-input-compare-difference.png') });
    // The head correspondence: 4 × 4 pairs of rows over 4,096 tokens, a pair per task.
    await frame.selectOption('#compare-show', 'correspondence');
    await frame.waitForSelector('#correspondence[data-best-matches]', { timeout: 120_000 });
    const best = (await frame.$eval('#correspondence', (e) => e.dataset.bestMatches ?? '')).split(',').map(Number);
    expect(best.length === 4 && best.every((h) => h >= 0 && h < 4)).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'long-input-compare-correspondence.png') });
    // The comparison's JSON document would hold both runs' weights at once: refused, saying what exports instead.
    await startExport(page, 'Data as JSON', 'json');
    const refused = page.locator('.notifications-toasts', { hasText: "the comparison's JSON document" }).first();
    await refused.waitFor({ timeout: 30_000 });
    expect(await refused.textContent()).toMatch(/both runs are long enough that layers are computed from queries and keys one at a time; the comparison's JSON document would hold both runs' weights at once \(1\.1 GB\)\. Export NumPy \(\.npz\) instead/);
    expect(fs.readdirSync(server.workspace).length).toBe(files);
    // The panel shows the comparison.
    expect(await frame.$eval('body', (b) => b.dataset.state)).toBe('ready');
    expect(server.extensionHostLogs()).not.toMatch(/unhandled|rejected promise/i);
  });
});
