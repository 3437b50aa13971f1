/// <reference lib="dom" />
// The head explorer in a real VS Code (code-server + Chromium): empty before a run, a grid of every
// layer × head after Show Attention, and choices that reach the panel and the editor hover, both ways.
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ARTIFACTS, explorerFrame, panelFrame, useSession } from './codeServer';
import { editorHover, openSampleAndSelect, runCommand, selectFirstLine } from './workbench';

/** Pressed head buttons of the panel (0-based). */
const pressedHeads = (panel: Frame) => panel.$$eval('#heads button.head', (bs) => bs.flatMap((b, i) => (b.getAttribute('aria-pressed') === 'true' ? [i] : [])));

describe('Head explorer', () => {
  const session = useSession(false);

  it('shows every head after Show Attention, and a click there picks the head in the panel and the editor', async () => {
    const { page, server } = session;
    await page.goto(server.url);
    await openSampleAndSelect(page);

    await runCommand(page, 'Attention Lens: Show Head Explorer');
    const explorer = await explorerFrame(page);
    await explorer.waitForSelector('#empty:not([hidden])', { timeout: 20_000 });
    expect(await explorer.$eval('#empty', (e) => e.textContent)).toMatch(/Select text and run Show Attention/);

    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    const panel = await panelFrame(page);
    await panel.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
    await explorer.waitForSelector('#main:not([hidden]) #grid[data-cells]', { timeout: 60_000 });
    expect(Number(await explorer.$eval('#grid', (g) => g.dataset.cells))).toBe(4 * 8); // the bundled default: 4 layers × 8 heads
    expect(await explorer.$eval('#title', (t) => t.textContent)).toMatch(/Tiny causal LM .* \d+ tokens/);

    // Keyboard: down one layer, right three heads, Enter → layer 2, head 4 alone.
    await explorer.focus('#grid');
    for (const key of ['ArrowDown', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'Enter']) await page.keyboard.press(key);
    await panel.waitForFunction(() => (document.getElementById('layer-select') as HTMLSelectElement).value === '1', undefined, { timeout: 10_000 });
    await expect.poll(() => pressedHeads(panel), { timeout: 10_000 }).toEqual([3]);
    await explorer.waitForFunction(() => /Layer 2 · head 4/.test(document.getElementById('details')!.textContent ?? ''), undefined, { timeout: 10_000 });

    // Shift-click adds head 1 of the same layer.
    const grid = (await (await explorer.$('#grid'))!.boundingBox())!;
    const [size, first] = await explorer.$eval('#grid', (g) => [Number(g.dataset.cellSize), Number(g.dataset.firstColumn)]);
    await page.keyboard.down('Shift');
    await page.mouse.click(grid.x + first + size / 2, grid.y + 2 + size + size / 2);
    await page.keyboard.up('Shift');
    await expect.poll(() => pressedHeads(panel), { timeout: 10_000 }).toEqual([0, 3]);

    // Hover a cell: its statistics and labels.
    await page.mouse.move(grid.x + first + size * 3 + size / 2, grid.y + 2 + size + size / 2);
    await explorer.waitForSelector('#tooltip:not([hidden])', { timeout: 5000 });
    expect(await explorer.$eval('#tooltip', (t) => t.textContent)).toMatch(/Layer 2 · head 4[\s\S]*entropy[\s\S]*previous/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'head-explorer.png') });

    // The panel's own controls update the explorer: solo head 2 there.
    const heads = await panel.$$('#heads button.head');
    await heads[1].dblclick();
    await explorer.waitForFunction(() => /Layer 2 · head 2\b/.test(document.getElementById('details')!.textContent ?? ''), undefined, { timeout: 10_000 });

    // A plain click picks one head; the editor hover reports it.
    await page.mouse.click(grid.x + first + size * 4 + size / 2, grid.y + 2 + size + size / 2);
    await expect.poll(() => pressedHeads(panel), { timeout: 10_000 }).toEqual([4]);
    const hover = await editorHover(page);
    expect(hover).toMatch(/Layer 2 · head 5/);
    expect(server.extensionHostLogs()).not.toMatch(/unhandled/i);
  });
});
