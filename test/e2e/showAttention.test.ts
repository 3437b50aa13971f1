/// <reference lib="dom" />
// End to end in a real VS Code (code-server) driven through Chromium: select text, run Show
// Attention from the editor context menu, check the panel and the editor hover, on WebGPU
// (SwiftShader) and on the WASM fallback, and check both give the same top links; an empty
// selection, a panel closed mid-run, and Select Model…. User models: userModels.test.ts; broken
// model files: faults.test.ts.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundledModels } from '../../src/models/modelRegistry';
import { ARTIFACTS, ROOT } from './codeServer';
import { openWorkbench, useSession } from './session';
import { type Npy, maxAbsDifference, readNpy } from '../npy';
import { closePanelTab, editorHover, exportThroughDialog, firstLine, highlightCount, openSampleAndSelect, runCommand, runFromContextMenu, selectFirstLine, showAttentionByKey } from './workbench';

const SELECTED = 'The cat sat on the mat because it was tired.';
const results: Record<string, string[]> = {};
/** The attention of the same run on each backend, from the panel's NumPy export. */
const attentions: Record<string, Npy> = {};

/** Bundled models, the default first. */
const bundled = () => bundledModels(ROOT);

/**
 * What the panel should show: the CLI's tokens and, per query, the key with the highest mean weight
 * over heads in layer 1. Asynchronous, so the test worker stays responsive while the CLI runs.
 */
async function expectedTopLinks(): Promise<{ tokens: string[]; top: number[] }> {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), 'inspect', '--model', bundled()[0].folder, '--text', SELECTED, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 }, (e, out, err) => (e ? reject(new Error(`CLI failed: ${err}`)) : resolve(out))));
  const out = JSON.parse(stdout) as { tokens: Array<{ text: string }>; attention: Array<{ weights: number[][][] }> };
  const w = out.attention[0].weights;
  const top = w[0].map((_, q) => {
    const mean = w[0][q].map((_, k) => w.reduce((s, h) => s + h[q][k], 0) / w.length);
    return mean.indexOf(Math.max(...mean));
  });
  return { tokens: out.tokens.map((t) => t.text), top };
}

describe.each([
  ['webgpu', true],
  ['wasm', false],
] as const)('Show Attention on %s', (backend, webgpu) => {
  // Chromium's only adapter here is SwiftShader, which `auto` passes over for WASM: WebGPU is forced.
  const session = useSession(webgpu, { 'attentionLens.backend': webgpu ? 'webgpu' : 'wasm' });

  it('draws the links in the panel and shows weights in the editor hover', async () => {
    const { page, server } = session;
    await page.goto(server.url);
    await openSampleAndSelect(page);
    const frame = await runFromContextMenu(page);

    expect(await frame.$eval('body', (b) => b.dataset.backend)).toBe(backend);
    // A single run has no comparison bar on screen (it used to show, empty, above the picture).
    expect(await frame.locator('#compare-bar').isVisible()).toBe(false);
    const links = Number(await frame.$eval('#view', (v) => v.dataset.links));
    expect(links).toBeGreaterThan(0);
    const expected = await expectedTopLinks();
    const rows = await frame.$$eval('#link-list li', (lis) => lis.map((li) => ({ top: Number(li.dataset.top), text: li.textContent ?? '' })));
    expect(rows.map((r) => r.top)).toEqual(expected.top);
    results[backend] = rows.map((r) => r.text.split(' → ')[0]);
    expect(rows.length).toBe(expected.tokens.length);

    // Hover a query token in the panel: the tooltip gives exact weights.
    const view = await frame.$('#view');
    const vb = (await view!.boundingBox())!;
    await page.mouse.move(vb.x + 20, vb.y + 6 + 18 * 2 + 9);
    await frame.waitForSelector('#tooltip:not([hidden])', { timeout: 5000 });
    expect(await frame.$eval('#tooltip', (t) => t.textContent)).toMatch(/attends to[\s\S]*\d\.\d{4}/);
    await page.screenshot({ path: path.join(ARTIFACTS, `panel-${backend}.png`) });

    // Head toggles: double-click solos a head, click shows or hides one; the layer selector switches layers.
    const heads = await frame.$$('#heads button.head');
    expect(heads.length).toBeGreaterThan(1);
    await heads[1].dblclick();
    expect(await frame.$$eval('#heads button.head', (bs) => bs.map((b) => b.getAttribute('aria-pressed')))).toEqual(heads.map((_, i) => String(i === 1)));
    const solo = Number(await frame.$eval('#view', (v) => v.dataset.links));
    expect(solo).toBeLessThan(links);
    await heads[0].click();
    expect(Number(await frame.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(solo);
    const layers = await frame.$$eval('#layer-select option', (os) => os.length);
    expect(layers).toBeGreaterThan(1);
    await frame.selectOption('#layer-select', String(layers - 1));
    expect(await frame.$eval('#heads', (h) => h.querySelectorAll('button[aria-pressed="true"]').length)).toBe(2);
    await frame.selectOption('#layer-select', '0');
    for (const b of await frame.$$('#heads button.head[aria-pressed="false"]')) await b.click();

    const hoverText = await editorHover(page);
    expect(hoverText).toMatch(/Layer 1/);
    expect(hoverText).toMatch(/0\.\d{3}/);
    await page.screenshot({ path: path.join(ARTIFACTS, `editor-hover-${backend}.png`) });
    // The README's picture is this one: `UPDATE_SCREENSHOT=1 npm run test:e2e` refreshes it.
    if (process.env.UPDATE_SCREENSHOT && backend === 'wasm') fs.copyFileSync(path.join(ARTIFACTS, `editor-hover-${backend}.png`), path.join(ROOT, 'docs/screenshot.png'));

    if (backend === 'wasm') {
      // The cursor sits on a token: the tokens it attends to are highlighted. Editing clears them.
      expect(await highlightCount(page)).toBeGreaterThan(0);
      await page.keyboard.press('Escape');
      await page.keyboard.press('End');
      await page.keyboard.type(' ');
      await page.mouse.move(10, 10);
      await expect.poll(() => highlightCount(page), { timeout: 10_000 }).toBe(0);
      const word = firstLine(page).locator('span', { hasText: /cat/ }).last();
      const box = (await word.boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      // An absence check: give a hover ample time (editor.hover.delay is 200 ms) to appear if it would.
      await page.waitForTimeout(1500);
      expect(await page.locator('.monaco-hover').filter({ hasText: 'Attention Lens', visible: true }).count()).toBe(0);
      expect(await highlightCount(page)).toBe(0);
      await page.keyboard.press('Control+Z');
    }

    const status = page.locator('.statusbar-item', { hasText: backend === 'webgpu' ? 'WebGPU' : 'WASM' });
    await status.first().waitFor({ timeout: 10_000 });
    // Every weight of the run, for the comparison of the backends below.
    const npz = unzipSync(fs.readFileSync(await exportThroughDialog(page, server.workspace, 'Data as NumPy', 'npz')));
    attentions[backend] = readNpy(npz['attentions.npy']);
    expect(server.extensionHostLogs()).not.toMatch(/unhandled/i);
  });
});

describe('backends agree', () => {
  it('WebGPU and WASM give the same top links', () => {
    expect(results.webgpu).toBeDefined();
    expect(results.webgpu).toEqual(results.wasm);
  });

  it('WebGPU (Chromium\'s SwiftShader adapter) and WASM give every weight within 1e-4', () => {
    const gpu = attentions.webgpu!, cpu = attentions.wasm!;
    expect(gpu.values.length).toBeGreaterThan(1000);
    expect(maxAbsDifference(gpu, cpu)).toBeLessThan(1e-4);
  });
});

describe('Show Attention when things go wrong', () => {
  const session = useSession(true, { 'attentionLens.backend': 'wasm' }); // WebAssembly: a cold start long enough to close mid-run

  beforeAll(async () => {
    await session.page.goto(session.server.url);
    await openSampleAndSelect(session.page);
  });

  it('an empty selection shows a message and opens no panel', async () => {
    const { page } = session;
    await page.locator('.monaco-editor .view-line').nth(1).click();
    await runCommand(page, 'Attention Lens: Show Attention');
    await page.locator('.notifications-toasts').getByText(/select the text you want to inspect/).waitFor({ timeout: 10_000 });
    expect(page.frames().length).toBeLessThanOrEqual(2);
    for (const f of page.frames()) expect(await f.$('#link-list').catch(() => null)).toBeNull();
  });

  it('closing the panel mid-run cancels cleanly and the next run works', async () => {
    const { page, server } = session;
    await runCommand(page, 'Notifications: Clear All Notifications');
    await selectFirstLine(page);
    const frame = await showAttentionByKey(page);
    await frame.waitForSelector('body[data-state="running"]', { timeout: 20_000 });
    await page.locator('.tab', { hasText: 'Attention ·' }).locator('.codicon-close').click();
    // The progress notification of the cancelled run goes, and no error takes its place.
    const toasts = page.locator('.notifications-toasts .notification-toast');
    await expect.poll(() => toasts.count(), { timeout: 10_000 }).toBe(0);
    await page.waitForTimeout(1000); // an absence check: a late error would show within this
    expect(await toasts.count()).toBe(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'closed-mid-run.png') });

    await selectFirstLine(page);
    const again = await showAttentionByKey(page);
    await again.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
    expect(Number(await again.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
    // `auto` passed over the software adapter, and the status bar says why and where the time went.
    expect(await again.$eval('body', (b) => b.dataset.backend)).toBe('wasm');
    await page.locator('.statusbar-item', { hasText: 'WASM' }).first().hover();
    const tip = page.locator('.workbench-hover, .monaco-hover').filter({ hasText: /attentionLens\.backend is "wasm"/ }).first();
    await tip.waitFor({ timeout: 10_000 });
    expect(await tip.innerText()).toMatch(/from the command to the picture: .*inference/);
    const log = server.extensionHostLogs();
    expect(log.length).toBeGreaterThan(0);
    expect(log).not.toMatch(/unhandled|rejected promise/i);
  });

  it('Select Model… lists the bundled models with their shape and size, and the choice is used and remembered', async () => {
    const { page, server } = session;
    const models = bundled();
    const other = models[1];
    // In the window the tests above left (a new session costs 10–12 s): their panel goes, and
    // `auto` (the native engine here) takes over from WebAssembly, as in a fresh window.
    server.updateSettings({ 'attentionLens.backend': 'auto' });
    await openWorkbench(session);
    await closePanelTab(page);
    await openSampleAndSelect(page);
    await runCommand(page, 'Attention Lens: Select Model');
    const rows = page.locator('.quick-input-list .monaco-list-row');
    await rows.first().waitFor({ timeout: 10_000 });
    const texts = await rows.allInnerTexts();
    for (const m of models) expect(texts.some((t) => t.includes(m.label) && /\d+ layers × \d+ heads · \d+\.\d MB/.test(t))).toBe(true);
    await page.keyboard.type(other.label);
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: other.label }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await page.locator('.notifications-toasts').getByText(new RegExp(`now uses ${other.label.replace(/[()]/g, '\\$&')}`)).first().waitFor({ timeout: 10_000 });
    await selectFirstLine(page);
    const frame = await showAttentionByKey(page);
    await frame.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    expect((await frame.$eval('#status', (s) => s.textContent ?? '')).startsWith(other.label)).toBe(true);
    await page.reload();
    await openSampleAndSelect(page);
    const again = await showAttentionByKey(page);
    await again.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    expect((await again.$eval('#status', (s) => s.textContent ?? '')).startsWith(other.label)).toBe(true);

    // With an inspection open, choosing another model runs the same selection on it at once.
    await runCommand(page, 'Attention Lens: Select Model');
    // Type only once the model picker is up: keys typed before it opens would edit the document.
    await page.locator('.quick-input-widget', { hasText: 'model for Show Attention' }).waitFor({ timeout: 10_000 });
    await page.keyboard.type(models[0].label);
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: models[0].label }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await again.waitForFunction((label) => document.body.dataset.state === 'ready' && (document.getElementById('status')?.textContent ?? '').startsWith(label), models[0].label, { timeout: 90_000 });
  });
});
