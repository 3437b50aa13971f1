/** Messages between the extension host and the head explorer view. Verbs for requests, `did…` for notifications. */
import type { HeadGrid } from '../analysis/headGrid';
import type { HeadSelection } from './panel';

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
}

/** Host → explorer. */
export type ToExplorer =
  /** Reply to `ready`, and every later change: the whole state (typed arrays are cheap to re-send). */
  | { type: 'state/didChange'; state: ExplorerState };

/** Explorer → host. */
export type FromExplorer =
  /** Request: the page loaded; the host answers with `state/didChange`. */
  | { type: 'ready' }
  /** Show this record and these heads in the panel and the editor. */
  | { type: 'selection/set'; runId: number; selection: HeadSelection }
  /** Colour the grid by similarity to this head. */
  | { type: 'similarity/compute'; runId: number; recordIndex: number; head: number };
