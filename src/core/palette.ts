/** Colours that are data, not theme: the one home for head colours and editor highlight hues. Pure. */

/** Categorical head colours (Tableau 10 and two more), readable on dark and light backgrounds. */
export const HEAD_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#17becf', '#bcbd22'];

/** The colour of head `h` (0-based); colours repeat past twelve heads. */
export function headColor(h: number): string {
  return HEAD_COLORS[h % HEAD_COLORS.length];
}

/** Editor highlight of attended tokens: RGB per theme kind, and the opacity of the strongest level. */
export const HIGHLIGHT = { dark: [255, 170, 40], light: [230, 110, 0], maxAlpha: 0.55 } as const;

/** Hues of a difference A − B where the theme gives none (figures made outside VS Code): A more, B more. */
export const DIFFERENCE_COLORS = { positive: '#3794ff', negative: '#f14c4c' } as const;
