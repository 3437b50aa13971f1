// Benchmark page: the head view against a naive renderer on the same synthetic attention,
// measured in the same browser run. Bundled by bench/headView.bench.mjs.
import { type AttentionLayer, recordOfLayer } from '../src/core/attention';
import type { TokenInfo } from '../src/core/tokens';
import { HeadView, type HeadViewState } from '../webview/views/headView';

/** BERT-base shaped attention: `heads` heads over n tokens, softmax of structured random logits. */
function syntheticLayer(n: number, heads: number, seed: number): AttentionLayer {
  let s = seed;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const data = new Float32Array(heads * n * n);
  for (let h = 0; h < heads; h++) {
    for (let q = 0; q < n; q++) {
      const off = (h * n + q) * n;
      let sum = 0;
      for (let k = 0; k < n; k++) {
        const logit = 3 * rand() + (k === q - 1 - (h % 3) ? 6 : 0) + (k === 0 ? 4 : 0);
        sum += data[off + k] = Math.exp(logit);
      }
      for (let k = 0; k < n; k++) data[off + k] /= sum;
    }
  }
  return { name: 'attentions.0', kind: 'self', layer: 0, heads, queries: n, keys: n, data };
}

/** What a direct port of a notebook head view does: one stroke per link, every link. */
function naiveDraw(canvas: HTMLCanvasElement, l: AttentionLayer, hover: number | null): number {
  const ctx = canvas.getContext('2d')!;
  const row = 18;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  let drawn = 0;
  for (let h = 0; h < l.heads; h++) {
    ctx.strokeStyle = `hsl(${(h * 30) % 360} 70% 50%)`;
    for (let q = 0; q < l.queries; q++) {
      for (let k = 0; k < l.keys; k++) {
        const w = l.data[(h * l.queries + q) * l.keys + k];
        if (w < 0.01 && !(hover === q)) continue;
        ctx.globalAlpha = hover === null || hover === q ? w : w * 0.1;
        ctx.beginPath();
        ctx.moveTo(170, 6 + q * row + row / 2);
        ctx.lineTo(590, 6 + k * row + row / 2);
        ctx.stroke();
        drawn++;
      }
    }
  }
  return drawn;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs every measurement for n tokens; the page's caller reads the result. */
async function run(n: number, heads: number): Promise<Record<string, number>> {
  const layer = syntheticLayer(n, heads, 7);
  const tokens: TokenInfo[] = Array.from({ length: n }, (_, i) => ({ id: i, text: `tok${i}`, start: i * 6, end: i * 6 + 5, special: false }));
  const host = document.createElement('div');
  host.style.cssText = 'width: 760px; height: 800px; overflow: auto; position: relative';
  document.body.replaceChildren(host);
  const view = new HeadView(host, () => undefined);
  const state: HeadViewState = { record: recordOfLayer(layer, { tokens, causal: false }), visibleHeads: Array(heads).fill(true), maxLinksPerQuery: 12, hover: null };
  // Two animation frames after drawing, the browser has rasterized and composited the result:
  // what the user waits for.
  const painted = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));

  let t0 = performance.now();
  view.render(state);
  await painted();
  const firstDraw = performance.now() - t0;
  const hovers: number[] = [];
  const hoverJs: number[] = [];
  await painted();
  for (let i = 0; i < 20; i++) {
    t0 = performance.now();
    view.update({ ...state, hover: { side: 'query', index: (i * 37) % n } });
    hoverJs.push(performance.now() - t0);
    await painted();
    hovers.push(performance.now() - t0);
  }

  const canvas = document.createElement('canvas');
  canvas.width = 760;
  canvas.height = 12 + n * 18;
  document.body.appendChild(canvas);
  t0 = performance.now();
  const naiveLinks = naiveDraw(canvas, layer, null);
  await painted();
  const naiveFirst = performance.now() - t0;
  const naiveHovers: number[] = [];
  const naiveHoverJs: number[] = [];
  await painted();
  for (let i = 0; i < 3; i++) {
    t0 = performance.now();
    naiveDraw(canvas, layer, (i * 37) % n);
    naiveHoverJs.push(performance.now() - t0);
    await painted();
    naiveHovers.push(performance.now() - t0);
  }
  return { n, heads, firstDraw, hover: median(hovers), hoverJs: median(hoverJs), links: view.stats.links, naiveFirst, naiveHover: median(naiveHovers), naiveHoverJs: median(naiveHoverJs), naiveLinks };
}

(window as unknown as { runBench: typeof run }).runBench = run;
