/**
 * onnxruntime-web inside the webview: loading the shipped bundle a backend needs, choosing the
 * backend and warming the runtime up. Browser only; the runner decides what to do with them.
 */
import type { Backend, BackendSetting } from '../../src/core/backend';
import type { GpuCaps } from '../../src/core/engine/backendLimits';
import type { MachineChoice } from './runner';
import { EngineError, type OrtModule } from '../../src/core/engine/attentionEngine';
import { warmUpModel } from '../../src/core/engine/warmUp';

/** Webview URLs of one onnxruntime bundle: the module and its Emscripten loader. */
export interface OrtBundle {
  bundle: string;
  mjs: string;
}

/**
 * Imports an ort bundle shipped with the extension (never a CDN), gives it its WebAssembly binary
 * (read from the host: webview resources load at a few MB/s) and warms it up: the first session
 * compiles the binary, seconds on a slow machine, so it is done on a one-operator model while the
 * real model is still being read. WebAssembly runs use the WASM-only bundle (14 MB binary); only
 * WebGPU needs the larger asyncify build (26 MB). Call once per bundle (the runner keeps the result).
 */
export async function loadOrt(files: OrtBundle, binary: Uint8Array, backend: Backend): Promise<OrtModule> {
  const m = (await import(/* @vite-ignore */ files.bundle)) as OrtModule & { default?: OrtModule };
  const ort = (m.InferenceSession ? m : m.default) as OrtModule;
  ort.env.wasm.numThreads = 1; // webviews are not cross-origin isolated
  ort.env.wasm.wasmPaths = { mjs: files.mjs };
  ort.env.wasm.wasmBinary = binary;
  // WebAssembly inference runs in onnxruntime's proxy worker, off the panel's UI thread: a 5 s run at
  // full length leaves hovering and progress alive. (WebGPU cannot run in the proxy; its work is on the GPU.)
  ort.env.wasm.proxy = backend === 'wasm';
  ort.env.logLevel = 'fatal'; // failures arrive as exceptions; no log lines in the webview console
  const session = await ort.InferenceSession.create(warmUpModel(), { executionProviders: [backend], logSeverityLevel: 4 });
  await session.release();
  return ort;
}

interface Adapter {
  isFallbackAdapter?: boolean;
  limits?: { maxBufferSize?: number };
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
}

/** "NVIDIA ampere", from what the adapter says about itself. */
function adapterName(a: Adapter): string {
  const i = a.info ?? {};
  return [i.vendor, i.architecture, i.description].filter((s) => s && s.trim()).join(' ') || 'an unnamed adapter';
}

/** Whether the adapter renders in software on the CPU (SwiftShader, or one that says it is a fallback). */
export function isSoftwareAdapter(a: Adapter): boolean {
  const i = a.info ?? {};
  return a.isFallbackAdapter === true || i.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|software|cpu/i.test(`${i.vendor ?? ''} ${i.architecture ?? ''} ${i.description ?? ''}`);
}

/**
 * The backend for `setting`, and why. `auto` takes WebGPU only on a hardware adapter: a software
 * one (SwiftShader) is many times slower than WebAssembly. `webgpu` takes any adapter.
 */
export async function chooseBackend(setting: BackendSetting): Promise<MachineChoice> {
  if (setting === 'wasm') return { backend: 'wasm', reason: 'attentionLens.backend is "wasm"' };
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
  let reason = 'this webview has no WebGPU (navigator.gpu is missing)';
  let caps: GpuCaps | undefined;
  if (gpu) {
    try {
      const adapter = await gpu.requestAdapter();
      // onnxruntime asks the device for the adapter's own maxBufferSize: the largest tensor it can hold.
      caps = adapter ? { maxBufferSize: adapter.limits?.maxBufferSize ?? 256 * 2 ** 20, hardware: !isSoftwareAdapter(adapter) } : undefined;
      if (adapter && setting === 'webgpu') return { backend: 'webgpu', reason: `attentionLens.backend is "webgpu" (adapter: ${adapterName(adapter)})`, gpu: caps };
      if (adapter && !isSoftwareAdapter(adapter)) return { backend: 'webgpu', reason: `WebGPU on a hardware adapter (${adapterName(adapter)})`, gpu: caps };
      reason = adapter ? `the only WebGPU adapter renders in software (${adapterName(adapter)}), slower than WebAssembly; set attentionLens.backend to "webgpu" to use it anyway` : 'no WebGPU adapter is available';
    } catch (e) {
      reason = `requesting a WebGPU adapter failed (${(e as Error).message})`;
    }
  }
  if (setting === 'webgpu') {
    throw new EngineError(`attentionLens.backend is "webgpu" but ${reason}. Set attentionLens.backend to "auto" or "wasm".`, 'no-webgpu');
  }
  return { backend: 'wasm', reason: `WebGPU not used: ${reason}`, gpu: caps };
}
