// `npm run bench:long-engine`: a long input through the native engine alone (issue 24), outside VS
// Code, so that onnxruntime's own memory and time show without the panel's. The Qwen2.5-0.5B-shaped
// q4 stand-in (tools/real-size/llm.mjs) at 1,024, 2,048 and 4,096 tokens, each run in a process of
// its own (peak resident memory is per process):
// - the baseline: the model as shipped, in a bare onnxruntime-node session on every core (as the
//   engine's), fetching its logits;
// - the long run: the engine as the panel opens it for long inputs (queries and keys, two probe
//   rows per layer; no logits).
// Each figure with its ratio to the baseline, and the peak against the weights plus the naive
// L·H·n²·4 bytes of every layer's weights.
//
//   npm run bench:long-engine                        # 1,024, 2,048 and 4,096 tokens
//   npm run bench:long-engine -- --tokens 512,1024   # some lengths
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** Peak resident memory of this process so far, in bytes (Linux). */
const peakRss = () => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;

/** One run in this process: prints `{ peak, millis }`. */
async function child(kind, file, n) {
  const ort = require('onnxruntime-node');
  ort.env.logLevel = 'fatal';
  const ids = Array.from({ length: n }, (_, i) => 100 + ((i * 37) % 5000));
  const { importFromSrc } = await import(pathToFileURL(path.join(ROOT, 'bench/srcModules.mjs')).href);
  const { AttentionEngine, inputFeeds } = await importFromSrc(["export { AttentionEngine } from './src/core/engine/attentionEngine';", "export { inputFeeds } from './src/core/engine/inputFeeds';"]);
  if (kind === 'bare') {
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: os.availableParallelism() });
    const feeds = inputFeeds(ort, session, { ids }); // an empty key/value cache
    const t = performance.now();
    await session.run(feeds, ['logits']);
    return { peak: peakRss(), millis: performance.now() - t };
  }
  const engine = await AttentionEngine.create(ort, fs.readFileSync(file), 'native', path.basename(file), { queryKeys: true });
  const t = performance.now();
  const out = await engine.run({ ids });
  if (!out.queryKeys?.length) throw new Error('the long run returned no queries and keys');
  return { peak: peakRss(), millis: performance.now() - t };
}

const mb = (b) => (b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : `${(b / 1e6).toFixed(0)} MB`);
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;

async function main() {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    console.log(JSON.stringify(await child(argv[1], argv[2], Number(argv[3]))));
    return;
  }
  const lengths = argv.includes('--tokens') ? argv[argv.indexOf('--tokens') + 1].split(',').map(Number) : [1024, 2048, 4096];
  const gen = await import(pathToFileURL(path.join(ROOT, 'tools/real-size/llm.mjs')).href);
  const cache = path.join(process.env.ATTENTION_LENS_CACHE ?? path.join(os.homedir(), '.cache', 'attention-lens'), 'real-size');
  const { folder, onnx } = gen.ensureLlmVariant(cache, 'qwen2.5-0.5b', 'q4', { log: (m) => console.error(m) });
  const file = path.join(folder, onnx);
  const config = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8'));
  const [layers, heads] = [config.num_hidden_layers, config.num_attention_heads];
  const weights = fs.statSync(file).size;
  console.log(`\nLong inputs through the native engine in Node: Qwen2.5-0.5B-shaped q4 stand-in (${layers} layers × ${heads} heads, ${mb(weights)}), onnxruntime-node ${require('onnxruntime-node/package.json').version}, ${os.cpus().length} cores, ${mb(os.totalmem())}`);
  console.log('tokens | bare model: peak memory | bare model: run | long run: peak memory | ÷ bare | long run: run | ÷ bare | weights + L·H·n²·4 | long run\'s peak ÷ that');
  console.log('---:|---:|---:|---:|---:|---:|---:|---:|---:');
  const run = (kind, n) => {
    try {
      return JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', kind, file, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').pop());
    } catch (e) {
      return { failed: String(e.signal ?? e.status ?? e.message).slice(0, 80) };
    }
  };
  for (const n of lengths) {
    const bare = run('bare', n);
    const long = run('long', n);
    const naive = weights + layers * heads * n * n * 4;
    const cell = (r, f) => (r.failed ? `failed (${r.failed})` : f(r));
    console.log(`${n} | ${cell(bare, (r) => mb(r.peak))} | ${cell(bare, (r) => s(r.millis))} | ${cell(long, (r) => mb(r.peak))} | ${bare.failed || long.failed ? '–' : `${(long.peak / bare.peak).toFixed(2)}×`} | ${cell(long, (r) => s(r.millis))} | ${bare.failed || long.failed ? '–' : `${(long.millis / bare.millis).toFixed(2)}×`} | ${mb(naive)} | ${long.failed ? '–' : `${(long.peak / naive).toFixed(2)}×`}`);
  }
}

await main();
