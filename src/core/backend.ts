/** Execution backends: the one home for their names and labels. Pure. */

/**
 * Execution backend a session actually used: onnxruntime-web in the panel (`webgpu`, `wasm`), or
 * onnxruntime-node in the extension host and the CLI (`native` on the CPU, `native-cuda` on an
 * NVIDIA GPU).
 */
export type Backend = 'webgpu' | 'wasm' | 'native' | 'native-cuda';
/** Requested backend (`attentionLens.backend`, the CLI's `--backend`): `auto` picks one per machine and model. */
export type BackendSetting = 'auto' | Backend;
/** The backends onnxruntime-web runs in the panel. */
export type WebBackend = Extract<Backend, 'webgpu' | 'wasm'>;
/** The backends onnxruntime-node runs. */
export type NativeBackend = Extract<Backend, 'native' | 'native-cuda'>;

const LONG: Record<Backend, string> = { webgpu: 'WebGPU', wasm: 'WebAssembly', native: 'the native engine (CPU)', 'native-cuda': 'the native engine (CUDA)' };
const SHORT: Record<Backend, string> = { webgpu: 'WebGPU', wasm: 'WASM', native: 'Native CPU', 'native-cuda': 'Native CUDA' };

/** "WebGPU" / "WebAssembly" / "the native engine (CPU)" for sentences, "WebGPU" / "WASM" / "Native CPU" for status lines. */
export function backendLabel(b: Backend, form: 'long' | 'short' = 'long'): string {
  return (form === 'long' ? LONG : SHORT)[b];
}

/** Whether onnxruntime-node runs `b` (in the extension host or the CLI) rather than the panel's onnxruntime-web. */
export function isNative(b: Backend | BackendSetting): b is NativeBackend {
  return b === 'native' || b === 'native-cuda';
}

/**
 * Whether `b` runs onnxruntime's CPU kernels: the ones that return GroupQueryAttention's weights,
 * and that keep float32 copies of float16 weights at optimization level `all`.
 */
export function onCpuKernels(b: Backend): boolean {
  return b === 'wasm' || b === 'native';
}

/** Parses a setting value; anything unknown is `auto`. */
export function parseBackendSetting(v: unknown): BackendSetting {
  return v === 'webgpu' || v === 'wasm' || v === 'native' || v === 'native-cuda' ? v : 'auto';
}
