/// <reference lib="dom" />
/**
 * The native engine (onnxruntime-node) against WebAssembly (onnxruntime-web, one thread), issue 23;
 * every figure also as a ratio to WebAssembly in the same run:
 * - CLI: the BERT-base shape at 512 tokens and the GPT-2-small shape at 1,024
 *   (tools/real-size/generate.mjs): load (model files read + session) and inference.
 * - Panel (code-server + headless Chromium): the same selections through `attentionLens.backend`
 *   `native` and `wasm`, command to picture, cold (first run of the window) and warm (a second
 *   selection): the bundled default model at 128 tokens and BERT-base at 512.
 * - A Llama-3.2-1B-shaped fp32 stand-in (tools/real-size/llm.mjs; 4.9 GB of weights in external
 *   data chunks, too large for WebAssembly) in the panel with `auto`: which engine ran, the time to
 *   the picture and the extension host's peak memory.
 *
 *   npm run bench:native                  # all of it (generates the stand-ins into the cache on first use)
 *   npm run bench:native -- --cli-only | --panel-only | --no-1b
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type RunTimings, formatMillis, stageTotals } from '../src/core/timing';
import { formatBytes } from '../src/core/units';
import { bundledModels } from '../src/models/modelRegistry';
import { ROOT } from '../test/e2e/codeServer';
import { nextTimings, openAndSelectAll, paletteEnter } from '../test/e2e/workbench';
import { session, textOfTokens } from './firstPicture';
import { type Row, cliCase } from './llm';
import { peakRssOf } from './processes';

const BACKENDS = ['wasm', 'native'] as const;
const ratio = (a?: number, b?: number) => (a !== undefined && b ? `${(a / b).toFixed(2)}×` : '–');

/** The CLI rows: each model and length, on each backend (the better of two runs: the first also warms the disk cache). */
async function cliRows(cases: Array<{ label: string; folder: string; tokens: number }>, source: string, dir: string): Promise<void> {
  console.log('\nCLI (attention-lens inspect --timings, the table for a terminal): load = model files read + session; × = native / WebAssembly');
  console.log('model | tokens | WebAssembly load | native load | load × | WebAssembly inference | native inference | inference × | WebAssembly total | native total | total ×');
  console.log('---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:');
  for (const c of cases) {
    const textFile = path.join(dir, `${c.label}.txt`);
    fs.writeFileSync(textFile, await textOfTokens(c.folder, source, c.tokens));
    const best: Partial<Record<(typeof BACKENDS)[number], Row>> = {};
    for (let i = 0; i < 2; i++) {
      for (const b of BACKENDS) {
        const r = await cliCase(c.label, b, c.folder, 'onnx/model.onnx', textFile, b, false);
        if (r.refused) throw new Error(`${c.label} on ${b}: ${r.refused}`);
        if (!best[b] || r.picture! < best[b]!.picture!) best[b] = r;
      }
    }
    const w = best.wasm!, n = best.native!;
    console.log(`${c.label} | ${c.tokens} | ${formatMillis(w.load!)} | ${formatMillis(n.load!)} | ${ratio(n.load, w.load)} | ${formatMillis(w.inference!)} | ${formatMillis(n.inference!)} | ${ratio(n.inference, w.inference)} | ${formatMillis(w.picture!)} | ${formatMillis(n.picture!)} | ${ratio(n.picture, w.picture)}`);
  }
}

/** Command to picture in a fresh window on `backend`: a cold run on `a`, then a warm one on `b`. */
async function panelRuns(settings: Record<string, unknown>, a: string, b: string): Promise<Array<{ timings: RunTimings; fromKey: number }>> {
  const out: Array<{ timings: RunTimings; fromKey: number }> = [];
  await session({ 'attentionLens.warnModelSizeMB': 100_000, ...settings }, { 'a.txt': a, 'b.txt': b }, async (page) => {
    await openAndSelectAll(page, 'a.txt');
    let t0 = await paletteEnter(page, 'Attention Lens: Show Attention');
    let r = await nextTimings(page, t0 - 60_000, undefined, 1_800_000);
    out.push({ timings: r.timings, fromKey: r.timings.pictureAt - t0 });
    await openAndSelectAll(page, 'b.txt');
    t0 = await paletteEnter(page, 'Attention Lens: Show Attention');
    r = await nextTimings(page, t0 - 1, r.frame, 1_800_000);
    out.push({ timings: r.timings, fromKey: r.timings.pictureAt - t0 });
  });
  return out;
}

async function panelRows(cases: Array<{ label: string; folder: string; model: string; tokens: number }>, source: string): Promise<void> {
  console.log('\nPanel (code-server + headless Chromium): key → picture; session = model read + session open (the page reads the model over the connection for WebAssembly; the host opens it for native); × = native / WebAssembly');
  console.log('model | tokens | run | WebAssembly | native | × | WebAssembly session | native session | WebAssembly inference | native inference');
  console.log('---|---:|---|---:|---:|---:|---:|---:|---:|---:');
  for (const c of cases) {
    const a = await textOfTokens(c.folder, source, c.tokens);
    const b = await textOfTokens(c.folder, source.slice(a.length), c.tokens);
    const runs = { wasm: await panelRuns({ 'attentionLens.backend': 'wasm', 'attentionLens.model': c.model }, a, b), native: await panelRuns({ 'attentionLens.backend': 'native', 'attentionLens.model': c.model }, a, b) };
    ['cold', 'warm'].forEach((label, i) => {
      const w = runs.wasm[i], n = runs.native[i];
      const tw = stageTotals(w.timings), tn = stageTotals(n.timings);
      const load = (t: ReturnType<typeof stageTotals>) => (t.model ?? 0) + (t.session ?? 0);
      console.log(`${c.label} | ${c.tokens} | ${label} | ${formatMillis(w.fromKey)} | ${formatMillis(n.fromKey)} | ${ratio(n.fromKey, w.fromKey)} | ${formatMillis(load(tw))} | ${formatMillis(load(tn))} | ${formatMillis(tw.inference ?? 0)} | ${formatMillis(tn.inference ?? 0)}`);
    });
  }
}

/**
 * The 1B fp32 stand-in, too large for WebAssembly: in the CLI (native; WebAssembly refuses it), and
 * in the panel with `auto`, where the native engine should run it.
 */
async function oneB(source: string, cache: string, dir: string, cli: boolean, panel: boolean): Promise<void> {
  const gen = (await import(pathToFileURL(path.join(ROOT, 'tools/real-size/llm.mjs')).href)) as { ensureLlmVariant(c: string, s: string, v: string, o: { log?: (m: string) => void }): { folder: string; onnx: string } };
  const { folder, onnx } = gen.ensureLlmVariant(cache, 'llama-3.2-1b', 'fp32', { log: (m) => console.error(m) });
  const text = await textOfTokens(folder, source, 64);
  if (cli) {
    const textFile = path.join(dir, 'llama.txt');
    fs.writeFileSync(textFile, text);
    const [w, n] = [await cliCase('llama-3.2-1b', 'fp32', folder, onnx, textFile, 'wasm'), await cliCase('llama-3.2-1b', 'fp32', folder, onnx, textFile, 'native')];
    console.log(`
Llama-3.2-1B-shaped fp32 stand-in, 64 tokens, CLI --json: WebAssembly ${w.refused ? `refused in ${formatMillis(w.refusal ?? 0)} (${w.refused.slice(0, 120)}…)` : formatMillis(w.picture!)}; native: load ${n.refused ? n.refused : `${formatMillis(n.load!)}, inference ${formatMillis(n.inference!)}, total ${formatMillis(n.picture!)}, peak resident memory ${formatBytes(n.peak!)}`}`);
  }
  if (!panel) return;
  let backend = '';
  let timings: RunTimings | undefined;
  let fromKey = 0;
  await session({ 'attentionLens.backend': 'auto', 'attentionLens.model': path.join(folder, onnx), 'attentionLens.warnModelSizeMB': 100_000 }, { 'a.txt': text }, async (page) => {
    await openAndSelectAll(page, 'a.txt');
    const t0 = await paletteEnter(page, 'Attention Lens: Show Attention');
    const r = await nextTimings(page, t0 - 60_000, undefined, 1_800_000);
    timings = r.timings;
    fromKey = r.timings.pictureAt - t0;
    backend = await r.frame.$eval('body', (el) => el.dataset.backend ?? '');
  });
  const t = stageTotals(timings!);
  const weights = fs.readdirSync(path.join(folder, 'onnx')).filter((f) => f.startsWith('model.onnx_data')).reduce((s, f) => s + fs.statSync(path.join(folder, 'onnx', f)).size, 0);
  console.log(`\nLlama-3.2-1B-shaped fp32 stand-in (${formatBytes(weights)} of external data), 64 tokens, attentionLens.backend auto, this machine (${formatBytes(os.totalmem())} of memory): ran on ${backend}; key → picture ${formatMillis(fromKey)} (session ${formatMillis((t.model ?? 0) + (t.session ?? 0))}, inference ${formatMillis(t.inference ?? 0)}); extension host's peak resident memory ${formatBytes(peakRssOf(/--type=extensionHost/))} (the stand-in's weights are memory-mapped, so pages of them count while they are read)`);
}

/** Entry point of the bench runner. */
export async function main(): Promise<void> {
  const argv = process.argv.slice(3);
  const log = (m: string) => console.error(m);
  const source = fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8').repeat(4);
  const cache = path.join(process.env.ATTENTION_LENS_CACHE ?? path.join(os.homedir(), '.cache', 'attention-lens'), 'real-size');
  const realSize = (await import(pathToFileURL(path.join(ROOT, 'tools/real-size/generate.mjs')).href)) as { ensureRealSizeModel(shape: string, o: { log?: (m: string) => void }): Promise<string> };
  const bert = await realSize.ensureRealSizeModel('bert-base', { log });
  const gpt2 = await realSize.ensureRealSizeModel('gpt2-small', { log });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-bench-native-'));
  console.log(`\nThe native engine against WebAssembly, ${os.cpus().length} cores: ${os.cpus()[0]?.model ?? ''}, ${formatBytes(os.totalmem())}`);
  try {
    const cli = !argv.includes('--panel-only');
    const panel = !argv.includes('--cli-only');
    if (cli) await cliRows([{ label: 'bert-base', folder: bert, tokens: 512 }, { label: 'gpt2-small', folder: gpt2, tokens: 1024 }], source, dir);
    if (panel) {
      const [bundled] = bundledModels(ROOT);
      await panelRows([
        { label: bundled.label, folder: bundled.folder, model: bundled.id, tokens: 128 },
        { label: 'bert-base', folder: bert, model: bert, tokens: 512 },
      ], source);
    }
    if (!argv.includes('--no-1b')) await oneB(source, cache, dir, cli, panel);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
