/// <reference lib="dom" />
// The head explorer in a real VS Code (code-server + Chromium): empty before a run, a grid of every
// layer × head after Show Attention sized to the sidebar, a legend, choices that reach the panel and
// the editor hover, both ways; and full size in the editor area, for BERT-base's 12 × 12 heads.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DOMParser } from '@xmldom/xmldom';
import { unzipSync } from 'fflate';
import type { Frame, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { LABEL_RULES } from '../../src/core/analysis/headLabels';
import { bundledModels } from '../../src/models/modelRegistry';
import { maxAbsDifference, readNpy } from '../npy';
import { ARTIFACTS, ROOT, explorerFrame } from './codeServer';
import { openWorkbench, useSession } from './session';
import { editorHover, exportThroughDialog, openAndSelectAll, openSampleAndSelect, runCommand, selectFirstLine, showAttentionAndWait, showAttentionByKey } from './workbench';

/** Texts of decorations drawn after tokens in the editor (Monaco renders them as ::after content). */
const inlineWeightLabels = (page: Page) => page.evaluate(() => Array.from(document.querySelectorAll('.monaco-editor .view-line span'))
  .map((e) => getComputedStyle(e, '::after').content)
  .filter((c) => /^"\d\.\d\d"$/.test(c))
  .map((c) => c.slice(1, -1)));

/** Pressed head buttons of the panel (0-based). */
const pressedHeads = (panel: Frame) => panel.$$eval('#heads button.head', (bs) => bs.flatMap((b, i) => (b.getAttribute('aria-pressed') === 'true' ? [i] : [])));

describe('Head explorer', () => {
  const session = useSession(false);

  it('shows every head after Show Attention, and a click there picks the head in the panel and the editor', async () => {
    const { page, server } = session;
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.goto(server.url);
    await openSampleAndSelect(page);

    await runCommand(page, 'Attention Lens: Show Head Explorer');
    const explorer = await explorerFrame(page);
    await explorer.waitForSelector('#empty:not([hidden])', { timeout: 20_000 });
    expect(await explorer.$eval('#empty', (e) => e.textContent)).toMatch(/Select text and run Show Attention/);

    await selectFirstLine(page);
    const panel = await showAttentionByKey(page);
    await panel.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
    await explorer.waitForSelector('#main:not([hidden]) #grid[data-cells]', { timeout: 60_000 });
    expect(Number(await explorer.$eval('#grid', (g) => g.dataset.cells))).toBe(4 * 8); // the bundled default: 4 layers × 8 heads
    expect(await explorer.$eval('#title', (t) => t.textContent)).toMatch(/Tiny causal LM .* \d+ tokens/);
    // At 1400 × 900 with the sidebar at its default width, the thumbnails fill it: 8 heads of at least 34 pixels.
    expect(Number(await explorer.$eval('#grid', (g) => g.dataset.cell))).toBeGreaterThanOrEqual(34);
    // The legend: every badge with its rule and meaning, and how many heads carry it.
    expect(await explorer.$eval('#legend', (d) => (d as HTMLDetailsElement).open)).toBe(true);
    const badges = await explorer.$$eval('#legend .legend-badges tr', (rows) => rows.map((r) => r.textContent ?? ''));
    expect(badges).toHaveLength(LABEL_RULES.length);
    expect(badges[0]).toMatch(/^Pprevious-token \(previous ≥ 0\.5\): at least half .*\d+ heads?$/);

    // Keyboard: down one layer, right three heads, Enter → layer 2, head 4 alone.
    await explorer.focus('#grid');
    for (const key of ['ArrowDown', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'Enter']) await page.keyboard.press(key);
    await panel.waitForFunction(() => (document.getElementById('layer-select') as HTMLSelectElement).value === '1', undefined, { timeout: 10_000 });
    await expect.poll(() => pressedHeads(panel), { timeout: 10_000 }).toEqual([3]);
    await explorer.waitForFunction(() => /Layer 2 · head 4/.test(document.getElementById('details')!.textContent ?? ''), undefined, { timeout: 10_000 });

    // Shift-click adds head 1 of the same layer.
    const grid = (await (await explorer.$('#grid'))!.boundingBox())!;
    const [size, first, row2] = await explorer.$eval('#grid', (g) => [Number(g.dataset.cellSize), Number(g.dataset.firstColumn), Number(g.dataset.rowTops!.split(',')[1])]);
    await page.keyboard.down('Shift');
    await page.mouse.click(grid.x + first + size / 2, grid.y + row2 + size / 2);
    await page.keyboard.up('Shift');
    await expect.poll(() => pressedHeads(panel), { timeout: 10_000 }).toEqual([0, 3]);

    // Hover a cell: its statistics and labels.
    await page.mouse.move(grid.x + first + size * 3 + size / 2, grid.y + row2 + size / 2);
    await explorer.waitForSelector('#tooltip:not([hidden])', { timeout: 5000 });
    expect(await explorer.$eval('#tooltip', (t) => t.textContent)).toMatch(/Layer 2 · head 4[\s\S]*entropy[\s\S]*previous/);
    // The induction score, measured by the panel on its probe after the first picture (a number, not "–").
    expect(await explorer.$eval('#tooltip', (t) => t.textContent)).toMatch(/induction\d\.\d{3}/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'head-explorer.png') });

    // The panel's own controls update the explorer: solo head 2 there.
    const heads = await panel.$$('#heads button.head');
    await heads[1].dblclick();
    await explorer.waitForFunction(() => /Layer 2 · head 2\b/.test(document.getElementById('details')!.textContent ?? ''), undefined, { timeout: 10_000 });

    // A plain click picks one head; the editor hover reports it.
    await page.mouse.click(grid.x + first + size * 4 + size / 2, grid.y + row2 + size / 2);
    await expect.poll(() => pressedHeads(panel), { timeout: 10_000 }).toEqual([4]);
    const hover = await editorHover(page);
    expect(hover).toMatch(/Layer 2 · head 5/);

    // Inline weights: a label after each attended token while the cursor sits on "cat".
    expect(await inlineWeightLabels(page)).toEqual([]);
    await runCommand(page, 'Attention Lens: Toggle Inline Attention Weights');
    await expect.poll(() => inlineWeightLabels(page), { timeout: 10_000 }).not.toEqual([]);
    for (const label of await inlineWeightLabels(page)) expect(label).toMatch(/^0\.\d\d$|^1\.00$/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'inline-weights.png') });

    // The grid exports as shown: one group per cell, each with its thumbnail as a PNG, the selected head outlined.
    const gridFile = await exportThroughDialog(page, server.workspace, 'Figure as SVG', 'svg', 'Attention Lens: Export Head Explorer Figure…');
    const figure = new DOMParser().parseFromString(fs.readFileSync(gridFile, 'utf8'), 'image/svg+xml');
    const cells = Array.from(figure.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'cell');
    expect(cells).toHaveLength(4 * 8);
    expect(cells.every((c) => /^data:image\/png;base64,/.test(c.getElementsByTagName('image')[0]?.getAttribute('href') ?? ''))).toBe(true);
    expect(Array.from(figure.getElementsByTagName('rect')).filter((r) => r.getAttribute('class') === 'selected')).toHaveLength(1);
    const pngFile = await exportThroughDialog(page, server.workspace, 'Figure as PNG', 'png', 'Attention Lens: Export Head Explorer Figure…');
    const png = PNG.sync.read(fs.readFileSync(pngFile));
    expect(png.width).toBe(2 * Number(figure.documentElement!.getAttribute('width')));

    // The sidebar's Open in Editor: the same grid full size in the editor area, with the panel beside it.
    await explorer.click('#open-editor');
    const large = await explorerFrame(page, 30_000, 'editor');
    await large.waitForSelector('#main:not([hidden]) #grid[data-cells]', { timeout: 30_000 });
    expect(Number(await large.$eval('#grid', (g) => g.dataset.cells))).toBe(4 * 8);
    expect(Number(await large.$eval('#grid', (g) => g.dataset.cell))).toBeGreaterThan(Number(await explorer.$eval('#grid', (g) => g.dataset.cell)));
    expect(await large.$('#open-editor')).toBeNull();
    await large.waitForFunction(() => /Layer 2 · head 5/.test(document.getElementById('details')!.textContent ?? ''), undefined, { timeout: 10_000 });
    // Without the sidebar the tab is wider: every head fits without scrolling.
    await runCommand(page, 'View: Toggle Primary Side Bar Visibility');
    await large.waitForFunction(() => {
      const g = document.getElementById('grid')!;
      return g.scrollWidth <= g.clientWidth;
    }, undefined, { timeout: 10_000 });
    await runCommand(page, 'Notifications: Clear All Notifications');
    await page.screenshot({ path: path.join(ARTIFACTS, 'head-explorer-editor.png') });
    // The README's picture of the explorer: `UPDATE_SCREENSHOT=1 npm run test:e2e` refreshes it.
    if (process.env.UPDATE_SCREENSHOT) fs.copyFileSync(path.join(ARTIFACTS, 'head-explorer-editor.png'), path.join(ROOT, 'docs/head-explorer.png'));
    expect(server.extensionHostLogs()).not.toMatch(/unhandled/i);
  });
});

// BERT-base's 12 layers × 12 heads at 512 tokens (a narrow stand-in: the grid depends on heads and tokens only).
const { ensureRealSizeModel } = (await import(/* @vite-ignore */ pathToFileURL(path.join(ROOT, 'tools/real-size/generate.mjs')).href)) as { ensureRealSizeModel(shape: string, opts?: { cacheDir?: string }): Promise<string> };
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-explorer-e2e-'));
const bertBase = await ensureRealSizeModel('bert-base-narrow', { cacheDir: cache });
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

describe('Head explorer in the editor area', () => {
  const session = useSession(false, { 'attentionLens.model': bertBase });

  it('draws 12 × 12 heads at 512 tokens with cells of at least 64 pixels, redraws on resize, and answers keys, clicks and export', async () => {
    const { page, server } = session;
    await page.setViewportSize({ width: 1400, height: 900 });
    fs.writeFileSync(path.join(server.workspace, 'long.txt'), fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8').slice(0, 3000));
    await page.goto(server.url);
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
    const panel = await showAttentionAndWait(page, undefined, (p) => openAndSelectAll(p, 'long.txt'));
    expect(await panel.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent))).toBe('');
    expect(await panel.$$eval('#link-list li', (l) => l.length)).toBe(512);

    await runCommand(page, 'Attention Lens: Open Head Explorer in Editor');
    const explorer = await explorerFrame(page, 60_000, 'editor');
    await explorer.waitForSelector('#main:not([hidden]) #grid[data-cells]', { timeout: 120_000 });
    expect(Number(await explorer.$eval('#grid', (g) => g.dataset.cells))).toBe(144);
    expect(await explorer.$eval('#title', (t) => t.textContent)).toMatch(/512 tokens/);
    // The editor's webview may still be taking its size when the grid first draws (the cells then
    // at their 64-pixel minimum): the size the grid settles at, the same over half a second.
    let cell = -1;
    for (let last = -2, tries = 0; cell !== last && tries < 40; tries++) {
      last = cell;
      await new Promise((r) => setTimeout(r, 500));
      cell = Number(await explorer.$eval('#grid', (g) => g.dataset.cell));
    }
    expect(cell).toBeGreaterThanOrEqual(64);
    expect(await explorer.$eval('#grid', (g) => g.dataset.cornerBadges)).toBe('0'); // letters fit every cell at this size

    // A larger window: larger cells.
    await page.setViewportSize({ width: 2400, height: 1400 });
    await expect.poll(async () => Number(await explorer.$eval('#grid', (g) => g.dataset.cell)), { timeout: 10_000 }).toBeGreaterThan(cell);
    await page.setViewportSize({ width: 1400, height: 900 });
    await expect.poll(async () => Number(await explorer.$eval('#grid', (g) => g.dataset.cell)), { timeout: 10_000 }).toBe(cell);

    // Keyboard: down two layers, right five heads, Enter → layer 3, head 6 in the panel.
    await explorer.focus('#grid');
    for (const key of ['ArrowDown', 'ArrowDown', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'Enter']) await page.keyboard.press(key);
    await panel.waitForFunction(() => (document.getElementById('layer-select') as HTMLSelectElement).value === '2', undefined, { timeout: 10_000 });
    await expect.poll(() => pressedHeads(panel), { timeout: 10_000 }).toEqual([5]);

    // A click on layer 1, head 12; its tooltip names the head.
    // Head 12 lies past the group's width (12 cells of 64 pixels and more): the keyboard scrolls it into view.
    await explorer.focus('#grid');
    for (const key of ['ArrowUp', 'ArrowUp', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight']) await page.keyboard.press(key);
    await explorer.waitForFunction(() => {
      const g = document.getElementById('grid')!;
      return g.scrollLeft > 0 && g.scrollLeft + g.clientWidth >= Number(g.dataset.firstColumn) + 12 * Number(g.dataset.cellSize) - 2; // the last column in view
    }, undefined, { timeout: 5000 });
    const [pitch, first, top, scrolled] = await explorer.$eval('#grid', (g) => [Number(g.dataset.cellSize), Number(g.dataset.firstColumn), Number(g.dataset.rowTops!.split(',')[0]), g.scrollLeft]);
    const box = (await (await explorer.$('#grid'))!.boundingBox())!;
    const at = { x: box.x + first + 11 * pitch + pitch / 2 - scrolled, y: box.y + top + pitch / 2 };
    expect(at.x).toBeLessThan(box.x + box.width);
    await page.mouse.move(at.x, at.y);
    await explorer.waitForSelector('#tooltip:not([hidden])', { timeout: 5000 });
    expect(await explorer.$eval('#tooltip', (t) => t.textContent)).toMatch(/^Layer 1 · head 12/);
    await page.mouse.click(at.x, at.y);
    await panel.waitForFunction(() => (document.getElementById('layer-select') as HTMLSelectElement).value === '0', undefined, { timeout: 10_000 });
    await expect.poll(() => pressedHeads(panel), { timeout: 10_000 }).toEqual([11]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'head-explorer-12x12.png') });

    // Export from the editor tab: its grid, at its cell size.
    const svg = new DOMParser().parseFromString(fs.readFileSync(await exportThroughDialog(page, server.workspace, 'Figure as SVG', 'svg', 'Attention Lens: Export Head Explorer Figure…'), 'utf8'), 'image/svg+xml');
    const cells = Array.from(svg.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'cell');
    expect(cells).toHaveLength(144);
    expect(Number(cells[0].getElementsByTagName('rect')[0].getAttribute('width'))).toBe(cell);
    expect(server.extensionHostLogs()).not.toMatch(/unhandled/i);
  });
});

// One window for the two: the analysis views, then a long selection in the panel they leave.
describe('The panel on the bundled default', () => {
  const session = useSession(false);

  describe('Analysis views in the panel', () => {
    it('the matrix and text views draw and answer a hover; rollout and word level change what is drawn', async () => {
      const { page } = session;
      await openWorkbench(session);
      await openSampleAndSelect(page);
      const panel = await showAttentionByKey(page);
      await panel.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
      const tokens = await panel.$$eval('#link-list li', (l) => l.length);

      // Matrix: every cell, exact values on hover, drag to zoom, double-click back.
      await panel.selectOption('#view-mode', 'matrix');
      await panel.waitForSelector('#matrix:not([hidden])[data-cells]');
      expect(Number(await panel.$eval('#matrix', (m) => m.dataset.cells))).toBe(tokens * tokens);
      const box = (await (await panel.$('#matrix'))!.boundingBox())!;
      const at = async (q: number, k: number) => {
        const [left, top, cell] = (await panel.$eval('#matrix', (m) => m.dataset.origin!)).split(',').map(Number);
        return { x: box.x + left + (k + 0.5) * cell, y: box.y + top + (q + 0.5) * cell };
      };
      const p = await at(5, 2);
      await page.mouse.move(p.x, p.y);
      await panel.waitForSelector('#tooltip:not([hidden])', { timeout: 5000 });
      expect(await panel.$eval('#tooltip', (t) => t.textContent)).toMatch(/\(#5\) attends to[\s\S]*→ .* \(#2\): 0\.\d{4}/);
      const from = await at(1, 1);
      const to = await at(4, 4);
      await page.mouse.move(from.x, from.y);
      await page.mouse.down();
      await page.mouse.move(to.x, to.y, { steps: 4 });
      await page.mouse.up();
      await panel.waitForSelector('#matrix[data-zoomed="true"]');
      expect(Number(await panel.$eval('#matrix', (m) => m.dataset.cells))).toBe(16);
      await page.screenshot({ path: path.join(ARTIFACTS, 'matrix-zoomed.png') });
      await page.mouse.dblclick(to.x, to.y);
      await panel.waitForSelector('#matrix[data-zoomed="false"]');

      // Word level: fewer rows and columns; rollout: one aggregate per layer, and different links.
      await panel.check('#words');
      await expect.poll(async () => Number(await panel.$eval('#matrix', (m) => m.dataset.cells))).toBeLessThan(tokens * tokens);
      await panel.uncheck('#words');
      const before = await panel.$$eval('#link-list li', (l) => l.map((x) => x.textContent));
      await panel.selectOption('#aggregate', 'rollout');
      await expect.poll(() => panel.$eval('#layer-select option', (o) => o.textContent)).toMatch(/^Rollout through Layer 1/);
      await panel.selectOption('#layer-select', '3');
      expect(await panel.$$eval('#link-list li', (l) => l.map((x) => x.textContent))).not.toEqual(before);
      expect(await panel.$eval('#heads', (h) => (h as HTMLElement).hidden)).toBe(true);
      expect(await panel.locator('#heads').isVisible()).toBe(false); // hidden on screen too, not only in the DOM

      // Text view: running text, arcs from the hovered token.
      await panel.selectOption('#aggregate', '');
      await panel.selectOption('#view-mode', 'text');
      await panel.waitForSelector('#arcs:not([hidden])[data-tokens]');
      const span = (await panel.$$('#arcs span.tok'))[6];
      await span.hover();
      await expect.poll(async () => Number(await panel.$eval('#arcs', (a) => a.dataset.arcs ?? '0'))).toBeGreaterThan(0);
      expect(await panel.$eval('#tooltip', (t) => t.textContent)).toMatch(/attends to/);
      await page.screenshot({ path: path.join(ARTIFACTS, 'text-view.png') });
    });
  });

  describe('Long inputs in the panel', () => {
    it('keeps the layers off screen in 16 bits, and the layer on screen and the exports in full precision', async () => {
      const { page, server } = session;
      // The bundled default (4 layers × 8 heads) at its full 512 positions (the selection is cut there): 34 MB of attention, above the panel's 16 MB threshold.
      const text = fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8').slice(0, 2000).trimEnd();
      fs.writeFileSync(path.join(server.workspace, 'long.txt'), text);
      await openWorkbench(session);
      // The editors and the panel the test before left (when it ran) go: the run opens a panel of its own.
      const tabs = page.locator('.tab');
      for (let attempt = 0; attempt < 3 && (await tabs.count()) > 0; attempt++) {
        await runCommand(page, 'View: Close All Editors');
        for (let i = 0; i < 25 && (await tabs.count()) > 0; i++) await page.waitForTimeout(200);
      }
      expect(await tabs.count()).toBe(0);
      await openAndSelectAll(page, 'long.txt');
      const panel = await showAttentionByKey(page);
      await panel.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
      const tokens = await panel.$$eval('#link-list li', (l) => l.length);
      const naive = 4 * 8 * tokens * tokens * 4;
      expect(naive).toBeGreaterThan(16 << 20);
      // The first layer draws first; the others follow (the native engine sends them one by one).
      await expect.poll(() => panel.$$eval('#layer-select option', (o) => o.length), { timeout: 60_000 }).toBe(4);
      // Once drawn, the layers are compacted: layer 1 in full and every layer in 16 bits, the grid besides.
      await panel.waitForFunction((limit) => Number(document.body.dataset.attentionBytes) < limit, 0.8 * naive, { timeout: 60_000 });
      expect(await panel.$eval('body', (b) => b.dataset.layerPrecision)).toBe('full');

      // Layer 4 by keyboard: drawn at once, then in full precision.
      await panel.focus('#view');
      for (let i = 0; i < 3; i++) await page.keyboard.press('PageDown');
      await expect.poll(() => panel.$eval('#layer-select', (s) => (s as HTMLSelectElement).value)).toBe('3');
      await panel.waitForSelector('body[data-layer-precision="full"]', { timeout: 30_000 });
      expect(await panel.$$eval('#link-list li', (l) => l.length)).toBe(tokens);
      const held = Number(await panel.$eval('body', (b) => b.dataset.attentionBytes));
      expect(held).toBeLessThan(0.8 * naive);
      // Word level: the merged records are compacted too (they used to add a full copy of every layer):
      // 16 bits each, and the one on screen in full besides.
      await panel.check('#words');
      await expect.poll(async () => Number(await panel.$eval('#link-list', (l) => l.children.length)), { timeout: 30_000 }).toBeLessThan(tokens);
      const words = await panel.$eval('#link-list', (l) => l.children.length);
      const wordsNaive = 4 * 8 * words * words * 4;
      await panel.waitForFunction((limit) => Number(document.body.dataset.attentionBytes) < limit, held + 0.8 * wordsNaive, { timeout: 60_000 });
      await panel.uncheck('#words');

      // The NumPy export holds every layer as the model returned it: the CLI's, not a 16-bit copy's.
      const exported = unzipSync(fs.readFileSync(await exportThroughDialog(page, server.workspace, 'Data as NumPy', 'npz')))['attentions.npy'];
      const cliFile = path.join(server.workspace, 'cli.npz');
      await new Promise<void>((resolve, reject) => execFile(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), 'inspect', '--model', bundledModels(ROOT)[0].folder, '--text-file', path.join(server.workspace, 'long.txt'), '--export', cliFile],
        (e, _out, err) => (e ? reject(new Error(`CLI failed: ${err}`)) : resolve())));
      const panelNpy = readNpy(exported), cliNpy = readNpy(unzipSync(fs.readFileSync(cliFile))['attentions.npy']);
      expect(panelNpy.shape).toEqual([4, 8, tokens, tokens]);
      expect(maxAbsDifference(panelNpy, cliNpy)).toBeLessThan(1e-6); // a 16-bit copy is off by up to 2⁻¹¹ of a weight
    });
  });
});
