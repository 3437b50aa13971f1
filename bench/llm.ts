/// <reference lib="dom" />
/**
 * Today's LLM files at real size (issue 22): random-weight stand-ins of Qwen2.5-0.5B, Llama-3.2-1B,
 * SmolLM2-135M and Gemma-3-1B in every variant the Hub ships (tools/real-size/llm.mjs), generated
 * into the cache (never committed). Per variant: load time (model files read + session), first
 * picture (command to attention) and peak memory, in the CLI (WebAssembly, one thread) and in the
 * panel (code-server + headless Chromium, WebAssembly), each as a ratio to a baseline of the same
 * run: the architecture's fp32 export, or its q4 export where fp32 is too large for WebAssembly.
 *
 *   npm run bench:llm                        # every architecture in the CLI, SmolLM2 and Qwen's q4 and genai in the panel
 *   npm run bench:llm -- --arch smollm2-135m # one architecture
 *   npm run bench:llm -- --cli-only | --panel-only
 *   npm run bench:llm -- --variants fp32,q4,bnb4   # some variants (with the baselines, fp32 and q4)
 *
 * The full set needs about 50 GB of disk in the cache (ATTENTION_LENS_CACHE, else ~/.cache/attention-lens).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fitOn } from '../src/core/engine/backendLimits';
import { type RunTimings, formatMillis, stageTotals, totalMillis } from '../src/core/timing';
import { formatBytes } from '../src/core/units';
import { readModelFolder } from '../src/models/modelFolder';
import { ROOT } from '../test/e2e/codeServer';
import { nextTimings, openAndSelectAll, paletteEnter } from '../test/e2e/workbench';
import { session, textOfTokens } from './firstPicture';
import { peakRssOf } from './processes';

interface Generator {
  LLM_SHAPES: Record<string, unknown>;
  LLM_VARIANTS: Record<string, unknown>;
  ensureLlmVariant(cacheDir: string, shape: string, variant: string, opts: { tiny?: boolean; log?: (m: string) => void }): { folder: string; onnx: string };
}

/** Tokens of the inspected text: enough for a real picture, short enough for a 1B model on one WebAssembly thread. */
const TOKENS = 64;
const PANEL_CASES: Array<[string, string]> = [
  ...['fp32', 'fp16', 'q4', 'q4f16', 'quantized', 'uint8', 'merged', 'genai'].map((v): [string, string] => ['smollm2-135m', v]),
  ['qwen2.5-0.5b', 'q4'],
  ['qwen2.5-0.5b', 'genai'],
];

/** One measured case. */
export interface Row {
  arch: string;
  variant: string;
  files: string;
  weights: number;
  /** Why it did not run (refused as too large before loading, or failed while loading), when it did not. */
  refused?: string;
  /** Whether the limits check refused it before loading (else onnxruntime failed on it). */
  predicted?: boolean;
  load?: number;
  picture?: number;
  inference?: number;
  peak?: number;
  /** Time to refuse a model it cannot hold. */
  refusal?: number;
}

const run = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
  execFile(args[0], args.slice(1), { maxBuffer: 1 << 30 }, (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr })));

/** "model.onnx + 2 data files". */
const filesOf = (onnx: string, data: number) => `${path.basename(onnx)}${data ? ` + ${data} data file${data > 1 ? 's' : ''}` : ''}`;

/**
 * The CLI on one variant (`backend`, default WebAssembly as in the panel; `--json` unless `json` is
 * false, for inputs whose JSON would pass a string's length), under /usr/bin/time for its peak resident memory.
 */
export async function cliCase(arch: string, variant: string, folder: string, onnx: string, textFile: string, backend = 'wasm', json = true): Promise<Row> {
  const info = readModelFolder(folder, onnx);
  const row: Row = { arch, variant, files: filesOf(onnx, info.external.length), weights: info.footprint.weightBytes };
  const t0 = Date.now();
  const r = await run(['/usr/bin/time', '-f', 'peak-kb %M', process.execPath, path.join(ROOT, 'dist/cli.mjs'), 'inspect', '--model', folder, '--onnx', onnx, '--text-file', textFile, ...(json ? ['--json'] : []), '--timings', '--backend', backend]);
  const fit = fitOn('wasm', info.footprint, undefined, info.external.map((e) => e.bytes));
  if (r.code !== 0) {
    const message = r.stderr.split('\n').find((l) => l.startsWith('attention-lens: '))?.replace(/^attention-lens: /, '') ?? r.stderr;
    return { ...row, refused: message, predicted: !fit.fits, refusal: Date.now() - t0 };
  }
  const t = /model files read ([\d.]+ m?s) · tokenize ([\d.]+ m?s) · session ([\d.]+ m?s) · inference ([\d.]+ m?s) · to the attention ([\d.]+ m?s)/.exec(r.stderr);
  if (!t) throw new Error(`no timings from the CLI: ${r.stderr}`);
  const ms = (s: string) => (s.endsWith(' ms') ? Number(s.slice(0, -3)) : Number(s.slice(0, -2)) * 1000);
  return { ...row, load: ms(t[1]) + ms(t[3]), inference: ms(t[4]), picture: ms(t[5]), peak: Number(/peak-kb (\d+)/.exec(r.stderr)![1]) * 1024 };
}

/** The panel on one variant: a fresh VS Code and Chromium, WebAssembly, the model named by its ONNX file. */
async function panelCase(arch: string, variant: string, folder: string, onnx: string, text: string): Promise<Row> {
  const info = readModelFolder(folder, onnx);
  const row: Row = { arch, variant, files: filesOf(onnx, info.external.length), weights: info.footprint.weightBytes };
  let timings: RunTimings | undefined;
  let fromKey = 0;
  let peak = 0;
  await session({ 'attentionLens.model': path.join(folder, onnx), 'attentionLens.warnModelSizeMB': 100_000 }, { 'llm.txt': text }, async (page) => {
    await openAndSelectAll(page, 'llm.txt');
    const t0 = await paletteEnter(page, 'Attention Lens: Show Attention');
    const r = await nextTimings(page, t0 - 60_000, undefined, 1_800_000);
    timings = r.timings;
    fromKey = r.timings.pictureAt - t0;
    // The webview's renderer holds the model's bytes and the session: the largest renderer's peak.
    peak = peakRssOf(/chrom(e|ium).*--type=renderer/);
  });
  const t = stageTotals(timings!);
  return { ...row, load: (t.model ?? 0) + (t.session ?? 0), inference: t.inference, picture: Math.max(fromKey, totalMillis(timings!)), peak };
}

function table(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  console.log('model | variant | files | weights | load (read + session) | first picture | of which inference | peak memory | load × | picture × | memory ×');
  console.log('---|---|---|---:|---:|---:|---:|---:|---:|---:|---:');
  for (const r of rows) {
    const base = rows.find((b) => b.arch === r.arch && b.variant === 'fp32' && !b.refused) ?? rows.find((b) => b.arch === r.arch && b.variant === 'q4' && !b.refused);
    const ratio = (a?: number, b?: number) => (a !== undefined && b ? `${(a / b).toFixed(2)}×` : '–');
    if (r.refused) {
      console.log(`${r.arch} | ${r.variant} | ${r.files} | ${formatBytes(r.weights)} | ${r.predicted ? 'refused before loading' : 'failed while loading'} in ${formatMillis(r.refusal ?? 0)}: ${r.refused.slice(0, 200)} | – | – | – | – | – | –`);
      continue;
    }
    console.log(`${r.arch} | ${r.variant} | ${r.files} | ${formatBytes(r.weights)} | ${formatMillis(r.load!)} | ${formatMillis(r.picture!)} | ${r.inference === undefined ? '–' : formatMillis(r.inference)} | ${formatBytes(r.peak!)} | ${ratio(r.load, base?.load)} | ${ratio(r.picture, base?.picture)} | ${ratio(r.peak, base?.peak)}`);
  }
  console.log(`(× : against the same model's ${'fp32'} variant in this run, its q4 where fp32 is too large for WebAssembly)`);
}

/** Entry point of the bench runner. */
export async function main(): Promise<void> {
  const argv = process.argv.slice(3);
  const only = argv.includes('--arch') ? argv[argv.indexOf('--arch') + 1] : undefined;
  const variants = argv.includes('--variants') ? argv[argv.indexOf('--variants') + 1].split(',') : undefined;
  const gen = (await import(pathToFileURL(path.join(ROOT, 'tools/real-size/llm.mjs')).href)) as Generator;
  const cache = path.join(process.env.ATTENTION_LENS_CACHE ?? path.join(os.homedir(), '.cache', 'attention-lens'), 'real-size');
  const log = (m: string) => console.error(m);
  const archs = Object.keys(gen.LLM_SHAPES).filter((a) => !only || a === only);
  const source = fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8');
  const textDir = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-bench-llm-'));
  console.log(`\nLLM stand-ins at real size (tools/real-size/llm.mjs, random weights), ${TOKENS} tokens, WebAssembly, one thread, ${os.cpus().length} cores: ${os.cpus()[0]?.model ?? ''}`);
  try {
    if (!argv.includes('--panel-only')) {
      const rows: Row[] = [];
      for (const arch of archs) {
        for (const variant of Object.keys(gen.LLM_VARIANTS).filter((v) => !variants || variants.includes(v))) {
          const { folder, onnx } = gen.ensureLlmVariant(cache, arch, variant, { log });
          const textFile = path.join(textDir, `${arch}.txt`);
          if (!fs.existsSync(textFile)) fs.writeFileSync(textFile, await textOfTokens(folder, source, TOKENS));
          const row = await cliCase(arch, variant, folder, onnx, textFile);
          log(`${arch} ${variant}: ${row.refused ? `refused (${row.refused.slice(0, 80)}…)` : `${formatMillis(row.picture!)}, peak ${formatBytes(row.peak!)}`}`);
          rows.push(row);
        }
      }
      table('CLI (attention-lens inspect --json): load = model files read + session, first picture = command start to attention, peak = the process\'s peak resident memory', rows);
    }
    if (!argv.includes('--cli-only')) {
      const rows: Row[] = [];
      for (const [arch, variant] of PANEL_CASES.filter(([a]) => !only || a === only)) {
        const { folder, onnx } = gen.ensureLlmVariant(cache, arch, variant, { log });
        const row = await panelCase(arch, variant, folder, onnx, await textOfTokens(folder, source, TOKENS));
        log(`panel ${arch} ${variant}: ${formatMillis(row.picture!)}, peak ${formatBytes(row.peak!)}`);
        rows.push(row);
      }
      table('Panel (code-server + headless Chromium, WebAssembly): load = model read over code-server\'s connection + session, first picture = key to picture, peak = the largest Chromium renderer\'s peak resident memory', rows);
    }
  } finally {
    fs.rmSync(textDir, { recursive: true, force: true });
  }
}
