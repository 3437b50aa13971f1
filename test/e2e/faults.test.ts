/// <reference lib="dom" />
// Faults in the real VS Code (code-server): the model file replaced between runs, and the panel
// reloaded in the middle of a run. Each recovers with a clear message, and the next run works.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, panelFrame } from './codeServer';
import { useSession } from './session';
import { openSampleAndSelect, runCommand, selectFirstLine, showAttentionAndWait, showAttentionByKey } from './workbench';

// A user's model folder that the test can change under the extension (a copy of a fixture).
const model = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-faults-'));
fs.cpSync(path.join(ROOT, 'test/fixtures/models/gpt2-plain'), model, { recursive: true });
const onnx = path.join(model, 'onnx/model.onnx');
const original = fs.readFileSync(onnx);
afterAll(() => fs.rmSync(model, { recursive: true, force: true }));

const state = (f: Frame) => f.$eval('body', (b) => b.dataset.state);
const errorText = (f: Frame) => f.$eval('#error', (e) => e.textContent ?? '');

describe('Show Attention when files and the panel change under it', () => {
  const session = useSession(false, { 'attentionLens.model': model });

  it('a model file replaced between runs is read again: a damaged one says so, the restored one runs', async () => {
    const { page, server } = session;
    await page.goto(server.url);
    await openSampleAndSelect(page);
    let frame = await showAttentionAndWait(page);
    expect(await state(frame)).toBe('ready');
    try {
      fs.writeFileSync(onnx, original.subarray(0, original.length >> 1)); // replaced by a truncated copy
      frame = await showAttentionAndWait(page, frame);
      expect(await state(frame)).toBe('error');
      expect(await errorText(frame)).toMatch(/onnx\/model\.onnx .*(truncated|corrupt|not an ONNX model|could not be)/);
    } finally {
      fs.writeFileSync(onnx, original);
    }
    frame = await showAttentionAndWait(page, frame);
    expect(await state(frame)).toBe('ready');
    expect(Number(await frame.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
    expect(server.extensionHostLogs()).not.toMatch(/unhandled|rejected promise/i);
  });

  it('the panel reloaded in the middle of a run picks the run up again and finishes it', async () => {
    const { page, server } = session;
    await runCommand(page, 'Notifications: Clear All Notifications'); // the first test's error
    await page.locator('.tab', { hasText: 'Attention ·' }).locator('.codicon-close').click(); // the next run starts cold
    await selectFirstLine(page);
    const frame = await showAttentionByKey(page);
    await frame.waitForSelector('body[data-state="running"]', { timeout: 20_000 });
    await frame.evaluate(() => (document.body.dataset.beforeReload = 'yes')); // a reloaded page will not have this
    await runCommand(page, 'Developer: Reload Webviews');
    // The reloaded page asks the host again and gets the run it was given.
    const deadline = Date.now() + 120_000;
    let reloaded: Frame | undefined;
    while (Date.now() < deadline && !reloaded) {
      const f = await panelFrame(page, 30_000);
      if ((await f.$('body[data-state="ready"]:not([data-before-reload])').catch(() => null)) !== null) reloaded = f;
      else await page.waitForTimeout(500);
    }
    expect(reloaded, 'the reloaded panel never showed the run').toBeDefined();
    expect(Number(await reloaded!.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
    const toasts = await page.locator('.notifications-toasts .notification-toast').allInnerTexts();
    expect(toasts.filter((t) => /Attention Lens/.test(t) && !/Attention Lens: gpt2-plain/.test(t)), `toasts: ${toasts.join(' | ')}`).toEqual([]); // no error, only (finished) progress

    expect(server.extensionHostLogs()).not.toMatch(/unhandled|rejected promise/i);
  });
});
