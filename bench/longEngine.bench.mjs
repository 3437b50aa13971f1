// `npm run bench:long-engine`: a long input through the native engine alone (issue 24), outside VS
// Code, so that onnxruntime's own memory and time show without the panel's. The Qwen2.5-0.5B-shaped
// q4 stand-in (tools/real-size/llm.mjs) at 1,024, 2,048 and 4,096 tokens, each run in a process of
// its own (peak resident memory is per process):
// - the baseline: the model as shipped, in a bare onnxruntime-node session on every core (as the
//   engine's), fetching its logits;
// - the long run: the native engine as the panel opens it for long inputs (openNativeEngine:
//   queries and keys, two probe rows per layer; no logits).
// Each figure with its ratio to the baseline, and the peak against the weights plus the naive
// L·H·n²·4 bytes of every layer's weights.
// Then the CLI (dist/cli.mjs, native) on the same model and lengths, a process per run: `inspect`
// printing one layer and `inspect --stats` (a pass over every layer), each with its layers kept as
// queries and keys (the default past --keep-weights-mb) against every weight kept (--keep-weights-mb
// high enough), the baseline, where the machine's memory holds them (not at 4,096: 22.5 GB).
//
//   npm run bench:long-engine                        # 1,024, 2,048 and 4,096 tokens
//   npm run bench:long-engine -- --tokens 512,1024   # some lengths
//   npm run bench:long-engine -- --cli-only          # the CLI's part only
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
  const { inputFeeds, openNativeEngine } = await importFromSrc(["export { inputFeeds } from './src/core/engine/inputFeeds';", "export { openNativeEngine } from './src/native/nativeEngine';"]);
  if (kind === 'bare') {
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: os.availableParallelism() });
    const feeds = inputFeeds(ort, session, { ids }); // an empty key/value cache
    const t = performance.now();
    await session.run(feeds, ['logits']);
    return { peak: peakRss(), millis: performance.now() - t };
  }
  // As the extension host's worker opens it (the file's weights mapped by onnxruntime, not read here).
  const { engine } = await openNativeEngine({ model: { onnxPath: file, label: path.basename(file), external: [] }, backend: 'native', queryKeys: true });
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
  const run = (kind, n) => {
    try {
      return JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', kind, file, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').pop());
    } catch (e) {
      return { failed: String(e.signal ?? e.status ?? e.message).slice(0, 80) };
    }
  };
  if (!argv.includes('--cli-only')) engineTable(lengths, file, layers, heads, weights, run);
  await cliTable(lengths, folder, onnx, layers, heads, weights);
}

/** The CLI's peak memory and time per length, for one layer printed and for --stats, long against full. */
async function cliTable(lengths, folder, onnx, layers, heads, weights) {
  const { Tokenizer } = require('tokenizers');
  const tok = Tokenizer.fromFile(path.join(folder, 'tokenizer.json'));
  const words = fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8').repeat(8).split(/(?<=\s)/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-cli-long-'));
  const peakFile = path.join(dir, 'peak.cjs');
  // Loaded before the CLI: writes the process's peak resident memory on exit.
  fs.writeFileSync(peakFile, "process.on('exit', () => require('fs').writeFileSync(process.env.PEAK_FILE, /VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]));");
  console.log(`\nThe CLI (dist/cli.mjs inspect, native engine) on the same model: peak resident memory and wall time of the process (model read, run and output), long (queries and keys) against full (--keep-weights-mb ${1e6}).`);
  console.log('tokens | output | full: peak | full: time | long: peak | ÷ full | long: time | ÷ full | weights + L·H·n²·4');
  console.log('---:|---|---:|---:|---:|---:|---:|---:|---:');
  try {
    for (const n of lengths) {
      // The text of n tokens: the longest run of whole words that tokenizes to at most n.
      let lo = 1, hi = words.length;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((await tok.encode(words.slice(0, mid).join(''))).getIds().length <= n) lo = mid;
        else hi = mid - 1;
      }
      const textFile = path.join(dir, 'text.txt');
      fs.writeFileSync(textFile, words.slice(0, lo).join('').trimEnd());
      const naive = weights + layers * heads * n * n * 4;
      for (const [output, extra] of [['one layer', []], ['--stats', ['--stats']]]) {
        const cli = (keep) => {
          const t = performance.now();
          try {
            execFileSync(process.execPath, ['-r', peakFile, path.join(ROOT, 'dist/cli.mjs'), 'inspect', '--model', folder, '--onnx', onnx, '--text-file', textFile, '--keep-weights-mb', String(keep), ...extra], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PEAK_FILE: path.join(dir, 'peak') }, maxBuffer: 1 << 24 });
            return { peak: Number(fs.readFileSync(path.join(dir, 'peak'), 'utf8')) * 1024, millis: performance.now() - t };
          } catch (e) {
            return { failed: String(e.signal ?? e.status ?? e.message).slice(0, 80) };
          }
        };
        // Every weight at once needs the naive bytes: run only where they fit in half the machine's memory.
        const full = naive < os.totalmem() / 2 ? cli(1e6) : { failed: `not run: ${mb(naive)}` };
        const long = cli(512);
        const cell = (r, f) => (r.failed ? r.failed : f(r));
        const ratio = (f) => (full.failed || long.failed ? '–' : `${f().toFixed(2)}×`);
        console.log(`${n} | ${output} | ${cell(full, (r) => mb(r.peak))} | ${cell(full, (r) => s(r.millis))} | ${cell(long, (r) => mb(r.peak))} | ${ratio(() => long.peak / full.peak)} | ${cell(long, (r) => s(r.millis))} | ${ratio(() => long.millis / full.millis)} | ${mb(naive)}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The engine alone: the bare model against the long run, per length. */
function engineTable(lengths, file, layers, heads, weights, run) {
  console.log('tokens | bare model: peak memory | bare model: run | long run: peak memory | ÷ bare | long run: run | ÷ bare | weights + L·H·n²·4 | long run\'s peak ÷ that');
  console.log('---:|---:|---:|---:|---:|---:|---:|---:|---:');
  for (const n of lengths) {
    const bare = run('bare', n);
    const long = run('long', n);
    const naive = weights + layers * heads * n * n * 4;
    const cell = (r, f) => (r.failed ? `failed (${r.failed})` : f(r));
    console.log(`${n} | ${cell(bare, (r) => mb(r.peak))} | ${cell(bare, (r) => s(r.millis))} | ${cell(long, (r) => mb(r.peak))} | ${bare.failed || long.failed ? '–' : `${(long.peak / bare.peak).toFixed(2)}×`} | ${cell(long, (r) => s(r.millis))} | ${bare.failed || long.failed ? '–' : `${(long.millis / bare.millis).toFixed(2)}×`} | ${mb(naive)} | ${long.failed ? '–' : `${(long.peak / naive).toFixed(2)}×`}`);
  }
}

await main();
