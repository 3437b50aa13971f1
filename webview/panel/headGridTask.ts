/**
 * Computes the head explorer's grid in the panel, one layer per task, so hovering and drawing
 * stay responsive while it runs; a newer run abandons an older computation.
 */
import type { AttentionRecord } from '../../src/core/attention';
import { type HeadGrid, emptyHeadGrid, fillGridRow } from '../../src/core/analysis/headGrid';
import { categoriesFor } from '../../src/core/analysis/transform';
import type { RunRequest } from '../../src/core/protocol/panel';

let generation = 0;

/** Yields to the event loop (input, paint) before the next slice of work. */
const nextTask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Builds the grid of a run's per-head `records`; resolves undefined when a newer call superseded it. */
export async function computeHeadGrid(request: RunRequest, records: readonly AttentionRecord[]): Promise<HeadGrid | undefined> {
  const gen = ++generation;
  const categories = categoriesFor({ tokens: request.tokens, text: request.text, decoderTokens: request.decoderTokens });
  const grid = emptyHeadGrid(request.runId, records);
  for (let i = 0; i < records.length; i++) {
    await nextTask();
    if (gen !== generation) return undefined;
    fillGridRow(grid, i, records[i], categories(records[i]));
  }
  return grid;
}
