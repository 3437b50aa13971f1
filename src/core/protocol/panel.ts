/**
 * Messages between the extension host and the attention panel webview. Verbs for requests,
 * `did…` for notifications, `scope/…` names; large numeric data crosses as typed arrays.
 */
import type { HeadGrid } from '../analysis/headGrid';
import type { ViewSummary } from '../analysis/summary';
import type { Backend, BackendSetting } from '../backend';
import type { TokenInfo } from '../tokens';

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
}

/** One inspection request. */
export interface RunRequest {
  runId: number;
  model: ModelDescriptor;
  backend: BackendSetting;
  /** The inspected text; token spans index into it. */
  text: string;
  tokens: TokenInfo[];
  ids: Int32Array;
  decoderTokens?: TokenInfo[];
  decoderIds?: Int32Array;
  /** Shown above the view, e.g. when the selection was truncated. */
  notice?: string;
  maxLinksPerQuery: number;
}

/** Which record (layer) and heads a view shows. */
export interface HeadSelection {
  recordIndex: number;
  heads: number[];
}

/** Stages of a run, in order. */
export type RunStage = 'runtime' | 'model' | 'inference' | 'render';

/** Host → panel. */
export type ToPanel =
  /** Reply to `ready`: the run to show, if the host has one waiting. */
  | { type: 'ready/reply'; request?: RunRequest }
  /** Start (or restart) an inspection; replaces any run in progress. */
  | { type: 'run/start'; request: RunRequest }
  /** The editor cursor moved onto query token `index` of run `runId`; -1 when it left the tokens. */
  | { type: 'editor/didFocusToken'; runId: number; index: number }
  /** Show this record and these heads (chosen in the head explorer). */
  | { type: 'selection/set'; runId: number; selection: HeadSelection }
  /** Compute how alike every head is to head `head` of record `recordIndex`. */
  | { type: 'similarity/compute'; runId: number; recordIndex: number; head: number };

/** Panel → host. */
export type FromPanel =
  /** Request: the page loaded; the host answers with `ready/reply`. */
  | { type: 'ready' }
  /** Progress of a run, for the host's progress display. */
  | { type: 'run/didProgress'; runId: number; stage: RunStage; message: string }
  /** The model ran; `millis` is the inference time. */
  | { type: 'run/didFinish'; runId: number; backend: Backend; millis: number; fallbackReason?: string }
  /** The run failed with a message for the user. */
  | { type: 'run/didFail'; runId: number; message: string }
  /** The chosen layer/heads changed; the editor shows this summary. */
  | { type: 'view/didChange'; summary: ViewSummary }
  /** The record and heads on screen changed (the explorer follows). */
  | { type: 'selection/didChange'; runId: number; selection: HeadSelection }
  /** Thumbnails and statistics of every head, computed after the first draw. */
  | { type: 'heads/didCompute'; grid: HeadGrid }
  /** Jensen-Shannon distance from one head to every cell of the grid (NaN where shapes differ). */
  | { type: 'similarity/didCompute'; runId: number; recordIndex: number; head: number; distances: Float32Array };
