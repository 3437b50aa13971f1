/**
 * The engine on a real GPU, without a browser: onnxruntime-web's WebGPU EP in Node through the
 * `webgpu` package (dawn.node), on the BERT-base-shaped model of tools/real-size, against
 * PyTorch-free baselines measured in the same process: a bare `InferenceSession.run` with every
 * attention read back, against the engine (attention kept on the GPU, the first layer read back for
 * the first picture, the rest after it), and WebAssembly (one thread, as in the webview). Run on a GPU machine by bench/gpu/run.sh;
 * prints a table and writes JSON to $OUT (or the working directory). Before the timings, a numeric
 * check of WebGPU against WebAssembly (bench/gpu/compareBackends.ts); GPU_BENCH_COMPARE=0 skips it,
 * GPU_BENCH_COMPARE=only runs it alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Ort from 'onnxruntime-web';
import { AttentionEngine, type OrtModule, allLayers } from '../../src/core/engine/attentionEngine';
import { exposeAttention } from '../../src/core/engine/graphSurgery';
import { type Comparison, compareBackends } from './compareBackends';

/** The few WebGPU types used here (dawn.node implements them; no @webgpu/types dependency). */
interface AdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter?: boolean;
}
interface Gpu {
  requestAdapter(): Promise<{ info: AdapterInfo } | null>;
}
type WriteBuffer = (buffer: unknown, offset: number, data: ArrayBufferView | ArrayBuffer, dataOffset?: number, size?: number) => void;

interface Row {
  backend: string;
  tokens: number;
  what: string;
  ms: number;
}

const rows: Row[] = [];
const now = () => performance.now();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeIt(n: number, f: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = now();
    await f();
    times.push(now() - t);
  }
  return median(times);
}

function ids(n: number): number[] {
  // Deterministic ids inside every vocabulary here; the first and last are the tokenizer's specials in spirit.
  return Array.from({ length: n }, (_, i) => (i === 0 ? 1 : i === n - 1 ? 2 : 5 + ((i * 7919) % 4000)));
}

function feeds(ort: OrtModule, session: Ort.InferenceSession, n: number): Record<string, Ort.Tensor> {
  const out: Record<string, Ort.Tensor> = {};
  const int64 = (f: (i: number) => number) => new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(f(i))), [1, n]);
  const tokenIds = ids(n);
  for (const name of session.inputNames) {
    if (name === 'input_ids') out[name] = int64((i) => tokenIds[i]);
    else if (name === 'attention_mask') out[name] = int64(() => 1);
    else if (name === 'token_type_ids') out[name] = int64(() => 0);
    else if (name === 'position_ids') out[name] = int64((i) => i);
  }
  return out;
}

async function main(): Promise<void> {
  const outDir = process.env.OUT ?? process.cwd();
  const log = (s: string) => console.log(s);
  // dawn.node: navigator.gpu and the WebGPU globals, before onnxruntime looks for them.
  const dawn = 'webgpu'; // installed on the GPU machine only (bench/gpu/prepare.sh), not a dependency
  const webgpu = (await import(dawn)) as unknown as { create(flags: string[]): Gpu; globals: Record<string, unknown> };
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
  // dawn.node's writeBuffer rejects SharedArrayBuffer-backed views, which onnxruntime's wasm memory always is.
  const queueProto = (webgpu.globals.GPUQueue as { prototype: { writeBuffer: WriteBuffer } }).prototype;
  const write = queueProto.writeBuffer;
  queueProto.writeBuffer = function (this: unknown, buffer, offset, data, dataOffset, size) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      // Same element type and offsets, in a plain ArrayBuffer.
      const Ctor = data.constructor as new (b: ArrayBuffer) => ArrayBufferView;
      const plain = new Uint8Array(data.byteLength);
      plain.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return write.call(this, buffer, offset, new Ctor(plain.buffer), dataOffset, size);
    }
    return write.call(this, buffer, offset, data, dataOffset, size);
  };
  const adapter = await gpu.requestAdapter();
  const info = adapter?.info;
  log(`adapter: ${info ? `${info.vendor} ${info.architecture} ${info.description} fallback=${info.isFallbackAdapter ?? 'n/a'}` : 'none'}`);

  const { ensureRealSizeModel } = (await import(path.join(process.cwd(), 'tools/real-size/generate.bundle.mjs'))) as { ensureRealSizeModel(shape: string): Promise<string> };
  let t = now();
  const folder = await ensureRealSizeModel('bert-base');
  log(`BERT-base shape ready in ${((now() - t) / 1000).toFixed(1)} s: ${folder}`);
  const bytes = new Uint8Array(fs.readFileSync(path.join(folder, 'onnx/model.onnx')));
  const surgery = exposeAttention(bytes);
  const names = surgery.found.map((f) => f.name);
  log(`${names.length} attention outputs exposed; model ${(bytes.byteLength / 1e6).toFixed(0)} MB`);

  const ort = (await import('onnxruntime-web/webgpu')) as unknown as OrtModule;
  ort.env.wasm.numThreads = 1; // as in the webview
  ort.env.logLevel = 'error';
  const lengths = (process.env.GPU_BENCH_LENGTHS ?? '128,512').split(',').map(Number); // a short list for a smoke test without a GPU

  const wanted = (process.env.GPU_BENCH_BACKENDS ?? 'webgpu,wasm').split(',');
  const backends = (['webgpu', 'wasm'] as const).filter((b) => wanted.includes(b) && (b === 'wasm' || adapter));
  const compareMode = process.env.GPU_BENCH_COMPARE ?? '1';
  let comparisons: Comparison[] = [];
  if (compareMode !== '0') {
    comparisons = await compareBackends(ort, bytes, backends, lengths, ids, log);
    fs.writeFileSync(path.join(outDir, 'compareBackends.json'), JSON.stringify({ adapter: info && { vendor: info.vendor, architecture: info.architecture, description: info.description }, comparisons }, null, 1));
  }
  for (const backend of compareMode === 'only' ? [] : backends) {
    t = now();
    const engine = await AttentionEngine.create(ort, bytes, backend);
    rows.push({ backend, tokens: 0, what: 'engine create (surgery + session)', ms: now() - t });
    t = now();
    await engine.run({ ids: ids(32) }).then(allLayers);
    rows.push({ backend, tokens: 32, what: 'first run of the session (kernels compiled)', ms: now() - t });
    for (const n of lengths) {
      const reps = backend === 'wasm' && n === 512 ? 1 : 3;
      t = now();
      await engine.run({ ids: ids(n) }).then(allLayers);
      rows.push({ backend, tokens: n, what: 'first run at this length, all layers', ms: now() - t });
      let layers = 0;
      const firsts: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = now();
        const out = await engine.run({ ids: ids(n) });
        firsts.push(now() - t0);
        layers = out.layers.length;
        await out.rest; // outside the timed part: the next run must not overlap it
      }
      rows.push({ backend, tokens: n, what: 'engine.run → first layer for the views (first picture)', ms: median(firsts) });
      rows.push({ backend, tokens: n, what: `engine.run + rest → all layers as Float32Arrays (first picture had ${layers})`, ms: await timeIt(reps, () => engine.run({ ids: ids(n) }).then(allLayers)) });
    }
    await engine.dispose();
    t = now();
    const again = await AttentionEngine.create(ort, bytes, backend);
    await again.run({ ids: ids(128) }).then(allLayers);
    rows.push({ backend, tokens: 128, what: 'second session of the same model: create + first run', ms: now() - t });
    await again.dispose();

    const session = await ort.InferenceSession.create(surgery.bytes, { executionProviders: [backend], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    await session.run(feeds(ort, session, 32), names);
    for (const n of lengths) {
      const reps = backend === 'wasm' && n === 512 ? 1 : 3;
      const f = feeds(ort, session, n);
      await session.run(f, names);
      rows.push({ backend, tokens: n, what: 'baseline: bare session.run, all attentions read back', ms: await timeIt(reps, () => session.run(f, names)) });
    }
    await session.release();

    if (backend === 'webgpu') {
      // How reading back costs: each layer with getData() (buffer kept until dispose) or getData(true) (released at once).
      const location = Object.fromEntries(names.map((nm) => [nm, 'gpu-buffer' as const]));
      const onGpu = await ort.InferenceSession.create(surgery.bytes, { executionProviders: ['webgpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3, preferredOutputLocation: location });
      for (const n of lengths) {
        const f = feeds(ort, onGpu, n);
        for (const [label, release, count] of [['nothing read back', false, 0], ['one layer, getData()', false, 1], ['all layers, getData()', false, names.length], ['all layers, getData(true)', true, names.length]] as const) {
          const ms = await timeIt(3, async () => {
            const r = await onGpu.run(f, names);
            for (const nm of names.slice(0, count)) await r[nm].getData(release);
            for (const v of Object.values(r)) v.dispose();
          });
          rows.push({ backend, tokens: n, what: `gpu-buffer session.run, ${label}`, ms });
        }
      }
      await onGpu.release();
    }
  }

  if (compareMode === 'only') return;
  log('\nbackend | tokens | what | ms');
  for (const r of rows) log(`${r.backend} | ${r.tokens} | ${r.what} | ${r.ms.toFixed(1)}`);
  fs.writeFileSync(path.join(outDir, 'engineOnGpu.json'), JSON.stringify({ adapter: info && { vendor: info.vendor, architecture: info.architecture, description: info.description }, rows, comparisons }, null, 1));
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
