/** Messages between the extension host and the head explorer view. Verbs for requests, `did…` for notifications. */
import type { HeadGrid } from '../analysis/headGrid';
import type { HeadSelection } from './panel';

/** Where an explorer page is shown: the sidebar view, or a tab in the editor area. */
export type ExplorerPlace = 'sidebar' | 'editor';

/** How alike every cell is to one head. */
export interface Similarity {
  recordIndex: number;
  head: number;
  /** Per cell; NaN where shapes differ. */
  distances: Float32Array;
}

/** Everything the explorer shows; re-sent whole when the view becomes visible again. */
export interface ExplorerState {
  grid?: HeadGrid;
  selection?: HeadSelection;
  similarity?: Similarity;
  /** Model label and token count, for the header. */
  title?: string;
  /** While the followed run has no grid yet: where it is, for people, and what the button beside it does (stop measuring, or measure again). */
  progress?: { runId: number; text: string; action?: 'stop' | 'measure' };
}

/** Host → explorer. */
export type ToExplorer =
  /** Reply to `ready`, and every later change: the whole state (typed arrays are cheap to re-send). */
  | { type: 'state/didChange'; state: ExplorerState }
  /** Make a figure of the grid as shown; answered with `export/didMake` or `export/didFail`. */
  | { type: 'export/make'; exportId: number; format: 'svg' | 'png' };

/** Explorer → host. */
export type FromExplorer =
  /** Request: the page loaded; the host answers with `state/didChange`. */
  | { type: 'ready' }
  /** Show this record and these heads in the panel and the editor. */
  | { type: 'selection/set'; runId: number; selection: HeadSelection }
  /** Colour the grid by similarity to this head. */
  | { type: 'similarity/compute'; runId: number; recordIndex: number; head: number }
  /** Stop measuring a run's grid (a long input's takes minutes), or measure it again. */
  | { type: 'heads/measure'; runId: number; measure: boolean }
  /** The explorer's Export button: run the export command. */
  | { type: 'export/request' }
  /** The sidebar's Open in Editor button: show the explorer full size in the editor area. */
  | { type: 'editor/open' }
  /** The figure asked for with `export/make` (a few hundred kilobytes: one message). */
  | { type: 'export/didMake'; exportId: number; data: Uint8Array }
  /** The figure could not be made. */
  | { type: 'export/didFail'; exportId: number; message: string };
