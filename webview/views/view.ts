/** The contract every view of attention shares, so a matrix or arc view can sit beside the head view. */
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';

/** A view of one state type `S`; it never reads state back from the DOM. */
export interface View<S> {
  /** Rebuilds from scratch: new record, heads, tokens or size. */
  render(state: S): void;
  /** Restyles for a change that keeps the layout (hover), rebuilding only when it must. */
  update(state: S): void;
  /** The token under a client point, if any. */
  hitTest(clientX: number, clientY: number): TokenTarget | null;
}
