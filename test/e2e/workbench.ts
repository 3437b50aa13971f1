/// <reference lib="dom" />
// Workbench gestures shared by the end-to-end suites and the benchmarks (so no vitest here): open
// story.md, select its first line, run a command from the palette, hover a token in the editor.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import type { RunTimings } from '../../src/core/timing';
import { panelFrame } from './codeServer';

export async function openSampleAndSelect(page: Page): Promise<void> {
  await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
  const file = page.getByRole('treeitem', { name: /story\.md/ });
  await file.waitFor({ timeout: 60_000 });
  await file.dblclick();
  await firstLine(page).waitFor({ timeout: 30_000 });
  await selectFirstLine(page);
}

/** Opens `file` from the explorer and selects all of it. */
export async function openAndSelectAll(page: Page, file: string): Promise<void> {
  const item = page.getByRole('treeitem', { name: new RegExp(file.replace('.', '\\.')) });
  await item.waitFor({ timeout: 60_000 });
  await item.dblclick();
  // The window may restore another file's editor first (a reload keeps the last one open): select
  // in this file's, once it is the active one.
  await page.locator('.tabs-container .tab.active', { hasText: file }).first().waitFor({ timeout: 30_000 });
  await page.locator('.editor-group-container.active .monaco-editor .view-line').first().waitFor({ timeout: 30_000 });
  await page.waitForTimeout(500);
  await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+A');
  await page.locator('.statusbar-item', { hasText: /selected/ }).first().waitFor({ timeout: 10_000 });
}

/** Line 1 of story.md (Monaco recycles line elements, so DOM order is not line order). */
export function firstLine(page: Page) {
  return page.locator('.monaco-editor .view-line', { hasText: 'The cat sat on the mat' });
}

/** Runs a command from the command palette by its title. */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  await page.keyboard.type(title);
  // Wait until the palette lists the command first, and until it has closed after Enter (under
  // load an Enter pressed while the list still filters is lost).
  const input = page.locator('.quick-input-widget');
  await input.locator('.monaco-list-row.focused', { hasText: title }).first().waitFor({ timeout: 10_000 }).catch(() => undefined);
  const stillPalette = async () => (await input.isVisible()) && (await input.locator('input').inputValue().catch(() => '')) === `>${title}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    await page.keyboard.press('Enter');
    for (let i = 0; i < 10 && (await stillPalette()); i++) await page.waitForTimeout(300);
    if (!(await stillPalette())) return; // closed, or another picker (e.g. Select Model…) took its place
  }
}

/** Closes the Attention Lens panel's tab where one is open (a test going on in the window another left). */
export async function closePanelTab(page: Page): Promise<void> {
  const tab = page.locator('.tab', { hasText: 'Attention ·' });
  if (await tab.count()) await tab.locator('.codicon-close').click();
}

/** Selects line 1 and waits until VS Code reports the selection (keys can race editor focus). */
export async function selectFirstLine(page: Page): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    await firstLine(page).click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('Shift+End');
    const selected = page.locator('.statusbar-item', { hasText: /\(\d+ selected\)/ }).first();
    if (await selected.waitFor({ timeout: 3000 }).then(() => true, () => false)) return;
  }
  throw new Error('could not select the first line of story.md');
}

export async function editorHover(page: Page): Promise<string> {
  // Put the cursor on "cat" (no selection), then hover it.
  const word = firstLine(page).locator('span', { hasText: /cat/ }).last();
  const box = (await word.boundingBox())!;
  const x = box.x + 6 * (box.width / (await word.innerText()).length);
  await page.mouse.click(x, box.y + box.height / 2);
  await page.mouse.move(x + 1, box.y + box.height / 2 + 1);
  const hover = page.locator('.monaco-hover').filter({ hasText: 'Attention Lens' }).first();
  await hover.waitFor({ timeout: 20_000 });
  return hover.innerText();
}


/**
 * Show Attention by its key binding, the way people run it; when the editor had lost text focus
 * (the binding needs it) and no panel appears, from the command palette instead. The panel frame.
 */
export async function showAttentionByKey(page: Page): Promise<Frame> {
  // A fresh window registers extensions' contributions, key bindings among them, a second or two
  // after it shows the workbench: a key pressed before is lost (in one of three fresh windows the
  // extension never activated, and the palette's fallback cost 25 s more; waiting for the
  // extension's activity bar entry, which comes with the bindings, four of four took the key).
  await page.locator('.activitybar [aria-label="Attention Lens"]').first().waitFor({ timeout: 60_000 }).catch(() => undefined);
  await page.keyboard.press('Control+Alt+A');
  const frame = await panelFrame(page, 20_000).catch(() => undefined);
  if (frame) return frame;
  await runCommand(page, 'Attention Lens: Show Attention');
  return panelFrame(page);
}

/**
 * Show Attention on line 1 (or what `select` selects); the panel once this run finished (ready or
 * error). With the panel already open, its states are watched so an earlier run's "ready"
 * (re-rendered when the editor's cursor moves) is not taken for this one: this run must pass
 * through "running" first.
 */
export async function showAttentionAndWait(page: Page, open?: Frame, select: (page: Page) => Promise<void> = selectFirstLine): Promise<Frame> {
  await open?.evaluate(() => {
    const w = window as unknown as { __states: string[] };
    w.__states = [];
    new MutationObserver(() => w.__states.push(document.body.dataset.state ?? '')).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });
  });
  await select(page);
  const frame = await showAttentionByKey(page);
  if (open) {
    await frame.waitForFunction(() => {
      const seen = (window as unknown as { __states: string[] }).__states;
      const i = seen.indexOf('running');
      return i >= 0 && seen.slice(i + 1).some((s) => s === 'ready' || s === 'error');
    }, undefined, { timeout: 120_000, polling: 100 });
  } else await frame.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 120_000 });
  return frame;
}

/** Editor highlights of attended tokens (their background is the decoration colour). */
export async function highlightCount(page: Page): Promise<number> {
  return page.evaluate(() => Array.from(document.querySelectorAll('.monaco-editor .view-overlays div, .monaco-editor .view-overlays span'))
    .filter((e) => /rgba\((255, 170, 40|230, 110, 0), 0\.\d+\)/.test(getComputedStyle(e).backgroundColor)).length);
}

/** Runs a palette command once the palette lists it, and returns when Enter was pressed (epoch ms), for timing. */
export async function paletteEnter(page: Page, title: string): Promise<number> {
  await page.keyboard.press('F1');
  await page.keyboard.type(title);
  await page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: title }).first().waitFor({ timeout: 10_000 });
  const t0 = Date.now();
  await page.keyboard.press('Enter');
  return t0;
}

/** Waits for the panel to publish timings of a run commanded after `after` (its picture is on screen); throws the panel's error. */
export async function nextTimings(page: Page, after: number, frame?: Frame, timeout = 300_000): Promise<{ frame: Frame; timings: RunTimings }> {
  const f = frame ?? (await panelFrame(page, 120_000));
  const handle = await f.waitForFunction((after) => {
    const t = document.body.dataset.timings;
    if (document.body.dataset.state === 'error') return { error: document.getElementById('error')?.textContent ?? 'error' };
    return t && JSON.parse(t).commandAt > after ? t : false;
  }, after, { timeout, polling: 100 });
  const v = await handle.jsonValue();
  if (typeof v !== 'string') throw new Error(`the panel failed: ${(v as { error: string }).error}`);
  return { frame: f, timings: JSON.parse(v) as RunTimings };
}

/** Runs Export… (or `command`), picks `label`, accepts the save dialog's default path in `workspace`; the file once it exists. */
export async function exportThroughDialog(page: Page, workspace: string, label: string | undefined, extension: string, command = 'Attention Lens: Export…'): Promise<string> {
  const before = new Set(fs.readdirSync(workspace));
  await startExport(page, label, extension, command);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const made = fs.readdirSync(workspace).filter((f) => !before.has(f) && f.endsWith(`.${extension}`));
    if (made.length === 1) return path.join(workspace, made[0]);
    await page.waitForTimeout(250);
  }
  throw new Error(`no .${extension} file appeared in the workspace`);
}

/** Runs Export… (or `command`), picks `label` and accepts the save dialog's default path. */
export async function startExport(page: Page, label: string | undefined, extension: string, command = 'Attention Lens: Export…'): Promise<void> {
  await runCommand(page, command);
  if (label) {
    const input = page.locator('.quick-input-widget');
    const choose = async () => {
      await input.locator('.monaco-list-row', { hasText: label }).first().waitFor({ timeout: 10_000 });
      await page.keyboard.type(label);
      // Under load an Enter pressed while the list still filters is lost: wait for the row to be chosen.
      await input.locator('.monaco-list-row.focused', { hasText: label }).first().waitFor({ timeout: 10_000 });
    };
    try {
      await choose();
    } catch {
      // The list closed under us (a webview taking focus as it redraws, under load): ask once more.
      await page.keyboard.press('Escape');
      await runCommand(page, command);
      await choose();
    }
    await page.keyboard.press('Enter');
  }
  // The save dialog offers the workspace and a name from the model, layer and heads.
  await page.waitForFunction((ext) => (document.querySelector('.quick-input-widget input') as HTMLInputElement | null)?.value.endsWith(ext), `.${extension}`, { timeout: 30_000 });
  await page.keyboard.press('Enter');
}

/**
 * Right-click the selection on line 1 and choose `name` from the editor's context menu (retried
 * when the menu opens without it, as when the selection was lost to the click).
 */
export async function chooseFromContextMenu(page: Page, name: RegExp): Promise<void> {
  const item = page.getByRole('menuitem', { name });
  for (let attempt = 0; ; attempt++) {
    await firstLine(page).getByText('cat', { exact: false }).first().click({ button: 'right' });
    if (await item.waitFor({ timeout: 7_000 }).then(() => true, () => false)) break;
    if (attempt === 1) throw new Error(`the editor context menu has no ${name} item (was the selection lost?)`);
    await page.keyboard.press('Escape');
    await selectFirstLine(page);
  }
  // VS Code's menus act on mouse-up after their own hover tracking; hover until the item is
  // focused, then accept with Enter.
  await item.hover();
  for (let i = 0; i < 50 && !(await item.evaluate((e) => !!e.closest('.focused'))); i++) await page.waitForTimeout(100);
  await page.keyboard.press('Enter');
}

/** Right-click the selection → Show Attention; the panel frame once it finished (ready or error). */
export async function openPanelFromContextMenu(page: Page): Promise<Frame> {
  await chooseFromContextMenu(page, /Show Attention/);
  const frame = await panelFrame(page);
  await frame.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 120_000 });
  return frame;
}

/** As `openPanelFromContextMenu`, and throws the panel's error if it shows one. */
export async function runFromContextMenu(page: Page): Promise<Frame> {
  const frame = await openPanelFromContextMenu(page);
  const error = await frame.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent ?? ''));
  if (error) throw new Error(`the panel shows an error: ${error}`);
  return frame;
}

/** Chooses `name` from the explorer's context menu on the file named `file` (the explorer must be in view). */
export async function chooseFromExplorerMenu(page: Page, file: RegExp, name: RegExp): Promise<void> {
  const treeItem = page.getByRole('treeitem', { name: file });
  await treeItem.waitFor({ timeout: 60_000 });
  const entry = page.getByRole('menuitem', { name });
  for (let attempt = 0; attempt < 3 && !(await entry.isVisible()); attempt++) {
    await treeItem.click({ button: 'right' });
    await entry.waitFor({ timeout: 5_000 }).catch(() => page.keyboard.press('Escape'));
  }
  // As in chooseFromContextMenu: hover until the item is focused, then Enter.
  await entry.hover();
  for (let i = 0; i < 50 && !(await entry.evaluate((e) => !!e.closest('.focused'))); i++) await page.waitForTimeout(100);
  await page.keyboard.press('Enter');
}

/** The panel's JS heap in bytes (Chromium with --enable-precise-memory-info); after a forced GC when `gc` (--js-flags=--expose-gc). */
export async function panelHeap(frame: Frame, gc = false): Promise<number> {
  if (gc) {
    await frame.evaluate(() => (globalThis as { gc?: () => void }).gc?.());
    await frame.waitForTimeout(500);
  }
  return frame.evaluate(() => (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0);
}

/** The panel's attention bytes once they stop changing (grid and compaction done), read once a second for at most `seconds`; `each` runs before every read. */
export async function settledAttentionBytes(frame: Frame, seconds: number, each?: () => Promise<void>): Promise<number> {
  let last = -1;
  for (let i = 0; i < seconds; i++) {
    await frame.waitForTimeout(1000);
    await each?.();
    const now = Number(await frame.$eval('body', (b) => b.dataset.attentionBytes ?? 0));
    if (now === last) break;
    last = now;
  }
  return last;
}
