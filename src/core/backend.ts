/** Execution backends: the one home for their names and labels. Pure. */

/** Execution backend a session actually used. */
export type Backend = 'webgpu' | 'wasm';
/** Requested backend (`attentionLens.backend`): `auto` picks WebGPU when an adapter exists. */
export type BackendSetting = 'auto' | Backend;

const LONG: Record<Backend, string> = { webgpu: 'WebGPU', wasm: 'WebAssembly' };
const SHORT: Record<Backend, string> = { webgpu: 'WebGPU', wasm: 'WASM' };

/** "WebGPU" / "WebAssembly" for sentences, "WebGPU" / "WASM" for status lines. */
export function backendLabel(b: Backend, form: 'long' | 'short' = 'long'): string {
  return (form === 'long' ? LONG : SHORT)[b];
}

/** Parses a setting value; anything unknown is `auto`. */
export function parseBackendSetting(v: unknown): BackendSetting {
  return v === 'webgpu' || v === 'wasm' ? v : 'auto';
}
