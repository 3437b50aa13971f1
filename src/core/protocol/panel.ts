/**
 * Messages between the extension host and the attention panel webview. Verbs for requests,
 * `did…` for notifications, `scope/…` names; large numeric data crosses as typed arrays.
 */
import type { HeadGrid } from '../analysis/headGrid';
import type { AttentionLayer } from '../attention';
import type { ViewSummary } from '../analysis/summary';
import type { Backend, BackendSetting, NativeBackend } from '../backend';
import type { EngineErrorCode } from '../engine/engineError';
import type { WeightFootprint } from '../engine/modelWeights';
import type { NativeAvailability, NativeInput, NativeRunResult } from './engine';
import type { RunTimings, TimingSpan } from '../timing';
import type { TokenInfo } from '../tokens';
import type { InductionProbe } from '../analysis/induction';
import type { QueryKeyLayer } from '../queryKeys';
import type { Sampling } from '../generation/sampling';
import type { StopReason } from '../generation/generate';

/** What the webview needs to know about the model it runs. */
export interface ModelDescriptor {
  id: string;
  label: string;
  architecture: string;
  /** The ONNX file's id: the page asks the host for its bytes with `file/read`. */
  onnxFile: string;
  /** ONNX file name relative to the model folder, for messages. */
  onnxLabel: string;
  causal: boolean;
  /** External data files the graph names: their ids (read like the ONNX file), locations and sizes. */
  externalData?: Array<{ fileId: string; path: string; bytes: number }>;
  /** What loading the model costs, for the backends' limits (absent: unknown, never refused). */
  footprint?: WeightFootprint;
  /** The first position id the export expects (1 for Gemma 3's exports). */
  firstPosition?: number;
  /** Why only WebAssembly can return this model's attention (GroupQueryAttention), when that is so. */
  wasmOnly?: string;
  /** Attention layers and heads per layer, from config.json (absent: not stated). */
  attention?: { layers: number; heads: number };
  /** A classifier's labels (`config.id2label`): its runs also return the prediction. */
  labels?: string[];
  /** A split encoder-decoder model (`onnxFile` is its encoder): its decoders' file ids (read like the ONNX file), names and sizes. */
  decoders?: { decoder: ModelPart; withPast?: ModelPart };
}

/** One more ONNX file of a model (a split model's decoder), as the page reads it. */
export interface ModelPart {
  fileId: string;
  label: string;
  bytes: number;
}

/** Host file ids of the onnxruntime WebAssembly binaries (gzipped), per backend (see `loadOrt`). */
export interface RuntimeFiles {
  wasm: string;
  webgpu: string;
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
  /** Keep every layer's weights up to this many bytes (`attentionLens.keepWeightsMB`); past it, queries and keys. Absent: the default. */
  keepWeightsBytes?: number;
  /** When the command ran and the host's stages (tokenize, panel start), for the timings breakdown. */
  timing?: { commandAt: number; spans: TimingSpan[]; sentAt: number };
  /** Run B of a comparison: this request is run A, and the panel compares the two. */
  compare?: CompareSide;
  /** Generate from `ids` (the prompt, or the source of an encoder-decoder model) instead of showing them: steps stream as `generate/didStep`. */
  generate?: GenerateRequest;
  /** This run is a generation's final sequence: its steps, for the step slider and the alternatives. */
  generation?: GenerationRecord;
  /** A causal model's induction probe: run once per model after the first picture, for the heads' induction scores. */
  induction?: InductionProbe;
  /** An image model's run: `ids` are empty, `tokens` the image's (a class token, then patches with their boxes). */
  image?: ImageRequest;
}

/** An image for an image model: its pixel values as the model's processor made them, and the file, to draw. */
export interface ImageRequest {
  pixelValues: Float32Array;
  dims: number[];
  /** The file's bytes and type (`image/png`, …), drawn under the heat map. */
  bytes: Uint8Array;
  mime: string;
  /** Its file name, for the panel's title. */
  name: string;
  width: number;
  height: number;
}

/** How to generate (`RunRequest.generate`). */
export interface GenerateRequest {
  /** Steps at most (already cut to the positions the model has left). */
  maxNewTokens: number;
  /** End-of-sequence ids; empty: generate until the maximum. */
  eos: number[];
  /** Greedy when absent. */
  sampling?: Sampling;
  /** How many of the most probable tokens each step lists. */
  alternatives: number;
  /** Encoder-decoder models: the decoder's first token. */
  decoderStart?: number;
  /** Every token's string by id (the tokenizer's, with added tokens): the page labels the steps as they come, without asking the host. */
  vocabulary: string[];
}

/** A step as the page reports it: ids and probabilities (the host, which has the tokenizer, adds the texts). */
export interface StepReport {
  step: number;
  /** Position of the query that chose the token (in the decoder's tokens for encoder-decoder models). */
  query: number;
  token: number;
  probability: number;
  /** 1: the most probable token. */
  rank: number;
  top: Array<{ id: number; probability: number }>;
}

/** A generated token with its texts: what the strip, the step slider and the editor's hovers show. */
export interface GeneratedStep {
  step: number;
  query: number;
  token: { id: number; text: string };
  probability: number;
  rank: number;
  top: Array<{ id: number; text: string; probability: number }>;
}

/** The generation a run shows (`RunRequest.generation`). */
export interface GenerationRecord {
  /** Index of the first generated token in `tokens` (causal models) or `decoderTokens` (encoder-decoder models, 1: after the start token). */
  first: number;
  /** The generated tokens are decoder tokens. */
  decoder: boolean;
  steps: GeneratedStep[];
  stop: StopReason;
  /** The generated text, as the tokenizer decodes it. */
  output: string;
}

/** The other side of a comparison: another model on the same text, or the same model on another text. */
export interface CompareSide {
  model: ModelDescriptor;
  text: string;
  tokens: TokenInfo[];
  ids: Int32Array;
  decoderTokens?: TokenInfo[];
  decoderIds?: Int32Array;
  /** Both sides run the same model (two texts). */
  sameModel: boolean;
  /** Two image models on one image: B's pixel values, as its own processor made them. */
  image?: ImageRequest;
}

/** A model to get ready (runtime, bytes, session) before its first run, e.g. while the host tokenizes. */
export interface PrepareRequest {
  model: ModelDescriptor;
  backend: BackendSetting;
}

/** Which record (layer) and heads a view shows. */
export interface HeadSelection {
  recordIndex: number;
  heads: number[];
  /** How many heads the record has (the panel says; names an export of every head before the explorer's grid is in). */
  of?: number;
}

/** Stages of a run, in order. */
export type RunStage = 'runtime' | 'model' | 'inference' | 'render';

/** Host → panel. */
export type ToPanel =
  /** Reply to `ready`: the run to show, if the host has one waiting. */
  | { type: 'ready/reply'; runtime: RuntimeFiles; native: NativeAvailability; request?: RunRequest; prepare?: PrepareRequest }
  /** Start loading this model now; a `run/start` for it follows. */
  | { type: 'model/prepare'; prepare: PrepareRequest }
  /** Start (or restart) an inspection; replaces any run in progress. */
  | { type: 'run/start'; request: RunRequest }
  /** The editor cursor moved onto query token `index` of run `runId`; -1 when it left the tokens. */
  | { type: 'editor/didFocusToken'; runId: number; index: number }
  /** Show this record and these heads (chosen in the head explorer). */
  | { type: 'selection/set'; runId: number; selection: HeadSelection }
  /** A piece of a file the page asked for with `file/read`; the last has `offset + data.byteLength === total`. */
  | { type: 'file/chunk'; fileId: string; offset: number; total: number; data: Uint8Array }
  /** A file the page asked for could not be read. */
  | { type: 'file/didFail'; fileId: string; message: string }
  /** Compute how alike every head is to head `head` of record `recordIndex`. */
  | { type: 'similarity/compute'; runId: number; recordIndex: number; head: number }
  /** Stop measuring the grid of run `runId` (the pass is abandoned), or measure it again. */
  | { type: 'heads/measure'; runId: number; measure: boolean }
  /** Make an export of what the panel shows; answered with `export/chunk`s, then `export/didFinish` or `export/didFail`. */
  | { type: 'export/make'; exportId: number; format: ExportFormat }
  /** Stop making an export (the user cancelled); answered with `export/didFail`. */
  | { type: 'export/cancel'; exportId: number }
  /** Stop the generation of run `runId` after the step in progress (it then reports `generate/didFinish`). */
  | { type: 'generate/stop'; runId: number }
  /** Reply to `engine/open`: the host's native engine holds the model, on `backend` (`notice`: CUDA was not available), and whether it returns logits. */
  | { type: 'engine/didOpen'; requestId: number; engine: number; backend: NativeBackend; notice?: string; hasLogits?: boolean; hasPast?: boolean }
  /**
   * Reply to `engine/run`: the run's first layer (every layer, and the mechanism, when it was asked
   * for), every warning, and how many layers follow in `engine/didRunLayer`s, one each, in order.
   */
  | { type: 'engine/didRun'; requestId: number; result: NativeRunResult; more: number }
  /** The next layer of run `requestId` (see `engine/didRun`): its weights, or its queries and keys. */
  | { type: 'engine/didRunLayer'; requestId: number; layer: AttentionLayer; queryKey?: undefined }
  | { type: 'engine/didRunLayer'; requestId: number; queryKey: QueryKeyLayer; layer?: undefined }
  /** Reply to `engine/open` or `engine/run` that failed, with a message for the user. */
  | { type: 'engine/didFail'; requestId: number; message: string; code?: EngineErrorCode }
  /**
   * Sent before a `run/start`: the host began that request's (`runId`) run on engine `engine` (one
   * the page holds), as the page will ask it (`input`); its `engine/didRunAhead` follows, unasked.
   * The page's run of the same input on that engine, for that request, waits for it instead of asking.
   */
  | { type: 'engine/runAhead'; engine: number; aheadId: number; runId: number; input: NativeInput }
  /**
   * What became of run ahead `aheadId`: as `engine/didRun` (its later layers in `engine/didRunLayer`s
   * of `requestId`), a failure, or neither (dropped before it ran: the page asks as usual).
   */
  | { type: 'engine/didRunAhead'; engine: number; aheadId: number; requestId: number; result?: NativeRunResult; more?: number; message?: string; code?: EngineErrorCode };

/**
 * What the panel exports: the head view as a figure (SVG, or PNG at 2× the on-screen pixels), the
 * run's data (the CLI's JSON document, a NumPy archive), or a standalone interactive HTML report.
 */
export type ExportFormat = 'svg' | 'png' | 'json' | 'npz' | 'html';

/** Panel → host. */
export type FromPanel =
  /** Request: the page loaded; the host answers with `ready/reply`. */
  | { type: 'ready' }
  /** Request: the bytes of a file the host named (a model, the runtime's WebAssembly); answered with `file/chunk`s. */
  | { type: 'file/read'; fileId: string }
  /** Progress of a run, for the host's progress display. */
  | { type: 'run/didProgress'; runId: number; stage: RunStage; message: string }
  /** The model ran; `millis` is the inference time, `backendReason` why this backend was used. */
  | { type: 'run/didFinish'; runId: number; backend: Backend; millis: number; backendReason: string }
  /** The run's first picture is on screen; where the time went. */
  | { type: 'run/didDraw'; runId: number; timings: RunTimings }
  /** The run failed with a message for the user. */
  | { type: 'run/didFail'; runId: number; message: string }
  /** The chosen layer/heads changed; the editor shows this summary. */
  | { type: 'view/didChange'; summary: ViewSummary }
  /** The record and heads on screen changed (the explorer follows). */
  | { type: 'selection/didChange'; runId: number; selection: HeadSelection }
  /** Thumbnails and statistics of every head, computed after the first draw. */
  | { type: 'heads/didCompute'; grid: HeadGrid }
  /**
   * The grid is being measured (a long input's takes minutes): `done` of `of` layers so far;
   * `stopped`: no further (asked to stop); `waiting`: a long input's, not started until an
   * explorer on screen asks for it (`heads/measure`).
   */
  | { type: 'heads/didProgress'; runId: number; done: number; of: number; stopped?: boolean; waiting?: boolean }
  /** Jensen-Shannon distance from one head to every cell of the grid (NaN where shapes differ). */
  | { type: 'similarity/didCompute'; runId: number; recordIndex: number; head: number; distances: Float32Array }
  /** The next bytes of an export, in order; `written` of `total` bytes of data made so far (total 0: unknown). */
  | { type: 'export/chunk'; exportId: number; data: Uint8Array; written: number; total: number }
  /** The export is complete (every chunk was sent before this). */
  | { type: 'export/didFinish'; exportId: number }
  /** The export failed or was cancelled; nothing of it may be kept. */
  | { type: 'export/didFail'; exportId: number; message: string }
  /** The panel's Export button: run the export command. */
  | { type: 'export/request' }
  /** The panel's Compare button: run Compare Models… on the selection shown. */
  | { type: 'compare/request' }
  /** The panel's Generate button: run Generate with Attention on the selection shown. */
  | { type: 'generate/request' }
  /** A step of generation run `runId` was made (ids: the host labels them with its tokenizer for the run that follows). */
  | { type: 'generate/didStep'; runId: number; step: StepReport }
  /** Generation run `runId` ended: the generated ids, and why it ended. The host then shows the whole sequence as a run. */
  | { type: 'generate/didFinish'; runId: number; tokens: number[]; stop: StopReason }
  /** The panel's Insert or Copy button: put run `runId`'s generated text into the editor after the selection, or on the clipboard. */
  | { type: 'generation/use'; runId: number; how: 'insert' | 'copy' }
  /** Request: open model file `onnxFile` (an id the host gave) in the host's native engine; answered with `engine/didOpen` or `engine/didFail`. */
  | { type: 'engine/open'; requestId: number; onnxFile: string; backend: NativeBackend; mechanism: boolean; queryKeys?: boolean }
  /** Request: run an engine `engine/didOpen` named; answered with `engine/didRun` or `engine/didFail`. */
  | { type: 'engine/run'; requestId: number; engine: number; input: NativeInput; mechanismOf?: string[] }
  /** The page no longer needs this engine: release its session. */
  | { type: 'engine/release'; engine: number };
