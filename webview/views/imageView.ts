/**
 * The image view of an image model's run: the image with its patch grid and, for the patch under
 * the pointer (or the focused one; the class token from its button), a heat map of what it attends
 * to: the mean over the visible heads of its row, each patch tinted by its weight relative to the
 * row's largest patch weight. The weight on the special tokens is said in words, not drawn.
 * A captioner's cross attention has the caption's tokens as queries and the patches as keys: each
 * word is a button whose heat map is the row that chose it (the row of the token before it), what
 * the model looked at when it wrote the word.
 */
import { addCanvas } from '../canvas';
import { type AttentionRecord, layerLabel, meanRow } from '../../src/core/attention';
import { tokenLabel } from '../../src/core/tokens';
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';
import type { ImageToken } from '../../src/core/image/patches';
import { cssVar, parseColor, signHues } from '../theme';
import type { View } from './view';

/** Everything the image view draws. */
export interface ImageViewState {
  record: AttentionRecord;
  visibleHeads: readonly boolean[];
  hover: TokenTarget | null;
}

/** Canvas image with a patch heat map. */
export class ImageView implements View<ImageViewState> {
  private readonly canvas: HTMLCanvasElement;
  private readonly specials: HTMLElement;
  private readonly caption: HTMLElement;
  private bitmap: ImageBitmap | undefined;
  private size = { width: 1, height: 1 };
  private state: ImageViewState | undefined;
  /** Where the image is drawn (CSS pixels in the canvas) and its scale from the original's pixels. */
  private g = { left: 0, top: 0, scale: 1 };

  constructor(private readonly host: HTMLElement, private readonly onHover: (t: TokenTarget | null) => void) {
    host.classList.add('image-view');
    this.specials = document.createElement('div');
    this.specials.className = 'image-specials';
    this.caption = document.createElement('div');
    this.caption.className = 'image-caption';
    this.caption.setAttribute('aria-live', 'polite');
    host.append(this.specials);
    this.canvas = addCanvas(host, 'image-canvas');
    host.append(this.caption);
    this.canvas.addEventListener('mousemove', (e) => onHover(this.hitTest(e.clientX, e.clientY)));
    this.canvas.addEventListener('mouseleave', () => onHover(null));
    new ResizeObserver(() => this.state && this.render(this.state)).observe(host);
  }

  /** The image to draw under the heat map (decoded by the browser: for display only; the model's pixels come from the host). */
  async setImage(bytes: Uint8Array, mime: string, width: number, height: number): Promise<void> {
    this.bitmap?.close();
    this.bitmap = undefined;
    this.size = { width, height };
    try {
      this.bitmap = await createImageBitmap(new Blob([bytes as BlobPart], { type: mime }));
      this.host.dataset.image = 'decoded';
    } catch (e) {
      // The heat map still draws, over the patch grid alone.
      this.host.dataset.image = `not decoded: ${(e as Error).message}`;
    }
    if (this.state) this.render(this.state);
  }

  render(state: ImageViewState): void {
    this.state = state;
    const tokens = state.record.queryTokens as readonly ImageToken[];
    const button = (text: string, title: string, query: number) => {
      const b = document.createElement('button');
      b.className = 'image-special';
      b.textContent = text;
      b.title = title;
      b.onmouseenter = () => this.onHover({ side: 'query', index: query });
      b.onfocus = () => this.onHover({ side: 'query', index: query });
      return b;
    };
    // A caption's words, each with the row that chose it (the token before it's); else the queries
    // without a place in the image (the class token).
    const buttons = state.record.source.kind === 'cross'
      ? tokens.slice(1).map((t, q) => button(tokenLabel(t), `Where the model looked when it wrote ${tokenLabel(t)}`, q))
      : tokens.flatMap((t, i) => (t.patch ? [] : [button(t.text, `What ${t.text} attends to`, i)]));
    this.specials.replaceChildren(...buttons);
    this.markCurrent(state);
    this.draw();
  }

  /** Outlines the button of the query on show (a caption's: the word its row chose). */
  private markCurrent(state: ImageViewState): void {
    const q = state.hover?.side === 'query' ? state.hover.index : -1;
    const tokens = state.record.queryTokens as readonly ImageToken[];
    // A special token's button is its place among the special tokens; a patch has none.
    const special = tokens[q] !== undefined && !tokens[q].patch;
    const current = state.record.source.kind === 'cross' ? q : special ? tokens.slice(0, q + 1).filter((t) => !t.patch).length - 1 : -1;
    this.specials.querySelectorAll('button').forEach((b, i) => b.classList.toggle('current', i === current));
  }

  update(state: ImageViewState): void {
    this.state = state;
    this.markCurrent(state);
    this.draw();
  }

  hitTest(clientX: number, clientY: number): TokenTarget | null {
    const tokens = (this.state?.record.queryTokens ?? []) as readonly ImageToken[];
    const b = this.canvas.getBoundingClientRect();
    const x = (clientX - b.left - this.g.left) / this.g.scale;
    const y = (clientY - b.top - this.g.top) / this.g.scale;
    const i = tokens.findIndex((t) => t.patch && x >= t.patch.x && x < t.patch.x + t.patch.width && y >= t.patch.y && y < t.patch.y + t.patch.height);
    return i >= 0 ? { side: 'query', index: i } : null;
  }

  /** Client rectangle of a token's patch (or its button), for the tooltip. */
  labelRect(t: TokenTarget): DOMRect {
    const token = (this.state?.record.queryTokens as readonly ImageToken[] | undefined)?.[t.index];
    if (!token?.patch) return this.specials.getBoundingClientRect();
    const b = this.canvas.getBoundingClientRect();
    const { left, top, scale } = this.g;
    return new DOMRect(b.left + left + token.patch.x * scale, b.top + top + token.patch.y * scale, token.patch.width * scale, token.patch.height * scale);
  }

  private draw(): void {
    const s = this.state;
    if (!s) return;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(200, this.host.clientWidth || 600);
    const height = Math.max(160, (this.host.clientHeight || 500) - this.specials.offsetHeight - this.caption.offsetHeight - 8);
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    const scale = Math.min(width / this.size.width, height / this.size.height);
    this.g = { left: (width - this.size.width * scale) / 2, top: (height - this.size.height * scale) / 2, scale };
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const { left, top } = this.g;
    if (this.bitmap) {
      ctx.imageSmoothingEnabled = scale < 1;
      ctx.drawImage(this.bitmap, left, top, this.size.width * scale, this.size.height * scale);
    }
    // The patches are the keys (the queries too, in the encoder's self attention).
    const tokens = s.record.keyTokens as readonly ImageToken[];
    const from = (s.record.queryTokens as readonly ImageToken[])[s.hover?.side === 'query' ? s.hover.index : -1];
    const box = (t: ImageToken) => [left + t.patch!.x * scale, top + t.patch!.y * scale, t.patch!.width * scale, t.patch!.height * scale] as const;
    // The patch grid, faint.
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.25)';
    ctx.lineWidth = 1;
    for (const t of tokens) if (t.patch) ctx.strokeRect(...box(t));
    const q = s.hover?.side === 'query' ? s.hover.index : undefined;
    this.host.dataset.query = q === undefined ? '' : String(q);
    if (!tokens.some((t) => t.patch)) {
      this.host.dataset.heat = '';
      this.caption.textContent = `${layerLabel(s.record.source)} is the caption's attention to itself, not to the image: choose an encoder or cross layer, or the head view.`;
      return;
    }
    if (q === undefined || q >= s.record.queries) {
      this.host.dataset.heat = '';
      this.caption.textContent = s.record.source.kind === 'cross'
        ? 'Hover a word of the caption above (or step through it) to see where the model looked when it wrote it.'
        : 'Hover a patch (or the class token above) to see what it attends to; arrow keys move between tokens.';
      return;
    }
    const weights = meanRow(s.record, s.visibleHeads, q);
    // A difference (A − B) is signed, on the comparison's scale: more in A blue, more in B red, by its size against the largest.
    const signed = s.record.signed === true;
    let max = 0, onSpecial = 0;
    tokens.forEach((t, k) => (t.patch ? (max = Math.max(max, signed ? Math.abs(weights[k]) : weights[k])) : (onSpecial += weights[k])));
    const hues = signHues();
    const [r, g, b] = parseColor(signed ? hues.positive : cssVar('--vscode-charts-orange', '#f0a030'));
    const [nr, ng, nb] = parseColor(hues.negative);
    for (const [k, t] of tokens.entries()) {
      if (!t.patch || max <= 0) continue;
      ctx.fillStyle = weights[k] >= 0 ? `rgba(${r}, ${g}, ${b}, ${(0.8 * weights[k]) / max})` : `rgba(${nr}, ${ng}, ${nb}, ${(0.8 * -weights[k]) / max})`;
      ctx.fillRect(...box(t));
    }
    if (from?.patch) {
      ctx.strokeStyle = cssVar('--vscode-focusBorder', '#0090f1');
      ctx.lineWidth = 2;
      ctx.strokeRect(...box(from));
    }
    this.host.dataset.heat = max.toFixed(4);
    const written = s.record.source.kind === 'cross' ? (s.record.queryTokens as readonly ImageToken[])[q + 1] : undefined;
    this.caption.textContent = signed
      ? `${from ? from.text : `token ${q}`}, ${s.record.label}: the largest difference ${max.toFixed(3)} (blue: more attention in A, red: more in B).`
      : written
      ? `Writing ${tokenLabel(written)}, the model looked at: the strongest patch ${max.toFixed(3)} (brightest), special tokens ${onSpecial.toFixed(3)} in all.`
      : `${from ? (from.patch ? from.text : tokenLabel(from)) : `token ${q}`} attends to: the strongest patch ${max.toFixed(3)} (brightest), special tokens ${onSpecial.toFixed(3)} in all.`;
  }
}
