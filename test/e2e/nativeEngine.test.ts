/// <reference lib="dom" />
// The native engine in the real extension (issue 23): with attentionLens.backend "native", the
// extension host runs the model with onnxruntime-node on a worker thread and the panel draws the
// attention it receives (no model bytes reach the page). The model is the Qwen2.5-0.5B stand-in's
// Optimum export, whose weights are in external data chunks, checked weight for weight against its
// PyTorch reference. The engine ending (stopped, as a crash would end it) is survived: the next
// Show Attention opens the model again on a fresh worker and draws.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import type { Frame, Page } from 'playwright-core';
import { ARTIFACTS } from './codeServer';
import { useSession } from './session';
import { llmGenerator, llmReference, maxDifference, referenceAttention } from '../llmStandIns';
import { readNpy } from '../npy';
import { exportThroughDialog, openAndSelectAll, runCommand, showAttentionAndWait } from './workbench';

const ref = llmReference('qwen2.5-0.5b');
const generator = await llmGenerator();
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-native-e2e-'));
const external = generator.ensureLlmVariant(cache, 'qwen2.5-0.5b', 'fp32', { tiny: true });
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

const selectText = (page: Page) => openAndSelectAll(page, 'llm.txt');

/** Checks a drawn native run: no error, the backend named in the page and the status bar, the reference's weights. */
async function expectNativePicture(page: Page, frame: Frame, workspace: string): Promise<void> {
  expect(await frame.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent))).toBe('');
  expect(await frame.$eval('body', (b) => b.dataset.backend)).toBe('native');
  expect(await frame.$eval('#status', (s) => s.textContent ?? '')).toMatch(/ · Native CPU · /);
  expect(Number(await frame.$eval('#view', (v) => v.dataset.links))).toBeGreaterThan(0);
  await page.locator('.statusbar-item', { hasText: 'Native CPU' }).first().waitFor({ timeout: 10_000 });
  const file = await exportThroughDialog(page, workspace, 'Data as NumPy', 'npz');
  const got = readNpy(unzipSync(fs.readFileSync(file))['attentions.npy']);
  fs.rmSync(file); // the next export offers the same name
  const r = ref.variants.fp32;
  expect(got.shape).toEqual(r.shape);
  expect(maxDifference(got.values as number[], referenceAttention(r))).toBeLessThanOrEqual(1e-4);
}

describe('The native engine in the panel', () => {
  let panel: Frame | undefined;
  const session = useSession(false, { 'attentionLens.backend': 'native', 'attentionLens.model': external.folder });

  it('draws a model with external data run by onnxruntime-node in the extension host, equal to the reference', async () => {
    const { page, server } = session;
    fs.writeFileSync(path.join(server.workspace, 'llm.txt'), ref.text);
    await page.goto(server.url);
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
    const frame = (panel = await showAttentionAndWait(page, undefined, selectText));
    await page.screenshot({ path: path.join(ARTIFACTS, 'native-engine.png') });
    await expectNativePicture(page, frame, server.workspace);
  });

  it('survives the engine ending: the next Show Attention starts a fresh one and draws', async () => {
    const { page, server } = session;
    await runCommand(page, 'Attention Lens: Stop the Native Engine');
    await page.locator('.statusbar-item', { hasText: 'native engine stopped' }).first().waitFor({ timeout: 10_000 });
    const frame = await showAttentionAndWait(page, panel, selectText);
    await expectNativePicture(page, frame, server.workspace);
    expect(server.extensionHostLogs()).not.toMatch(/unhandled/i);
  });
});
