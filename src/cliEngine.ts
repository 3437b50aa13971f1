/**
 * The CLI's engine: native (onnxruntime-node, every core, external data memory-mapped) by default,
 * CUDA when asked for, WebAssembly (onnxruntime-web, one thread, the panel's engine) with
 * `--backend wasm` or when the native binary cannot load here (said once on stderr).
 */
import * as ort from 'onnxruntime-web';
import type { CliBackend } from './cliArgs';
import { isNative } from './core/backend';
import { EngineError, type EngineOptions } from './core/engine/attentionEngine';
import { type ModelEngine, openEngine } from './core/engine/splitEngine';
import { type ModelInfo, engineFiles } from './models/modelFolder';
import { nativeModel, openNativeEngine } from './native/nativeEngine';

/** `info`'s model opened on `backend` (falling back as the module comment says); `warn` gets each notice. */
export async function openCliEngine(info: ModelInfo, backend: CliBackend, options: Pick<EngineOptions, 'mechanism' | 'queryKeys'>, warn: (line: string) => void): Promise<ModelEngine> {
  if (isNative(backend)) {
    try {
      const { engine, opened } = await openNativeEngine({ model: nativeModel(info), backend, mechanism: options.mechanism, queryKeys: options.queryKeys });
      if (opened.notice) warn(opened.notice);
      return engine;
    } catch (e) {
      if (!(e instanceof EngineError) || e.code !== 'native-unavailable') throw e;
      warn(`${e.message} Running on WebAssembly instead (--backend wasm).`);
    }
  }
  const files = engineFiles(info);
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal'; // errors arrive as exceptions with their message; ORT's coloured log lines stay out of stderr
  return openEngine(ort, files.bytes, 'wasm', files.label, { ...files.options, ...options });
}
