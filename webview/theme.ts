/** Theme colours and fonts for canvas drawing, resolved from VS Code's CSS variables (canvases cannot use them directly). */
import { DIFFERENCE_COLORS } from '../src/core/palette';
import { clipLabel } from '../src/core/figure/headViewFigure';

/** The value of a `--vscode-*` variable, or `fallback` outside VS Code. */
export function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

/** `#rgb`, `#rrggbb(aa)` or `rgb(a)(…)` to RGB bytes (grey when unreadable). */
export function parseColor(c: string): [number, number, number] {
  const hex = /^#([0-9a-f]{3,8})$/i.exec(c.trim());
  if (hex) {
    const h = hex[1].length <= 4 ? hex[1].slice(0, 3).split('').map((x) => x + x).join('') : hex[1].slice(0, 6);
    return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
  }
  const m = /rgba?\(([^)]+)\)/.exec(c);
  return m ? (m[1].split(',').slice(0, 3).map((x) => Number.parseFloat(x)) as [number, number, number]) : [204, 204, 204];
}

/** The editor font at `px` pixels, for canvas text. */
export function editorFont(px: number): string {
  return `${px}px ${cssVar('--vscode-editor-font-family', 'monospace')}`;
}

/** `text` shortened with an ellipsis to fit `max` pixels in `ctx`'s font. */
export function clipText(ctx: CanvasRenderingContext2D, text: string, max: number): string {
  return clipLabel(text, max, (t) => ctx.measureText(t).width);
}

/** The theme's hues of positive and negative values (a difference A − B, a signed product), as CSS colours. */
export function signHues(): { positive: string; negative: string } {
  return { positive: cssVar('--vscode-charts-blue', DIFFERENCE_COLORS.positive), negative: cssVar('--vscode-charts-red', DIFFERENCE_COLORS.negative) };
}
