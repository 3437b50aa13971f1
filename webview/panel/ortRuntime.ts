/**
 * onnxruntime-web inside the webview: loading the shipped bundle, finding a WebGPU adapter, and
 * fetching model bytes with progress. Browser only; the runner decides what to do with them.
 */
import type { Backend, BackendSetting } from '../../src/core/backend';
import { EngineError, type OrtModule } from '../../src/core/engine/attentionEngine';
import { BYTES_PER_MB } from '../../src/core/units';

let ortPromise: Promise<OrtModule> | undefined;

/** Imports the ort bundle shipped with the extension (never a CDN) and points it at its WASM files. */
export function loadOrt(bundleUrl: string, wasmMjs: string, wasm: string): Promise<OrtModule> {
  ortPromise ??= (import(/* @vite-ignore */ bundleUrl) as Promise<OrtModule & { default?: OrtModule }>).then((m) => {
    const ort = (m.InferenceSession ? m : m.default) as OrtModule;
    ort.env.wasm.numThreads = 1; // webviews are not cross-origin isolated
    ort.env.wasm.wasmPaths = { mjs: wasmMjs, wasm };
    ort.env.logLevel = 'fatal'; // failures arrive as exceptions; no log lines in the webview console
    return ort;
  });
  return ortPromise;
}

/** The backend to use for `setting`, and why WebGPU was not used when it was not. */
export async function chooseBackend(setting: BackendSetting): Promise<{ backend: Backend; fallbackReason?: string }> {
  if (setting === 'wasm') return { backend: 'wasm' };
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<object | null> } }).gpu;
  let reason = 'this webview has no WebGPU (navigator.gpu is missing)';
  if (gpu) {
    try {
      if (await gpu.requestAdapter()) return { backend: 'webgpu' };
      reason = 'no WebGPU adapter is available';
    } catch (e) {
      reason = `requesting a WebGPU adapter failed (${(e as Error).message})`;
    }
  }
  if (setting === 'webgpu') {
    throw new EngineError(`attentionLens.backend is "webgpu" but ${reason}. Set attentionLens.backend to "auto" or "wasm".`, 'no-webgpu');
  }
  return { backend: 'wasm', fallbackReason: reason };
}

/** Fetches model bytes from an extension/webview URI, reporting progress in bytes. */
export async function fetchModel(url: string, label: string, onProgress: (loaded: number, total: number) => void): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new EngineError(`${label} could not be read (${(e as Error).message}). Check that the model folder still exists.`, 'corrupt-model');
  }
  if (!res.ok) throw new EngineError(`${label} could not be read (HTTP ${res.status}). Check that the model folder still exists and is readable.`, 'corrupt-model');
  const total = Number(res.headers.get('content-length') ?? 0);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  let reported = -1;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    // One report per whole percent (or per MB without a length): chunks arrive by the hundred.
    const step = total ? Math.floor((loaded / total) * 100) : Math.floor(loaded / BYTES_PER_MB);
    if (step !== reported) {
      reported = step;
      onProgress(loaded, total);
    }
  }
  const out = new Uint8Array(loaded);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
