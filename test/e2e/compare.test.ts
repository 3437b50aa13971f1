/// <reference lib="dom" />
// End to end in a real VS Code (code-server): Compare Models… from the editor context menu (the
// two bundled models: different tokenizers and head counts), both sides drawn, hover shared,
// the head correspondence, the editor hover; then Compare with Edited Text… and its difference view.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import type { Frame, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, ROOT, explorerFrame, panelFrame } from './codeServer';
import { useSession } from './session';
import { chooseFromContextMenu, editorHover, exportThroughDialog, firstLine, openSampleAndSelect, runCommand, selectFirstLine } from './workbench';

/**
 * Picks `label` in the quick pick whose title matches `title` (typing filters it), or accepts the
 * preselected item; returns once that pick has closed or given way to another.
 */
async function pick(page: Page, title: RegExp, label?: string): Promise<void> {
  const widget = page.locator('.quick-input-widget').filter({ has: page.locator('.quick-input-title', { hasText: title }) });
  await widget.waitFor({ timeout: 15_000 });
  if (label) {
    await page.keyboard.type(label);
    await widget.locator('.monaco-list-row.focused', { hasText: label }).first().waitFor({ timeout: 10_000 });
  } else await widget.locator('.monaco-list-row.focused').first().waitFor({ timeout: 10_000 });
  await page.keyboard.press('Enter');
  await widget.waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
}

/** The panel once a run (the comparison) is ready; throws with the panel's error. */
async function ready(page: Page): Promise<Frame> {
  const frame = await panelFrame(page, 120_000);
  await frame.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 240_000 });
  const error = await frame.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent ?? ''));
  expect(error).toBe('');
  return frame;
}

const visible = (frame: Frame, id: string) => frame.$eval(`#${id}`, (e) => !(e as HTMLElement).hidden);

describe('model comparison', () => {
  // A folder holding two exports of one model (with attention outputs, and without: graph surgery),
  // listed in the settings, for the comparison of two ONNX files of one folder.
  const variants = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-variants-')), 'gpt2-variants');
  fs.cpSync(path.join(ROOT, 'test/fixtures/models/gpt2-attn'), variants, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'test/fixtures/models/gpt2-plain/onnx/model.onnx'), path.join(variants, 'onnx/model_plain.onnx'));
  afterAll(() => fs.rmSync(path.dirname(variants), { recursive: true, force: true }));
  const session = useSession(false, { 'attentionLens.models': [variants] });

  it('compares the two bundled models side by side, with a shared hover, the head correspondence and the editor hover', async () => {
    const { page, server } = session;
    await page.goto(server.url);
    await openSampleAndSelect(page);
    await chooseFromContextMenu(page, /Compare Models…/);
    await pick(page, /model A$/); // the current model is preselected
    await pick(page, /model B \(/, 'Tiny masked');
    const frame = await ready(page);

    // Both models, side by side, and the alignment in use said plainly.
    expect(await visible(frame, 'compare-bar')).toBe(true);
    expect(await frame.$eval('#compare-models', (e) => e.textContent)).toMatch(/A \(left\): Tiny causal LM.*B \(right\): Tiny masked LM.*8 and 6 heads/);
    expect(await frame.$eval('#notice', (e) => e.textContent)).toMatch(/Compared by words: the tokenizers differ/);
    expect(await visible(frame, 'view')).toBe(true);
    expect(await visible(frame, 'view-b')).toBe(true);
    expect(Number(await frame.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
    expect(Number(await frame.$eval('#view-b', (v) => v.dataset.links))).toBeGreaterThan(0);
    // 8 heads against 6: no difference by head is offered.
    expect(await frame.$eval('#compare-show option[value="difference"]', (o) => (o as HTMLOptionElement).disabled)).toBe(true);

    // Hover a word in A: B shows the same word hovered.
    const vb = (await (await frame.$('#view'))!.boundingBox())!;
    await page.mouse.move(vb.x + 20, vb.y + 6 + 18 * 2 + 9);
    await expect.poll(() => frame.$eval('#view-b', (v) => v.dataset.hover), { timeout: 5000 }).toBe('query:2');
    await page.screenshot({ path: path.join(ARTIFACTS, 'compare-side.png') });
    // The README's picture of a comparison: `UPDATE_SCREENSHOT=1 npm run test:e2e` refreshes it.
    if (process.env.UPDATE_SCREENSHOT) fs.copyFileSync(path.join(ARTIFACTS, 'compare-side.png'), path.join(ROOT, 'docs/compare.png'));

    // The figure on screen: A and B side by side in one SVG, each with its own links, named after both models.
    const sideFile = await exportThroughDialog(page, server.workspace, 'Figure as SVG', 'svg');
    expect(path.basename(sideFile)).toMatch(/^Tiny-causal-LM-bundled-vs-Tiny-masked-LM-bundled-layer1-all-heads\.svg$/);
    const side = new DOMParser().parseFromString(fs.readFileSync(sideFile, 'utf8'), 'image/svg+xml').documentElement!;
    const inner = Array.from(side.getElementsByTagName('svg'));
    expect(inner).toHaveLength(2);
    expect(inner[0].getElementsByTagName('line').length).toBe(Number(await frame.$eval('#view', (v) => v.dataset.links)));
    expect(inner[1].getElementsByTagName('line').length).toBe(Number(await frame.$eval('#view-b', (v) => v.dataset.links)));
    fs.rmSync(sideFile);

    // The head correspondence: a best match for each of A's 8 heads; a pair picked shows side by side.
    await frame.selectOption('#compare-show', 'correspondence');
    expect(await visible(frame, 'correspondence')).toBe(true);
    expect(await visible(frame, 'view')).toBe(false);
    // Computed one head of A per task, then drawn.
    await frame.waitForSelector('#correspondence[data-best-matches]', { timeout: 30_000 });
    const best = (await frame.$eval('#correspondence', (e) => e.dataset.bestMatches ?? '')).split(',').map(Number);
    expect(best.length).toBe(8);
    expect(best.every((h) => h >= 0 && h < 6)).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'compare-correspondence.png') });
    const matrixFile = await exportThroughDialog(page, server.workspace, 'Figure as SVG', 'svg');
    const cells = new DOMParser().parseFromString(fs.readFileSync(matrixFile, 'utf8'), 'image/svg+xml').getElementsByTagName('rect');
    expect(Array.from(cells).filter((r) => r.getAttribute('data-distance')).length).toBe(8 * 6);
    fs.rmSync(matrixFile);
    await frame.click('#correspondence .matches li:nth-child(3)');
    expect(await frame.$eval('#compare-show', (s) => (s as HTMLSelectElement).value)).toBe('side');
    expect(await frame.$$eval('#heads button.head', (bs) => bs.map((b) => b.getAttribute('aria-pressed')))).toEqual(Array.from({ length: 8 }, (_, i) => String(i === 2)));

    // The head explorer shows the comparison: cells coloured by divergence from B; a click shows
    // that head of A beside its closest head of B.
    // The palette's key reaches the workbench from the editor, not from inside the panel's frame.
    await firstLine(page).click();
    await runCommand(page, 'Attention Lens: Show Head Explorer');
    const explorer = await explorerFrame(page);
    await explorer.waitForSelector('#main:not([hidden]) #grid[data-cells]', { timeout: 60_000 });
    await expect.poll(() => explorer.$eval('#color-by', (e) => (e as HTMLSelectElement).value), { timeout: 30_000 }).toBe('divergence');
    expect(await explorer.$eval('#title', (t) => t.textContent)).toMatch(/compared with Tiny masked LM/);
    const grid = (await (await explorer.$('#grid'))!.boundingBox())!;
    const [size, first] = await explorer.$eval('#grid', (g) => [Number(g.dataset.cellSize), Number(g.dataset.firstColumn)]);
    const cell = { x: grid.x + first + size * 4 + size / 2, y: grid.y + 2 + size / 2 }; // layer 1, head 5
    await page.mouse.move(cell.x, cell.y);
    await explorer.waitForSelector('#tooltip:not([hidden])', { timeout: 5000 });
    expect(await explorer.$eval('#tooltip', (t) => t.textContent)).toMatch(new RegExp(`vs Tiny masked LM \\(bundled\\) Layer 1 head ${best[4] + 1}: JS distance to the best match 0\\.\\d{3}`));
    await page.screenshot({ path: path.join(ARTIFACTS, 'compare-explorer.png') });
    await page.mouse.click(cell.x, cell.y);
    await expect.poll(() => frame.$$eval('#heads button.head', (bs) => bs.map((b) => b.getAttribute('aria-pressed') === 'true')), { timeout: 10_000 }).toEqual(Array.from({ length: 8 }, (_, i) => i === 4));
    await expect.poll(() => frame.$eval('#view-b', (v) => v.dataset.heads), { timeout: 10_000 }).toBe(String(best[4]));

    // The editor hover shows both models' strongest links with the difference.
    const hover = await editorHover(page);
    expect(hover).toMatch(/comparison/);
    expect(hover).toMatch(/A − B/);
    expect(hover).toMatch(/B attends most to/);
  });

  it('compares the selection with an edited copy through one model, and shows the difference', async () => {
    const { page } = session;
    await selectFirstLine(page);
    await runCommand(page, 'Attention Lens: Compare with Edited Text…');
    const box = page.locator('.quick-input-widget', { hasText: /Compare with Edited Text/ });
    await box.waitFor({ timeout: 15_000 });
    expect(await box.locator('input').inputValue()).toMatch(/^The cat sat on the mat/);
    // An edit at the start: the causal model's later tokens see a different past (an edit at the end would change nothing before it).
    await page.keyboard.press('Home');
    await page.keyboard.type('Yesterday ');
    await page.keyboard.press('Enter');
    const frame = await ready(page);
    await expect.poll(() => frame.$eval('#notice', (e) => e.textContent), { timeout: 60_000 }).toMatch(/Compared by tokens of two texts: 1 edit/);
    expect(await frame.$eval('#notice', (e) => e.textContent)).not.toMatch(/identical/);
    await frame.selectOption('#compare-show', 'difference');
    expect(await visible(frame, 'view-b')).toBe(false);
    expect(Number(await frame.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'compare-difference.png') });
    // The difference exports as drawn: links in the two hues of the sign, and the data as the CLI's compare document.
    const diffFile = await exportThroughDialog(page, session.server.workspace, 'Figure as SVG', 'svg');
    const diff = new DOMParser().parseFromString(fs.readFileSync(diffFile, 'utf8'), 'image/svg+xml');
    expect(diff.getElementsByTagName('line').length).toBe(Number(await frame.$eval('#view', (v) => v.dataset.links)));
    expect(new Set(Array.from(diff.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'head').map((g) => g.getAttribute('stroke'))).size).toBe(2);
    fs.rmSync(diffFile);
    const jsonFile = await exportThroughDialog(page, session.server.workspace, 'Data as JSON', 'json');
    const doc = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as { alignment: { kind: string; edited: boolean }; layers: Array<{ diff?: number[][][] }> };
    expect(doc.alignment).toMatchObject({ kind: 'tokens', edited: true });
    expect(doc.layers.every((l) => l.diff !== undefined)).toBe(true);
    fs.rmSync(jsonFile);
    // The matrix shows the difference too, and B's matrix returns beside A's side by side.
    await frame.selectOption('#view-mode', 'matrix');
    expect(await visible(frame, 'matrix')).toBe(true);
    await frame.selectOption('#compare-show', 'side');
    expect(await visible(frame, 'matrix-b')).toBe(true);
    // The panel's Compare… button compares the text on screen (focus is in the panel, not in an editor).
    await frame.click('#compare');
    await page.locator('.quick-input-widget', { hasText: /model A/ }).waitFor({ timeout: 15_000 });
    await page.keyboard.press('Escape');
  });

  it('compares two ONNX files of one folder: each side asks which file, and the two are compared token for token', async () => {
    const { page } = session;
    await selectFirstLine(page);
    await chooseFromContextMenu(page, /Compare Models…/);
    await pick(page, /model A$/, 'gpt2-variants');
    await pick(page, /model A: which ONNX file of gpt2-variants/); // the folder's own, preselected
    await pick(page, /model B \(/, 'gpt2-variants');
    await pick(page, /model B: which ONNX file of gpt2-variants/, 'model_plain');
    const frame = await ready(page);
    expect(await frame.$eval('#compare-models', (e) => e.textContent)).toMatch(/A \(left\): gpt2-variants \(model\.onnx\).*B \(right\): gpt2-variants \(model_plain\.onnx\)/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'compare-variants.png') });
    // One tokenizer, the same heads: compared token for token, and by head.
    expect(await frame.$eval('#notice', (e) => e.textContent)).not.toMatch(/tokenizers differ/);
    expect(await frame.$eval('#compare-show option[value="difference"]', (o) => (o as HTMLOptionElement).disabled)).toBe(false);
  });
});
