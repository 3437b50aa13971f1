// `npm run bench:generate`: generation with attention (issue 25) against plain generation without
// it, same model, same run. Plain: a bare `InferenceSession.run` of the model's own file (opened
// with the engine's session options) fetching
// only the logits, greedy, the growing sequence run again at each step. Ours: `generate` (the CLI's
// and the tests'), the same re-runs through the engine (graph surgery where the model has no
// attention outputs), keeping every step's attention rows in every layer and head and the
// alternatives. Both must choose the same tokens. On onnxruntime-node (native CPU, the CLI's
// default) and onnxruntime-web (WebAssembly, one thread, the panel's), on the bundled default
// model and the Qwen2.5-0.5B-shaped q4 stand-in (tools/real-size/llm.mjs, generated into the cache
// on first use; its export takes past key values, fed empty, and returns the last position's logits).
//
// Options (environment): BENCH_MODELS (default, qwen2.5-0.5b; default both), BENCH_NEW (new tokens;
// default 32 for the bundled model, 8 for the stand-in, whose WebAssembly steps take seconds).
import * as path from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import { realSizeCacheDir } from '../tools/real-size/generate.mjs';
import { ensureLlmVariant } from '../tools/real-size/llm.mjs';
import { importFromSrc } from './srcModules.mjs';

const root = path.resolve(import.meta.dirname, '..');
const MODELS = (process.env.BENCH_MODELS ?? 'default,qwen2.5-0.5b').split(',').map((s) => s.trim()).filter(Boolean);
const NEW = process.env.BENCH_NEW === undefined ? undefined : Number(process.env.BENCH_NEW);
const PROMPT = 'In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep.';

const b = await importFromSrc([
  "export { AttentionEngine } from './src/core/engine/attentionEngine';",
  "export { inputFeeds } from './src/core/engine/inputFeeds';",
  "export { openSession } from './src/core/engine/session';",
  "export { generate } from './src/core/generation/generate';",
  "export { argmax } from './src/core/generation/sampling';",
  "export { readModelFolder, engineFiles } from './src/models/modelFolder';",
  "export { ModelTokenizer } from './src/models/tokenizer';",
  "export { nativeModel, openNativeEngine, loadNativeOrt } from './src/native/nativeEngine';",
]);
ortWeb.env.wasm.numThreads = 1;
ortWeb.env.logLevel = 'fatal';
const ortNode = b.loadNativeOrt();

const folders = { default: path.join(root, 'media/models/tiny-causal') };
console.log('generation, greedy, the growing sequence run again each step; tokens per second (wall, median of alternating runs), plain = a bare session of the same file fetching only the logits');
console.log('model | engine | prompt tokens | new tokens | plain | with attention | with ÷ plain | same tokens');
for (const name of MODELS) {
  const made = folders[name] ? { folder: folders[name] } : ensureLlmVariant(realSizeCacheDir(), name, 'q4', { log: (l) => console.error(l) });
  const folder = made.folder;
  const info = b.readModelFolder(folder, made.onnx);
  const tokenizer = b.ModelTokenizer.load(folder);
  const prompt = (await tokenizer.tokenize(PROMPT, info.maxPositions)).tokens.map((t) => t.id);
  const steps = NEW ?? (name === 'default' ? 32 : 8);
  const files = b.engineFiles(info);
  for (const [label, ort, open] of [
    ['native', ortNode, async () => (await b.openNativeEngine({ model: b.nativeModel(info), backend: 'native' })).engine],
    ['wasm', ortWeb, () => b.AttentionEngine.create(ortWeb, files.bytes, 'wasm', files.label, files.options)],
  ]) {
    // Plain: the model's own file, opened as the engine opens its sessions, logits only.
    const session = await b.openSession(ort, files.bytes, label, files.label, files.options.externalData ?? []);
    const plain = async () => {
      const ids = [...prompt];
      for (let i = 0; i < steps; i++) {
        const out = await session.run(b.inputFeeds(ort, session, { ids }), ['logits']);
        const t = out.logits, rows = Number(t.dims[1]), vocab = Number(t.dims[2]); // every position's, or the last one's
        ids.push(b.argmax(t.data.subarray((rows - 1) * vocab, rows * vocab)));
        for (const v of Object.values(out)) v.dispose?.();
      }
      return ids.slice(prompt.length);
    };
    const engine = await open();
    const ours = async () => (await b.generate(engine, prompt, { maxNewTokens: steps, eos: [] })).steps.map((s) => s.token);
    // Alternating timed runs after a warm-up (first runs allocate); the median of each. Small models
    // take milliseconds a step, so several runs; the 0.5B stand-in, one.
    const runs = name === 'default' ? 7 : 1;
    const timed = async (f) => {
      const t0 = performance.now();
      const tokens = await f();
      return { ms: performance.now() - t0, tokens };
    };
    await plain();
    await ours();
    const p = [], o = [];
    for (let i = 0; i < runs; i++) {
      p.push(await timed(plain));
      o.push(await timed(ours));
    }
    await engine.dispose();
    await session.release();
    const median = (xs) => [...xs].sort((a, c) => a.ms - c.ms)[Math.floor(xs.length / 2)];
    const [mp, mo] = [median(p), median(o)];
    const rate = (ms) => `${(steps / (ms / 1000)).toFixed(1)} tok/s`;
    const same = [...p, ...o].every((r) => r.tokens.join(',') === p[0].tokens.join(','));
    console.log(`${name} | ${label} | ${prompt.length} | ${steps} | ${rate(mp.ms)} | ${rate(mo.ms)} | ${(mp.ms / mo.ms).toFixed(2)} | ${same ? 'yes' : 'NO'}`);
  }
}
