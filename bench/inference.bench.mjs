// `node bench/inference.bench.mjs`: the engine's inference overhead (issue 14). The engine end to
// end (input feeds, run, attention extraction into the views' records) against a bare
// `InferenceSession.run` of the same surgically modified model bytes, fetching the same attention
// outputs, with the same input, on the same backend (onnxruntime-web WASM, 1 thread, as in the
// webview), at 32, 128 and 512 tokens, on the bundled default model and the BERT-base shape
// (tools/real-size/generate.mjs, generated into the cache on first use). Target: engine/bare
// within 10 % at 128 and 512 tokens. Also: onnxruntime-node (native CPU) as this machine's
// ceiling when it is installed (reported, not a gate), and session-create and run times at each
// graphOptimizationLevel.
//
// Options (environment): BENCH_RUNS (timed runs per row at least, default 5; more for fast rows, up to
// about 3 s per row; BERT-base-sized models at 512 tokens use at most 3),
// BENCH_MODELS (comma-separated: default, bert-base, gpt2-small; default "default,bert-base"),
// ONNXRUNTIME_NODE (folder of an onnxruntime-node package installed elsewhere).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import { ensureRealSizeModel } from '../tools/real-size/generate.mjs';
import { importFromSrc } from './srcModules.mjs';

const root = path.resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MODELS = (process.env.BENCH_MODELS ?? 'default,bert-base').split(',').map((s) => s.trim()).filter(Boolean);
const LENGTHS = [32, 128, 512];
const LEVELS = ['all', 'basic', 'disabled'];

// The engine and its helpers, bundled from src/ like dist/cli.mjs.
const bundle = await importFromSrc([
  "export { AttentionEngine } from './src/core/engine/attentionEngine';",
  "export { exposeAttention } from './src/core/engine/graphSurgery';",
  "export { recordOfLayer } from './src/core/attention';",
  "export { readModelFolder, readOnnxBytes } from './src/models/modelFolder';",
  "export { ModelTokenizer } from './src/models/tokenizer';",
]);
const { AttentionEngine, exposeAttention, recordOfLayer, readModelFolder, readOnnxBytes, ModelTokenizer } = bundle;

ort.env.wasm.numThreads = 1; // webviews are not cross-origin isolated: one thread there
ort.env.logLevel = 'fatal';
const ortNode = await loadOrtNode();

const now = () => performance.now();
/** This process's CPU time in ms (user + system): what a run cost, whatever else the machine runs. */
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const ms = (x) => (x === undefined ? '—' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
const pad = (s, n) => String(s).padStart(n);
const TEXT = Array.from({ length: 200 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog, and (x[${i}] + y) * ${i % 7} == z;`).join('\n');

/** Wall and CPU time of `f()`. */
async function timed(f) {
  const t0 = now();
  const c0 = cpuNow();
  const value = await f();
  return { wall: now() - t0, cpu: cpuNow() - c0, value };
}

async function loadOrtNode() {
  try {
    return { module: await import('onnxruntime-node') };
  } catch (e) {
    if (process.env.ONNXRUNTIME_NODE) {
      try {
        return { module: createRequire(path.join(path.resolve(process.env.ONNXRUNTIME_NODE), 'package.json'))('./') };
      } catch (e2) {
        return { missing: `ONNXRUNTIME_NODE=${process.env.ONNXRUNTIME_NODE} could not be loaded (${e2.message.split('\n')[0]})` };
      }
    }
    return { missing: e.code === 'ERR_MODULE_NOT_FOUND' ? 'not installed (ONNXRUNTIME_NODE_INSTALL=skip npm i --no-save onnxruntime-node)' : `failed to load (${e.message.split('\n')[0]})` };
  }
}

const loaded = new Map();
/** A model's folder, info and ONNX bytes, read once ('default': the bundled default; else a real-size shape). */
async function loadModel(name) {
  if (!loaded.has(name)) {
    let folder;
    if (name === 'default') {
      const dir = path.join(root, 'media', 'models');
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'models.json'), 'utf8'));
      folder = path.join(dir, (manifest.find((m) => m.default) ?? manifest[0]).folder);
    } else {
      folder = await ensureRealSizeModel(name, { log: (line) => console.log(`  ${line}`) });
    }
    const info = readModelFolder(folder);
    loaded.set(name, { folder, info, bytes: readOnnxBytes(info) });
  }
  return loaded.get(name);
}

/** The bare feeds for `session`: what Hugging Face inputs the engine fills, built once, outside the timing. */
function bareFeeds(module, session, ids) {
  const n = ids.length;
  const int64 = (f) => new module.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(f(i))), [1, n]);
  const values = { input_ids: (i) => ids[i], attention_mask: () => 1, token_type_ids: () => 0, position_ids: (i) => i };
  return Object.fromEntries(session.inputNames.map((name) => [name, int64(values[name])]));
}

/**
 * Runs `fns` (name → async function, which may return { name: ms } extra timings) interleaved, in
 * a new shuffled order each round (so no function always runs right after the same other one and
 * inherits its garbage); one warm-up each, then enough rounds for about 3 s (at least `min`, at
 * most `max`). Returns per name the median wall time (`wall`), the median CPU time of this process
 * (`cpu`; onnxruntime-web runs on this thread with numThreads 1, so on a shared machine it is the
 * steadier measure) and the fastest wall time (`fastest`).
 */
async function interleaved(fns, min, max = 30) {
  const names = Object.keys(fns);
  const wall = {};
  const cpu = {};
  const add = (to, k, v) => (to[k] ??= []).push(v);
  let slowest = 0;
  for (const k of names) slowest = Math.max(slowest, (await timed(fns[k])).wall);
  const rounds = Math.max(1, Math.min(max, Math.max(min, Math.round(3000 / slowest))));
  let seed = 12345;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let r = 0; r < rounds; r++) {
    const order = [...names];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const k of order) {
      const t = await timed(fns[k]);
      add(wall, k, t.wall);
      add(cpu, k, t.cpu);
      for (const [e, v] of Object.entries(t.value ?? {})) add(wall, e, v);
    }
  }
  const each = (o, f) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
  return { rounds, wall: each(wall, median), cpu: each(cpu, median), fastest: each(wall, (v) => Math.min(...v)) };
}

/**
 * V8 compiles onnxruntime's 14 MB of WebAssembly lazily (Liftoff first, TurboFan for hot functions,
 * in background threads that share this machine's cores): run the bundled default at every length
 * first, so the first timed model does not pay for it.
 */
async function warmUp() {
  const t0 = now();
  const engine = await AttentionEngine.create(ort, (await loadModel('default')).bytes, 'wasm');
  for (let round = 0; round < 3; round++) {
    for (const n of LENGTHS) await engine.run({ ids: Array.from({ length: n }, (_, i) => 5 + ((i * 37) % 7000)) });
  }
  await engine.dispose();
  await new Promise((r) => setTimeout(r, 1000));
  console.log(`warm-up (onnxruntime's WebAssembly compiled and tiered up on the bundled default): ${ms(now() - t0)}`);
}
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`load average at start: ${load()} on ${os.availableParallelism()} cores (wall times are noisy when it is above about 1; CPU times less so)`);
await warmUp();

const overhead = [];
const creates = [];
for (const name of MODELS) {
  const { folder, info, bytes } = await loadModel(name);
  const label = name === 'default' ? `${path.basename(folder)} (bundled default)` : name;
  console.log(`\n${label}: ${info.architecture}, ${info.layers} × ${info.heads}, ${(info.onnxBytes / 1e6).toFixed(0)} MB, ${folder}`);
  const tokenizer = ModelTokenizer.load(folder);

  const engineCreate = await timed(() => AttentionEngine.create(ort, bytes, 'wasm'));
  const engine = engineCreate.value;
  const surgery = await timed(() => exposeAttention(bytes));
  const outputs = engine.attentionOutputs;
  if (engine.exposed.length > 0 && surgery.value.found.map((f) => f.name).join() !== outputs.join()) throw new Error(`surgery found ${surgery.value.found.map((f) => f.name)} but the engine fetches ${outputs}`);
  const modelBytes = engine.exposed.length > 0 ? surgery.value.bytes : bytes;
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 4 };
  const bareCreate = await timed(() => ort.InferenceSession.create(modelBytes, options));
  const bare = bareCreate.value;
  const how = engine.exposed.length > 0 ? `graph surgery exposed ${engine.exposed.length} attention Softmaxes (exposeAttention alone ${ms(surgery.wall)})` : 'the model outputs attention itself, no surgery';
  console.log(`  engine create ${ms(engineCreate.wall)} (CPU ${ms(engineCreate.cpu)}): ${how}; bare session create on the same bytes ${ms(bareCreate.wall)} (CPU ${ms(bareCreate.cpu)}); outputs fetched: ${outputs.join(', ')}`);

  const native = [];
  if (ortNode.module) {
    for (const threads of [1, 0]) {
      const t0 = now();
      const session = await ortNode.module.InferenceSession.create(Buffer.from(modelBytes.buffer, modelBytes.byteOffset, modelBytes.byteLength), { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, logSeverityLevel: 4 });
      native.push({ threads, session, create: now() - t0 });
    }
    console.log(`  onnxruntime-node ${ortNode.module.env?.versions?.node ?? ''} session create: ${native.map((s) => `${ms(s.create)} (${s.threads || os.availableParallelism()} thread${(s.threads || os.availableParallelism()) > 1 ? 's' : ''})`).join(', ')}`);
  }

  for (const n of LENGTHS.filter((l) => l <= info.maxPositions)) {
    const { tokens } = await tokenizer.tokenize(TEXT, n);
    if (tokens.length !== n) throw new Error(`the bench text gave ${tokens.length} tokens, not ${n}`);
    const ids = tokens.map((t) => t.id);
    const feeds = bareFeeds(ort, bare, ids);
    const fns = {
      engine: async () => {
        const t0 = now();
        const out = await engine.run({ ids }); // its millis time its session.run
        const records = out.layers.map((l) => recordOfLayer(l, { tokens, causal: info.causal }));
        if (records.length !== outputs.length) throw new Error('missing layers');
        // The engine's own work: everything but its session.run.
        return { outside: now() - t0 - out.millis };
      },
      bare: async () => {
        const r = await bare.run(feeds, outputs);
        if (Object.keys(r).length !== outputs.length) throw new Error('missing outputs');
      },
    };
    const t = await interleaved(fns, RUNS, info.onnxBytes > 100e6 && n >= 512 ? Math.min(RUNS, 3) : 30);
    // Each native session on its own: onnxruntime-node's thread pool spins after a run and would slow what follows.
    for (const s of native) {
      const nf = bareFeeds(ortNode.module, s.session, ids);
      const run = async () => {
        const r = await s.session.run(nf, outputs);
        if (Object.keys(r).length !== outputs.length) throw new Error('missing outputs');
      };
      t.wall[`node${s.threads}`] = (await interleaved({ run }, RUNS)).wall.run;
    }
    overhead.push({ label, n, ...t });
    const { wall: w, cpu: c } = t;
    console.log(`  ${n} tokens, medians of ${t.rounds}: engine ${ms(w.engine)} (CPU ${ms(c.engine)}; outside session.run ${ms(w.outside)}), bare ${ms(w.bare)} (CPU ${ms(c.bare)}): engine/bare ${(w.engine / w.bare).toFixed(3)} wall, ${(c.engine / c.bare).toFixed(3)} CPU, ${(t.fastest.engine / t.fastest.bare).toFixed(3)} fastest${native.length ? `; onnxruntime-node ${ms(w.node1)} (1 thread) / ${ms(w.node0)} (all cores)` : ''}`);
  }
  await engine.dispose();
  await bare.release();
  for (const s of native) await s.session.release();
  loaded.delete(name);

  // Session create and run at each optimization level, on the bytes the engine opens.
  const { tokens } = await tokenizer.tokenize(TEXT, 128);
  const ids = tokens.map((t) => t.id);
  for (const level of LEVELS) {
    // Created twice (the faster counts: this machine is shared), the second session measured.
    let create = Infinity;
    let session;
    for (let i = 0; i < 2; i++) {
      await session?.release();
      const t0 = now();
      session = await ort.InferenceSession.create(modelBytes, { ...options, graphOptimizationLevel: level });
      create = Math.min(create, now() - t0);
    }
    const feeds = bareFeeds(ort, session, ids);
    const first = await timed(() => session.run(feeds, outputs));
    const t = await interleaved({ run: async () => { await session.run(feeds, outputs); } }, Math.min(RUNS, 3), 10);
    creates.push({ label, level, create, first: first.wall, run: t.wall.run, cpu: t.cpu.run, fastest: t.fastest.run });
    console.log(`  graphOptimizationLevel ${level}: create ${ms(create)}, first run at 128 tokens ${ms(first.wall)}, then ${ms(t.wall.run)} (CPU ${ms(t.cpu.run)}, fastest ${ms(t.fastest.run)})`);
    await session.release();
  }
}

console.log(`\nInference overhead: onnxruntime-web ${ort.env.versions?.web ?? ''} WASM, 1 thread, Node ${process.version} (${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores, load average at the end ${load()}).`);
console.log('engine = feeds + run + attention records; bare = InferenceSession.run of the same bytes, input and attention outputs. Medians of wall and of CPU time (this process), and the ratio of the fastest runs.');
const nodeHead = ortNode.module ? ' | onnxruntime-node 1 thread | all cores | bare/node (1 thread)' : '';
console.log(`model | tokens | runs | engine | bare run | engine/bare | engine CPU | bare CPU | engine/bare CPU | fastest/fastest | engine outside session.run${nodeHead}`);
for (const { label, n, rounds, wall: w, cpu: c, fastest: f } of overhead) {
  const nodeCols = ortNode.module ? ` | ${pad(ms(w.node1), 25)} | ${pad(ms(w.node0), 9)} | ${pad(`${(w.bare / w.node1).toFixed(2)}×`, 20)}` : '';
  const flag = (r) => (r > 1.1 && n >= 128 ? `${r.toFixed(3)} (over 1.10)` : r.toFixed(3));
  console.log(`${label} | ${pad(n, 6)} | ${pad(rounds, 4)} | ${pad(ms(w.engine), 9)} | ${pad(ms(w.bare), 9)} | ${pad(flag(w.engine / w.bare), 11)} | ${pad(ms(c.engine), 10)} | ${pad(ms(c.bare), 9)} | ${pad(flag(c.engine / c.bare), 15)} | ${pad((f.engine / f.bare).toFixed(3), 15)} | ${pad(`${ms(w.outside)} (${((100 * w.outside) / w.engine).toFixed(1)} %)`, 26)}${nodeCols}`);
}
if (!ortNode.module) console.log(`onnxruntime-node: ${ortNode.missing}`);
console.log('\nSession create (on the bytes the engine opens; the faster of two) and runs at 128 tokens per graphOptimizationLevel');
console.log('model | level | create | first run | later runs: median | CPU | fastest');
for (const r of creates) console.log(`${r.label} | ${r.level.padEnd(8)} | ${pad(ms(r.create), 9)} | ${pad(ms(r.first), 9)} | ${pad(ms(r.run), 9)} | ${pad(ms(r.cpu), 9)} | ${pad(ms(r.fastest), 9)}`);
