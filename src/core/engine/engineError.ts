/** Engine failures a user can act on: one class, a code for what went wrong. Pure. */

/**
 * What went wrong: `unsupported-op` names an operator the backend has no kernel for; `wasm-only`
 * a model whose attention only the CPU kernels return (run it there instead); `native-unavailable`
 * onnxruntime-node missing or failing to load on this platform (the webview's engines remain);
 * `worker-died` the native engine's worker ended mid-request (the next request starts a new one);
 * `not-on-demand` a layer whose weights are not softmax(scale·q·kᵀ) under a plain mask, so its
 * rows cannot be computed from its queries and keys (run it with its weights instead).
 */
export type EngineErrorCode =
  | 'corrupt-model' | 'no-attention' | 'unknown-input' | 'run-failed' | 'no-webgpu' | 'too-large' | 'no-mechanism' | 'unsupported-op' | 'wasm-only'
  | 'native-unavailable' | 'worker-died' | 'not-on-demand' | 'no-logits';

/** A failure the user can act on; `message` says what happened and what to do. */
export class EngineError extends Error {
  constructor(message: string, readonly code: EngineErrorCode) {
    super(message);
    this.name = 'EngineError';
  }
}
