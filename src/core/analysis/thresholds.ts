/** Attention weight thresholds: the one home for what counts as attended, drawn or highlighted. Pure. */

/** Weights below this are not attended (causal masks give exact zeros); summaries and tooltips skip them. */
export const NEGLIGIBLE = 1e-4;
/** Links lighter than this are invisible at any opacity the head view uses, so they are not drawn. */
export const MIN_LINK_WEIGHT = 0.01;
/** Editor highlights start at this weight: lighter backgrounds cannot be told apart from none. */
export const MIN_HIGHLIGHT_WEIGHT = 0.02;
