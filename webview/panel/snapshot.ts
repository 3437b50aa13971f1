/**
 * What the attention panel shows, as one immutable snapshot: its types and the empty panel.
 * `PanelState` (state.ts) is the only writer. No DOM here.
 */
import type { AttentionRecord } from '../../src/core/attention';
import type { HeadGrid } from '../../src/core/analysis/headGrid';
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';
import type { AnalysisChoices } from '../../src/core/analysis/transform';
import type { Backend } from '../../src/core/backend';
import type { RunRequest, RunStage } from '../../src/core/protocol/panel';
import type { ContributionBasis } from '../../src/core/mechanism';
import type { Alignment } from '../../src/core/analysis/alignment';
import type { LongRollout } from './longRollout';
import type { LayerStore } from './layerStore';

/** Views the panel can show. */
export type ViewMode = 'head' | 'matrix' | 'text' | 'mechanism' | 'image';
/** Every view mode, in toolbar order, with its name for people. */
export const VIEW_MODES: ReadonlyArray<[ViewMode, string]> = [['head', 'Head view'], ['matrix', 'Matrix'], ['text', 'Text'], ['mechanism', 'Mechanism'], ['image', 'Image']];

/** What the links' strength is: the attention weights, or each head's contributions (mechanism). */
export type Weighting = 'attention' | 'contribution';

/** The contributions the views apply to run `runId`: chosen, and made for it. */
export function appliedContributions(s: { weighting: Weighting; contributions?: ContributionSet }, runId: number): ContributionSet | undefined {
  return s.weighting === 'contribution' && s.contributions?.runId === runId ? s.contributions : undefined;
}

/** Contributions of every layer of one run, by attention name. */
export interface ContributionSet {
  runId: number;
  byName: ReadonlyMap<string, Float32Array>;
  basis: ContributionBasis;
}

/** What a comparison shows: both runs side by side, A − B, or how every head of A matches every head of B. */
export type CompareShow = 'side' | 'difference' | 'correspondence';
/** Every comparison display, in toolbar order, with its name for people. */
export const COMPARE_SHOWS: ReadonlyArray<[CompareShow, string]> = [['side', 'Side by side'], ['difference', 'Difference A − B'], ['correspondence', 'Head correspondence']];

/** Run B of a comparison, aligned with run A (the panel's `run`). */
export interface Comparison {
  b: LoadedRun;
  alignment: Alignment;
  /** B's records over the input, aligned with A's units. */
  records: AttentionRecord[];
  /** Where `records` keep their weights. */
  storeB: LayerStore;
  /** The layer of B chosen by the user; undefined: proportional to A's. */
  layerB?: number;
  show: CompareShow;
  /** Every compared weight of A equals B's. */
  identical: boolean;
  /** B's heads chosen with a pair (correspondence); undefined: as A's when the counts match, else all. */
  headsB?: number[];
}

/** Where the current run stands. */
export type Phase =
  | { name: 'idle' }
  | { name: 'running'; stage: RunStage; message: string; fraction?: number }
  | { name: 'ready' }
  | { name: 'error'; message: string };

/** A run whose attention is loaded. */
export interface LoadedRun {
  request: RunRequest;
  /** The model's layers, normalised; what every analysis starts from. */
  records: AttentionRecord[];
  /** Where `records` keep their weights. */
  store?: LayerStore;
  backend: Backend;
  /** Why this backend ran the model (shown as the status line's tooltip). */
  backendReason?: string;
  millis: number;
  /**
   * Long inputs: layers kept as queries and keys, each computed when shown (as contributions too,
   * from each key's value norm); the mechanism of the query shown is computed from the values
   * they keep; the rollout is made by a pass.
   */
  onDemand?: boolean;
  /** A long input's rollout, once made for the choices its key names (`LongRolloutPass`). */
  rollout?: LongRollout;
}

/** Everything the panel shows. */
export interface PanelSnapshot {
  /** A long input's record being computed off the page's thread before it is shown (its label). */
  computing?: string;
  readonly run?: LoadedRun;
  /** Word level, hidden tokens and aggregation chosen in the toolbar. */
  readonly choices: AnalysisChoices;
  /** Per-head records after word merge and hiding (the explorer's grid is made from these). */
  readonly base: readonly AttentionRecord[];
  /** Where `base` keeps its weights when not in the run's store: made from its layers (words, hiding, contributions), or aligned with a comparison's B. */
  readonly baseStore?: LayerStore;
  /** The records the views draw: `base`, or one aggregate per layer. */
  readonly records: readonly AttentionRecord[];
  /** Where `records` keep their weights when made on demand (a long input's mean or max over heads). */
  readonly recordStore?: LayerStore;
  /** A long input's layers as contributions, computed when read: what `base` is made from then. */
  readonly weightStore?: LayerStore;
  /** Thumbnails and statistics of `base`, once computed. */
  readonly grid?: HeadGrid;
  readonly recordIndex: number;
  readonly visibleHeads: readonly boolean[];
  readonly hover: TokenTarget | null;
  /** Scroll the hovered token into view (it was chosen by keyboard or from the editor). */
  readonly reveal: boolean;
  readonly viewMode: ViewMode;
  readonly phase: Phase;
  readonly notice: string;
  /** The model of the run in progress, for the header while it loads. */
  readonly loading?: string;
  /** Where the hover came from: the editor's cursor moves it without the pointer being here. */
  readonly hoverSource: 'pointer' | 'keyboard' | 'editor';
  /** More layers of the run are on their way (WebGPU reads them back after the first picture). */
  readonly layersPending: boolean;
  readonly weighting: Weighting;
  /** The current run's contributions, once computed. */
  readonly contributions?: ContributionSet;
  /** Why the views still show weights while contributions were asked for (computing, or why not). */
  readonly weightingNote: string;
  /** The other side when the run is a comparison (A is `run`). */
  readonly compare?: Comparison;
}

/**
 * What an action changed: `run` (a new run) and `records` (new analysis choices) rebuild the
 * controls and the grid, `selection` and `view` redraw, `hover` restyles, `phase` the status, `grid` the labels,
 * `precision` the summary (the layer on screen came back in full precision; the picture is the same).
 */
export type Change = 'run' | 'records' | 'selection' | 'view' | 'hover' | 'phase' | 'grid' | 'precision';

export const INITIAL: PanelSnapshot = {
  choices: { words: false, hide: [] },
  base: [],
  records: [],
  recordIndex: 0,
  visibleHeads: [],
  hover: null,
  reveal: false,
  viewMode: 'head',
  phase: { name: 'idle' },
  notice: '',
  hoverSource: 'pointer',
  layersPending: false,
  weighting: 'attention',
  weightingNote: '',
};
