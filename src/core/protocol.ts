/**
 * Messages between the extension host and the attention panel webview. Large numeric data
 * crosses as typed arrays. Names follow `scope/verb`.
 */
import type { AttentionKind } from './attention';
import type { TokenInfo } from './tokens';

/** Requested execution backend (`attentionLens.backend`). */
export type BackendSetting = 'auto' | 'webgpu' | 'wasm';

/** What the webview needs to know about the model it runs. */
export interface ModelDescriptor {
  id: string;
  label: string;
  architecture: string;
  /** `asWebviewUri` of the ONNX file. */
  onnxUri: string;
  /** ONNX file name relative to the model folder, for messages. */
  onnxLabel: string;
  causal: boolean;
  /** Fixture model with random weights: its attention shows plumbing, not language. */
  untrained: boolean;
}

/** One inspection request. */
export interface RunRequest {
  runId: number;
  model: ModelDescriptor;
  backend: BackendSetting;
  tokens: TokenInfo[];
  ids: Int32Array;
  decoderTokens?: TokenInfo[];
  decoderIds?: Int32Array;
  /** Shown above the view, e.g. when the selection was truncated. */
  notice?: string;
  maxLinksPerQuery: number;
}

/** Top attended keys of every query for the view the user has chosen in the panel. */
export interface ViewSummary {
  runId: number;
  kind: AttentionKind;
  layer: number;
  /** Heads averaged into this summary (one entry when a single head is shown). */
  heads: number[];
  /** Human-readable scope, e.g. "Layer 2 · head 3". */
  label: string;
  k: number;
  queries: number;
  /** `queries * k` key indices, best first; -1 pads rows with fewer keys. */
  keyIndex: Int32Array;
  /** `queries * k` weights matching `keyIndex`. */
  weight: Float32Array;
}

/** Host → webview. */
export type ToWebview =
  /** Start (or restart) an inspection; replaces any run in progress. */
  | { type: 'run/start'; request: RunRequest }
  /** Highlight a query token in the panel (the editor cursor moved onto it); -1 clears. */
  | { type: 'editor/focusToken'; runId: number; index: number };

/** Webview → host. */
export type FromWebview =
  /** The webview loaded and asks for the current request. */
  | { type: 'ready' }
  /** Progress of a run, for the panel's and the host's progress display. */
  | { type: 'run/progress'; runId: number; stage: 'runtime' | 'model' | 'inference' | 'render'; message: string }
  /** The model ran; `millis` is the inference time. */
  | { type: 'run/done'; runId: number; backend: 'webgpu' | 'wasm'; millis: number; fallbackReason?: string }
  /** The run failed with a message for the user. */
  | { type: 'run/failed'; runId: number; message: string }
  /** The layer/head selection changed; the editor shows this summary. */
  | { type: 'view/summary'; summary: ViewSummary };

/** Compile-time exhaustiveness check for `switch` over message types. */
export function assertNever(x: never): never {
  throw new Error(`unexpected message ${JSON.stringify(x)}`);
}
