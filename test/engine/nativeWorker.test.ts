// The extension host's native engine: onnxruntime-node on a worker thread (dist/nativeWorker.js),
// as the panel uses it. Its attention is the in-process native engine's, a generation's key/value
// cache stays in the worker behind a handle, runs at once are answered in order, and a worker that ends mid-request (stopped, or out of memory) fails what it had with a
// message while the next request gets a fresh worker.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/core/engine/engineError';
import type { NativeInput, NativeModel } from '../../src/core/protocol/engine';
import type { ModelDescriptor } from '../../src/core/protocol/panel';
import { generate } from '../../src/core/generation/generate';
import { HostEngines } from '../../webview/panel/hostEngine';
import { readModelFolder } from '../../src/models/modelFolder';
import { NativeEngines, nativeAvailability, workerScript } from '../../src/native/nativeEngines';
import { nativeModel, openNativeEngine } from '../../src/native/nativeEngine';
import { layerWeights } from '../../src/core/queryKeys';
import { maxDifference } from '../llmStandIns';
import { FIXTURES, ROOT } from './cli';

const SCRIPT = workerScript(path.join(ROOT, 'dist'));
const IDS = Int32Array.from([2, 17, 431, 88, 1203, 17, 952, 3]); // below every fixture's vocabulary size

function model(name: string): NativeModel {
  return nativeModel(readModelFolder(path.join(FIXTURES, 'models', name)));
}

let engines: NativeEngines | undefined;
afterEach(() => engines?.dispose());

describe('the native engine on a worker thread', () => {
  it('is available on this machine, from the binary onnxruntime-node ships for it', () => {
    expect(fs.existsSync(SCRIPT), 'run npm run build first').toBe(true);
    expect(nativeAvailability()).toEqual({ available: true, reason: `onnxruntime-node for ${process.platform}-${process.arch}` });
  });

  it('gives the attention the native engine gives in-process, for a model whose attention comes from graph surgery', async () => {
    engines = new NativeEngines(SCRIPT);
    const opened = await engines.open({ model: model('gpt2-plain'), backend: 'native' });
    expect(opened.backend).toBe('native');
    const out = await engines.run(opened.engine, { ids: IDS });
    const { engine } = await openNativeEngine({ model: model('gpt2-plain'), backend: 'native' });
    const direct = await engine.run({ ids: IDS });
    await engine.dispose();
    expect(out.layers.map((l) => [l.name, l.heads, l.queries, l.keys])).toEqual(direct.layers.map((l) => [l.name, l.heads, l.queries, l.keys]));
    out.layers.forEach((l, i) => expect(Array.from(l.data)).toEqual(Array.from(direct.layers[i].data)));
  });

  it('returns a long input\'s queries and keys across the thread, giving the weights the in-process engine returns', async () => {
    engines = new NativeEngines(SCRIPT);
    const { engine } = await engines.open({ model: model('llama-attn'), backend: 'native', queryKeys: true });
    const out = await engines.run(engine, { ids: IDS });
    expect(out.layers).toEqual([]);
    const { engine: direct } = await openNativeEngine({ model: model('llama-attn'), backend: 'native' });
    const weights = (await direct.run({ ids: IDS })).layers;
    await direct.dispose();
    expect(out.queryKeys!.map((l) => [l.name, l.heads, l.kvHeads, l.causal])).toEqual(weights.map((l) => [l.name, 4, 2, true]));
    out.queryKeys!.forEach((l, i) => expect(maxDifference(layerWeights(l).data, weights[i].data)).toBeLessThanOrEqual(1e-6));
  });

  it('keeps a generation’s key/value cache in the worker: the page holds a handle, and gets PyTorch’s tokens (GPT-2, split T5)', async () => {
    const host = new NativeEngines(SCRIPT);
    engines = host;
    for (const name of ['gpt2-past', 't5-split']) {
      const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'models', name, 'reference.json'), 'utf8')) as { prompt: number[]; decoderStart?: number; steps: Array<{ token: number }> };
      const opened = await host.open({ model: model(name), backend: 'native' });
      expect(opened.hasPast).toBe(true);
      // The page's side, its messages carried to the host's engines as the panel carries them.
      const sent: NativeInput[] = [];
      const page: HostEngines = new HostEngines((m) => {
        if (m.type === 'engine/open') page.receive({ type: 'engine/didOpen', requestId: m.requestId, engine: opened.engine, backend: opened.backend, hasLogits: opened.hasLogits, hasPast: opened.hasPast });
        if (m.type === 'engine/run') {
          sent.push(m.input);
          host.run(m.engine, m.input, m.mechanismOf).then(
            (result) => page.receive({ type: 'engine/didRun', requestId: m.requestId, result, more: 0 }),
            (e: EngineError) => page.receive({ type: 'engine/didFail', requestId: m.requestId, message: e.message, code: e.code }),
          );
        }
      });
      const engine = await page.open({ onnxFile: name } as ModelDescriptor, 'native');
      expect(engine.hasPast).toBe(true);
      const { steps } = await generate({ hasLogits: true, hasPast: engine.hasPast, run: (i, o) => engine.run(i, o) }, ref.prompt, { maxNewTokens: ref.steps.length, eos: [], decoderStart: ref.decoderStart });
      expect(steps.map((s) => s.token)).toEqual(ref.steps.map((s) => s.token));
      // The first run keeps a cache; each later one sends one token and the handle of the run before.
      expect(sent.map((i) => [i.cache === true, i.past !== undefined, (i.decoderIds ?? i.ids).length])).toEqual(ref.steps.map((_, k) => [true, k > 0, k === 0 && ref.decoderStart === undefined ? ref.prompt.length : 1]));
      // A cache a newer run replaced is gone: said, not guessed at.
      await expect(engine.run({ ids: [1], decoderIds: [1], past: { length: 1, tensors: new Map(), handle: sent.length - 1 } })).rejects.toThrow(/no longer holds this key\/value cache/);
    }
  });

  it('hands an opening begun ahead to the open that asks for the same model, and releases one nobody takes', async () => {
    engines = new NativeEngines(SCRIPT);
    const ahead = { model: model('gpt2-plain'), backend: 'native' as const };
    engines.openAhead(ahead); // engine 1, opening now
    const other = await engines.open({ ...ahead, queryKeys: true }); // another choice: opened anew
    const taken = await engines.open({ model: model('gpt2-plain'), backend: 'native' });
    expect([other.engine, taken.engine]).toEqual([2, 1]);
    expect((await engines.run(taken.engine, { ids: IDS })).layers.length).toBeGreaterThan(0);
    // Taken once: the next open of the same model opens it anew.
    expect((await engines.open(ahead)).engine).toBe(3);
    const late = { model: model('llama-attn'), backend: 'native' as const };
    engines.openAhead(late, { keepMs: 50 }); // engine 4, not taken in time
    await new Promise((r) => setTimeout(r, 200));
    expect((await engines.open(late)).engine).toBe(5); // the worker answers in order: engine 4 was opened, then released
    await expect(engines.run(4, { ids: IDS })).rejects.toThrow(/never given or has released/);
  });

  it('runs ahead what the page will ask first, and hands it to that run; another input, a mechanism run or a second run runs anew', async () => {
    engines = new NativeEngines(SCRIPT);
    const sent: string[] = [];
    const request = (engines as unknown as { request(m: { type: string }): Promise<unknown> }).request.bind(engines);
    Object.assign(engines, { request: (m: { type: string }) => (sent.push(m.type), request(m)) });
    const ahead = { model: model('gpt2-plain'), backend: 'native' as const };
    const asked: boolean[] = [];
    engines.openAhead(ahead, { input: (opened) => (asked.push(opened.hasLogits === true), { ids: IDS }) });
    const { engine } = await engines.open(ahead);
    await new Promise((r) => setTimeout(r, 0)); // the page's request comes at least a task later
    expect(sent).toEqual(['open', 'run']); // begun as soon as the model was open, before the page asks
    expect(asked).toEqual([true]); // from what the model turned out to be (the page's choice of logits)
    const first = await engines.run(engine, { ids: Int32Array.from(IDS) });
    expect(sent).toEqual(['open', 'run']); // the page's first run is the one begun ahead
    expect(first.layers[0].queries).toBe(IDS.length);
    const again = await engines.run(engine, { ids: IDS });
    expect(sent).toEqual(['open', 'run', 'run']); // taken once
    expect(again.layers.map((l) => Array.from(l.data))).toEqual(first.layers.map((l) => Array.from(l.data)));

    const other = { model: model('bert-attn'), backend: 'native' as const };
    engines.openAhead(other, { input: () => ({ ids: IDS }) });
    const b = await engines.open(other);
    await new Promise((r) => setTimeout(r, 0));
    expect((await engines.run(b.engine, { ids: IDS.slice(0, 5) })).layers[0].queries).toBe(5); // another input: its own run, after the one ahead
    expect(sent.slice(3)).toEqual(['open', 'run', 'run']);
    engines.openAhead({ ...other, queryKeys: true }, { input: () => ({ ids: IDS }) });
    const c = await engines.open({ ...other, queryKeys: true });
    await new Promise((r) => setTimeout(r, 0));
    await engines.run(c.engine, { ids: IDS }, ['encoder_attentions.0']).catch(() => undefined); // a mechanism run: its own
    expect(sent.slice(6)).toEqual(['open', 'run', 'run']);

    // A second request for the same model before it is open: its tokens run ahead, not the first's.
    const llama = { model: model('llama-attn'), backend: 'native' as const };
    engines.openAhead(llama, { input: () => ({ ids: IDS }) });
    engines.openAhead(llama, { input: () => ({ ids: IDS.slice(0, 3) }) });
    const d = await engines.open(llama);
    await new Promise((r) => setTimeout(r, 0));
    const latest = await engines.run(d.engine, { ids: IDS.slice(0, 3) });
    expect([latest.layers[0].queries, latest.ranAhead]).toEqual([3, true]);
    expect(sent.slice(9)).toEqual(['open', 'run']);
    // An opening its timer released before it was open: nothing runs on it.
    engines.openAhead({ model: model('gpt2-attn'), backend: 'native' }, { input: () => ({ ids: IDS }), keepMs: 0 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(sent.slice(11)).toEqual(['open', 'dispose']);
  });

  it('answers two runs sent at once, each with its own input', async () => {
    engines = new NativeEngines(SCRIPT);
    const { engine } = await engines.open({ model: model('bert-attn'), backend: 'native' });
    const [a, b] = await Promise.all([engines.run(engine, { ids: IDS }), engines.run(engine, { ids: IDS.slice(0, 5) })]);
    expect([a.layers[0].queries, b.layers[0].queries]).toEqual([8, 5]);
  });

  it('falls back to the CPU, saying why, when CUDA is asked for and this machine has none', async () => {
    engines = new NativeEngines(SCRIPT);
    const opened = await engines.open({ model: model('bert-attn'), backend: 'native-cuda' });
    expect(opened.backend).toBe('native');
    expect(opened.notice).toMatch(/^CUDA is not available here \(.*\): onnxruntime-node's CUDA provider needs .*; the native engine \(CPU\) runs onnx\/model\.onnx instead\.$/);
  });

  it('fails the run in hand when the worker is stopped mid-run; the next request starts a fresh worker', async () => {
    engines = new NativeEngines(SCRIPT);
    const { engine } = await engines.open({ model: model('bert-attn'), backend: 'native' });
    const running = engines.run(engine, { ids: IDS }).catch((e: unknown) => e);
    await engines.stop('you stopped it');
    expect(await running).toMatchObject({ code: 'worker-died', message: expect.stringMatching(/^The native engine ended before it answered: you stopped it\. Run again: a fresh engine starts/) });
    expect(engines.running).toBe(false);
    // The page's engine still works: the next runs (two at once) open the model again, once, on a fresh worker.
    const again = await Promise.all([engines.run(engine, { ids: IDS }), engines.run(engine, { ids: IDS.slice(0, 4) })]);
    expect(again.map((r) => r.layers[0].queries)).toEqual([8, 4]);
    expect(engines.running).toBe(true);
    // A released engine is not reopened.
    await engines.release(engine);
    await expect(engines.run(engine, { ids: IDS })).rejects.toBeInstanceOf(EngineError);
  });

  it('can be stopped mid-run again and again without bringing down its process (a thread ended inside onnxruntime-node\'s run aborted it)', async () => {
    // In a process of its own, so that an abort ('terminate called after throwing an instance of
    // Napi::Error') fails this test instead of the test run: 40 runs stopped 0–20 ms after they
    // start. Terminating the thread instead aborted that process in 2 of 3 such runs.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-stop-'));
    try {
      const script = path.join(dir, 'stop.mjs');
      await esbuild.build({
        stdin: { contents: "export { NativeEngines, workerScript } from './src/native/nativeEngines'; export { readModelFolder } from './src/models/modelFolder'; export { nativeModel } from './src/native/nativeEngine';", resolveDir: ROOT, loader: 'ts' },
        bundle: true, platform: 'node', format: 'esm', external: ['onnxruntime-node', 'onnxruntime-web', 'tokenizers'], outfile: path.join(ROOT, 'node_modules', '.cache', `stop-test-${process.pid}.mjs`), logLevel: 'error',
        banner: { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' },
      });
      fs.writeFileSync(script, `
        const { NativeEngines, workerScript, readModelFolder, nativeModel } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'node_modules', '.cache', `stop-test-${process.pid}.mjs`)).href)});
        const alive = setInterval(() => {}, 1000);
        const engines = new NativeEngines(${JSON.stringify(SCRIPT)});
        const model = nativeModel(readModelFolder(${JSON.stringify(path.join(FIXTURES, 'models', 'gpt2-plain'))}));
        const ids = Int32Array.from({ length: 64 }, (_, i) => 2 + (i % 50));
        let failed = 0;
        for (let i = 0; i < 40; i++) {
          const { engine } = await engines.open({ model, backend: 'native' });
          const running = engines.run(engine, { ids }).then(() => 0, () => 1);
          await new Promise((r) => setTimeout(r, (i * 7) % 20));
          await engines.stop('stopped');
          failed += await running;
        }
        await engines.dispose();
        clearInterval(alive);
        console.log('stopped 40 times; runs cut short: ' + failed);
      `);
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 240_000 });
      expect(r.stderr).not.toMatch(/terminate called|Napi::Error/);
      expect([r.status, r.signal]).toEqual([0, null]);
      expect(r.stdout).toMatch(/^stopped 40 times; runs cut short: \d+$/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(path.join(ROOT, 'node_modules', '.cache', `stop-test-${process.pid}.mjs`), { force: true });
    }
  });

  it('survives a worker that runs out of memory: says so, and each later request gets a fresh worker', async () => {
    // A JavaScript heap too small for reading gpt2-plain's graph: the worker dies of it, the host lives on.
    engines = new NativeEngines(SCRIPT, { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 1 });
    for (let i = 0; i < 2; i++) {
      const err = await engines.open({ model: model('gpt2-plain'), backend: 'native' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'worker-died', message: expect.stringMatching(/^The native engine ended before it answered: .*memory.* \(out of memory: select less text, or choose a smaller variant of the model\)\. Run again/) });
      expect(engines.running).toBe(false);
    }
  });
});
