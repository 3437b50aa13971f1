/// <reference lib="dom" />
// User models in the real VS Code (code-server): an SDPA export without attention outputs (found
// by graph surgery on the native engine), its mechanism view, every export of the panel through
// the save dialog, a graph with the fused ONNX Attention operator, and an untrusted workspace,
// whose settings name no model.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import { unzipSync } from 'fflate';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { bundledModels } from '../../src/models/modelRegistry';
import { ARTIFACTS, ROOT, panelFrame } from './codeServer';
import { useSession } from './session';
import { attentionGraph } from '../engine/attentionGraphs';
import { exportThroughDialog, openSampleAndSelect, runFromContextMenu, showAttentionAndWait } from './workbench';

describe('Show Attention on user models without attention outputs', () => {
  // An SDPA export (the transformers default) that only outputs logits: the engine finds its
  // attention by graph surgery. With \`auto\` and no hardware GPU here, the native engine runs it
  // (and the mechanism); the webview's surgery is checked on WebGPU in llmModels.test.ts. The folder
  // is a copy, so the second test can swap the graph.
  const model = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-sdpa-'));
  fs.cpSync(path.join(ROOT, 'test/fixtures/models/bert-sdpa'), model, { recursive: true });
  afterAll(() => fs.rmSync(model, { recursive: true, force: true }));
  const session = useSession(false, { 'attentionLens.model': model });

  it('finds the attention of an SDPA export and draws it (auto: the native engine)', async () => {
    const { page, server } = session;
    await page.goto(server.url);
    await openSampleAndSelect(page);
    const frame = await runFromContextMenu(page);
    expect(Number(await frame.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
    expect(await frame.$eval('#status', (s) => s.textContent)).toMatch(new RegExp(`^${path.basename(model)} · Native CPU`));
  });

  it('opens the mechanism view for a token, with the weights the head view shows', async () => {
    const { page } = session;
    const frame = await panelFrame(page);
    await frame.click('button.head >> nth=1', { modifiers: ['Shift'] }); // only head 2
    const query = 3;
    const listed = (await frame.$eval(`li[data-query="${query}"]`, (li) => li.textContent ?? '')).split(' → ')[1].split(', ').map((p) => p.slice(p.lastIndexOf(' ') + 1));
    const top = Number(await frame.$eval(`li[data-query="${query}"]`, (li) => (li as HTMLElement).dataset.top));
    await frame.selectOption('#view-mode', 'mechanism');
    await frame.waitForSelector('#mechanism[data-state="ready"]', { timeout: 120_000 });
    await frame.selectOption('#mech-query', String(query));
    await frame.selectOption('#mech-sort', 'weight');
    await frame.waitForSelector(`#mechanism[data-query="${query}"]`);
    expect(await frame.$eval('#mechanism', (m) => (m as HTMLElement).dataset.head)).toBe('1');
    const rows = await frame.$$eval('#mechanism .mech-row[data-key]', (els) => els.map((e) => [Number((e as HTMLElement).dataset.key), Number((e as HTMLElement).dataset.weight)] as const));
    expect(rows.length).toBeGreaterThan(3);
    expect(rows[0][0]).toBe(top);
    expect(rows.slice(0, listed.length).map(([, w]) => w.toFixed(3))).toEqual(listed);
    // The steps are there for this head and token: the query vector, every key's products and the output.
    expect(await frame.$$eval('#mechanism canvas.mech-strip', (c) => c.length)).toBeGreaterThan(rows.length * 2);
    expect(await frame.$eval('#mechanism', (m) => m.textContent ?? '')).toMatch(/score = 0\.2500 = 1\/√16 × q·k/);
    // The README's picture of the mechanism: `UPDATE_SCREENSHOT=1 npm run test:e2e` refreshes it.
    await page.screenshot({ path: path.join(ARTIFACTS, 'mechanism.png') });
    if (process.env.UPDATE_SCREENSHOT) fs.copyFileSync(path.join(ARTIFACTS, 'mechanism.png'), path.join(ROOT, 'docs/mechanism.png'));
    await frame.selectOption('#view-mode', 'head');
    // Links by contribution: every layer's mechanism, then the views redraw with them and say so.
    await frame.selectOption('#weighting', 'contribution');
    await frame.waitForSelector('body[data-weighting="contribution"]', { timeout: 120_000 });
    expect(await frame.$eval('#notice', (n) => n.textContent ?? '')).toMatch(/Links show contributions ‖α·v·W_Oʰ‖ \(through the output projection\)/);
    expect(Number(await frame.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
    const byContribution = (await frame.$eval(`li[data-query="${query}"]`, (li) => li.textContent ?? '')).split(' → ')[1];
    expect(byContribution).not.toBe(listed.join(', ')); // different numbers (α would repeat them)
    await frame.selectOption('#weighting', 'attention');
    await frame.waitForSelector('body[data-weighting="attention"]');
  });

  it('exports every view of the panel as SVG, a PNG, the data as NumPy and an HTML report through the save dialog', async () => {
    const { page, server } = session;
    const exportAs = (label: string | undefined, extension: string, command?: string) => exportThroughDialog(page, server.workspace, label, extension, command);
    const svgFile = await exportAs('Figure as SVG', 'svg');
    expect(path.basename(svgFile)).toMatch(/-layer1-head2\.svg$/); // the head soloed above
    const svg = fs.readFileSync(svgFile, 'utf8');
    const errors: string[] = [];
    const doc = new DOMParser({ onError: (level, msg) => errors.push(`${level}: ${msg}`) }).parseFromString(svg, 'image/svg+xml');
    expect(errors).toEqual([]);
    expect(doc.getElementsByTagName('line').length).toBe(Number(await (await panelFrame(page)).$eval('#view', (v) => v.dataset.links)));
    expect(svg).not.toMatch(/var\(--/);
    // With the matrix on screen, the figure is the matrix: one cell per (query, key) of the head shown.
    const frame = await panelFrame(page);
    fs.rmSync(svgFile); // the same name is proposed: no overwrite question
    await frame.selectOption('#view-mode', 'matrix');
    await frame.waitForSelector('#matrix[data-cells]');
    const matrixFile = await exportAs('Figure as SVG', 'svg');
    const matrix = new DOMParser().parseFromString(fs.readFileSync(matrixFile, 'utf8'), 'image/svg+xml');
    expect(matrix.getElementsByTagName('rect').length - 1).toBe(Number(await frame.$eval('#matrix', (m) => (m as HTMLElement).dataset.cells)));
    fs.rmSync(matrixFile);
    // The text view with a token chosen by keyboard (a pointer hover ends when the palette covers it): its arcs are in the figure.
    await frame.selectOption('#view-mode', 'text');
    await page.mouse.move(5, 300);
    await frame.focus('#arcs');
    for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowDown');
    await frame.waitForFunction(() => Number((document.getElementById('arcs') as HTMLElement).dataset.arcs) > 0);
    const arcs = Number(await frame.$eval('#arcs', (a) => (a as HTMLElement).dataset.arcs));
    const textFile = await exportAs('Figure as SVG', 'svg');
    const textFigure = new DOMParser().parseFromString(fs.readFileSync(textFile, 'utf8'), 'image/svg+xml');
    expect(textFigure.getElementsByTagName('path').length).toBe(arcs);
    expect(textFigure.getElementsByTagName('text').length - 1).toBe(Number(await frame.$eval('#arcs', (a) => (a as HTMLElement).dataset.tokens)));
    fs.rmSync(textFile);
    // The mechanism view: every key of the chosen head and query.
    await frame.selectOption('#view-mode', 'mechanism');
    await frame.waitForSelector('#mechanism[data-state="ready"]', { timeout: 60_000 });
    const mechanismFile = await exportAs('Figure as SVG', 'svg');
    const mechanismFigure = new DOMParser().parseFromString(fs.readFileSync(mechanismFile, 'utf8'), 'image/svg+xml');
    const keyRows = Array.from(mechanismFigure.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'key');
    expect(keyRows.length).toBe(Number(await frame.$eval('#arcs', (a) => (a as HTMLElement).dataset.tokens)));
    fs.rmSync(mechanismFile);
    await frame.selectOption('#view-mode', 'head');
    // PNG: a valid image at twice the figure's size.
    const png = PNG.sync.read(fs.readFileSync(await exportAs('Figure as PNG', 'png')));
    const svgSize = doc.documentElement!.getAttribute('width');
    expect(Math.abs(png.width - 2 * Number(svgSize))).toBeLessThanOrEqual(2);
    expect(Math.abs(png.height - 2 * Number(doc.documentElement!.getAttribute('height')))).toBeLessThanOrEqual(2);
    const npz = unzipSync(fs.readFileSync(await exportAs('Data as NumPy', 'npz')));
    expect(Object.keys(npz).sort()).toEqual(['attentions.npy', 'input_ids.npy', 'offsets.npy', 'tokens.json', 'tokens.npy']);
    // The HTML report opens on its own and draws the run.
    const report = await exportAs(undefined, 'html', 'Attention Lens: Export HTML Report…');
    const reader = await page.context().newPage();
    await reader.goto(`file://${report}`);
    await reader.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
    expect(Number(await reader.$eval('#view', (v) => (v as HTMLElement).dataset.links))).toBeGreaterThan(0);
    await reader.close();
    // No partial files are left beside them.
    expect(fs.readdirSync(server.workspace).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('draws the attention of a graph with the fused ONNX Attention operator', async () => {
    const { page } = session;
    const before = await panelFrame(page);
    // Same tokenizer (vocabulary 3000); the graph attends causally with 4 heads over 2 layers.
    fs.writeFileSync(path.join(model, 'onnx/model.onnx'), attentionGraph({ form: 'attention23', layers: 2, hidden: 32, heads: 4, kvHeads: 2, causal: true, vocab: 3000, seed: 3 }));
    const frame = await showAttentionAndWait(page, before);
    expect(await frame.$eval('body', (b) => b.dataset.state)).toBe('ready');
    const links = Number(await frame.$eval('#view', (v) => v.dataset.links));
    expect(links).toBeGreaterThan(0);
    // Causal: no token attends to a later one, so each query's strongest key is itself or earlier.
    const tops = await frame.$$eval('li[data-query][data-top]', (els) => els.map((e) => [Number((e as HTMLElement).dataset.query), Number((e as HTMLElement).dataset.top)]));
    expect(tops.length).toBeGreaterThan(3);
    for (const [q, top] of tops) expect(top).toBeLessThanOrEqual(q);
    expect(tops.some(([q, top]) => top < q)).toBe(true);
  });
});

describe('Show Attention in an untrusted workspace', () => {
  // The workspace asks for another model; in Restricted Mode that setting must be ignored.
  const session = useSession(false, {}, { untrusted: true, workspaceSettings: { 'attentionLens.model': path.join(ROOT, 'test/fixtures/models/gpt2-plain') } });

  it('ignores models from workspace settings', async () => {
    const { page, server } = session;
    await page.goto(server.url);
    const decline = page.getByRole('button', { name: /No, I don.t trust the authors/ });
    await decline.waitFor({ timeout: 60_000 });
    await decline.click();
    await openSampleAndSelect(page);
    const frame = await runFromContextMenu(page);
    const status = await frame.$eval('#status', (s) => s.textContent ?? '');
    expect(status).not.toMatch(/gpt2-plain/);
    expect(status.startsWith(bundledModels(ROOT)[0].label)).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'untrusted.png') });
  });
});
