/**
 * Makes the panel's exports and streams their bytes to the host, which writes the file: the head
 * view or the matrix as SVG (laid out by the same code as the canvases, theme colours resolved to
 * values) or as PNG at twice the on-screen pixels, and the run's data as the CLI's JSON document or a NumPy
 * archive (always the full-precision weights). Cancellable between chunks.
 */
import { type AttentionLayer, type AttentionRecord, meanRow } from '../../src/core/attention';
import { compareJson } from '../../src/core/export/compareJson';
import { type CorrespondenceInput, correspondenceSvg } from '../../src/core/figure/correspondenceFigure';
import { svgBeside } from '../../src/core/figure/svg';
import { headLabels } from '../../src/core/analysis/headLabels';
import { buildHeadGrid, cellOffsets, cellStats } from '../../src/core/analysis/headGrid';
import { categoriesFor } from '../../src/core/analysis/transform';
import { writeArchive } from '../../src/core/export/archive';
import { type ReportRun, htmlReportChunks } from '../../src/core/export/htmlReport';
import { type ExportRun, numpyEntries } from '../../src/core/export/numpyExport';
import { imageSvg } from '../../src/core/figure/imageFigure';
import type { ImageToken } from '../../src/core/image/patches';
import { runJson } from '../../src/core/export/runJson';
import { type FigureStyle, figureTitle, headViewSvg } from '../../src/core/figure/headViewFigure';
import { MATRIX_FONT_PX, type MatrixFigureInput, matrixSvg } from '../../src/core/figure/matrixFigure';
import { type TextFigureInput, textViewSvg } from '../../src/core/figure/textFigure';
import { mechanismSvg } from '../../src/core/figure/mechanismFigure';
import type { MechanismViewState } from '../views/mechanismView';
import { jsonChunks } from '../../src/core/jsonStream';
import { formatBytes } from '../../src/core/units';
import type { ExportFormat, FromPanel, RunRequest } from '../../src/core/protocol/panel';
import { cssVar, editorFont, signHues } from '../theme';
import { svgToPng } from '../svgRaster';
import type { PanelState } from './state';
import type { LoadedRun } from './snapshot';
import { withFullPrecision } from './layerStore';
import { nextTask } from './headGridTask';

/** Bytes gathered before a message goes to the host. */
const MESSAGE_BYTES = 4 << 20;

/** What the exporter needs from the panel. */
export interface ExporterDeps {
  state: PanelState;
  /** Width of a label string in the head view's font, and the view's width on screen. */
  measure(): (text: string) => number;
  viewWidth(): number;
  /** What the matrix view shows (record, heads, zoom, size), when it has drawn. */
  matrix(): Omit<MatrixFigureInput, 'style' | 'positive' | 'negative' | 'measure' | 'title'> | undefined;
  /** What the text view shows (tokens where they are laid out, the hovered token's arcs), when it has drawn. */
  text(): Pick<TextFigureInput, 'width' | 'height' | 'tokens' | 'arcs' | 'fontPx'> | undefined;
  /** What the mechanism view shows (layer, head, query, key order, weights), when it has drawn. */
  mechanism(): MechanismViewState | undefined;
  /** In a comparison: the main view's record (A or A − B), B's matrix and the correspondence as shown. */
  comparison(): ComparisonFigures | undefined;
  post(message: FromPanel): void;
}

/** What a comparison shows besides the main view. */
export interface ComparisonFigures {
  /** A's record, or A − B in the difference display. */
  main: AttentionRecord;
  show: 'side' | 'difference' | 'correspondence';
  /** B's record and heads beside A's. */
  b: AttentionRecord;
  visibleHeadsB: readonly boolean[];
  matrixB?: Omit<MatrixFigureInput, 'style' | 'positive' | 'negative' | 'measure' | 'title'>;
  correspondence?: CorrespondenceInput;
}

export class Exporter {
  private readonly running = new Map<number, AbortController>();

  constructor(private readonly deps: ExporterDeps) {}

  /** Makes export `exportId` and sends it; failures (and cancelling) end in `export/didFail`. */
  async make(exportId: number, format: ExportFormat): Promise<void> {
    const abort = new AbortController();
    this.running.set(exportId, abort);
    const out = new ChunkSender(exportId, abort.signal, this.deps.post);
    try {
      this.refuseWhole(format);
      switch (format) {
        case 'svg':
          await out.write(new TextEncoder().encode(this.svg()));
          break;
        case 'png':
          await out.write(await svgToPng(this.svg()));
          break;
        case 'json':
          for (const chunk of jsonChunks(await this.json(), { chunkSize: 1 << 20 })) await out.write(new TextEncoder().encode(chunk));
          break;
        case 'html': {
          const encoder = new TextEncoder();
          for await (const chunk of htmlReportChunks(await this.report(), await reportScript())) await out.write(encoder.encode(chunk));
          break;
        }
        case 'npz':
          await writeArchive(numpyEntries(this.streamedRun()), (chunk) => out.write(chunk), { signal: abort.signal, onProgress: (written, total) => out.progress(written, total) });
          break;
      }
      await out.flush();
      this.deps.post({ type: 'export/didFinish', exportId });
    } catch (e) {
      this.deps.post({ type: 'export/didFail', exportId, message: abort.signal.aborted ? 'cancelled' : (e as Error).message });
    } finally {
      this.running.delete(exportId);
    }
  }

  /**
   * A long input's layers are computed one at a time from queries and keys; the JSON document and
   * the HTML report would hold every layer's weights at once, so they are refused for such a run
   * (or a comparison with such a side), with the format that streams.
   */
  private refuseWhole(format: ExportFormat): void {
    const { run, layersPending } = this.deps.state.snapshot;
    // A figure is what is on screen; data would miss the layers still on their way.
    if (layersPending && format !== 'svg' && format !== 'png') throw new Error(`the run's other layers are still arriving (${run?.records.length ?? 0} here so far); export once they are here (the status line says when they are arriving)`);
    const c = this.deps.state.snapshot.compare;
    const held = (runs: Array<LoadedRun | undefined>) => {
      const bytes = runs.reduce((n, r) => n + (r?.onDemand ? r.store?.naiveBytes ?? 0 : 0), 0);
      return ` at once${bytes ? ` (${formatBytes(bytes)})` : ''}`;
    };
    if (c && format === 'json' && (run?.onDemand || c.b.onDemand)) {
      const which = run?.onDemand && c.b.onDemand ? 'both runs are' : `run ${run?.onDemand ? 'A' : 'B'} is`;
      throw new Error(`${which} long enough that layers are computed from queries and keys one at a time; the comparison's JSON document would hold both runs' weights${held([run, c.b])}. Export NumPy (.npz) instead for run A's layers, computed and written one at a time, or a figure of what is on screen`);
    }
    if (!run?.onDemand || (format !== 'json' && format !== 'html')) return;
    throw new Error(`this run is long enough that its layers are computed from queries and keys one at a time; ${format === 'json' ? 'a JSON document' : 'an HTML report'} would hold every layer's weights${held([run])}. Export NumPy (.npz) instead: it computes and writes one layer at a time`);
  }

  cancel(exportId: number): void {
    this.running.get(exportId)?.abort();
  }

  /**
   * The figure on screen: the matrix (its zoom included), the text view (with the hovered
   * token's arcs) or the mechanism (every key) when shown, else the head view;
   * the record (layer or aggregate, words, hidden tokens) and heads as shown, in the theme's colours.
   */
  private svg(): string {
    const s = this.deps.state.snapshot;
    const compared = s.compare ? this.deps.comparison() : undefined;
    const record = compared?.main ?? this.deps.state.record;
    if (!s.run || !record) throw new Error('the panel shows no attention yet');
    const heads = this.deps.state.shownHeads;
    if (compared) return this.comparisonSvg(compared, heads);
    const title = figureTitle(s.run.request.model.label, record, heads);
    // The matrix and the arcs draw the mean of the heads shown.
    const meanTitle = record.heads > 1 ? `${title} (mean)` : title;
    const mechanism = s.viewMode === 'mechanism' ? this.deps.mechanism() : undefined;
    if (mechanism) {
      return mechanismSvg({
        layer: mechanism.layer,
        head: mechanism.head,
        query: mechanism.query,
        order: mechanism.sort,
        weights: mechanism.weights,
        queryTokens: mechanism.queryTokens,
        keyTokens: mechanism.keyTokens,
        style: themeStyle(),
        ...signHues(),
        accent: cssVar('--vscode-charts-orange', '#d18616'),
        title: `${s.run.request.model.label} · ${mechanism.layer.name} · head ${mechanism.head + 1} · mechanism`,
      });
    }
    if (s.viewMode === 'image' && s.run.request.image) {
      const image = s.run.request.image;
      const q = s.hover?.side === 'query' && s.hover.index < record.queries ? s.hover.index : undefined;
      const weights = q === undefined ? undefined : meanRow(record, s.visibleHeads, q);
      return imageSvg({
        href: `data:${image.mime};base64,${base64(image.bytes)}`,
        width: image.width,
        height: image.height,
        scale: 640 / Math.max(image.width, image.height),
        tokens: record.queryTokens as readonly ImageToken[],
        ...(q !== undefined && weights ? { row: { query: q, weights } } : {}),
        style: themeStyle(),
        accent: cssVar('--vscode-charts-orange', '#f0a030'),
        focus: cssVar('--vscode-focusBorder', '#007fd4'),
        title: q === undefined ? `${image.name} · ${title}` : `${image.name} · ${meanTitle} · what ${record.queryTokens[q].text} attends to`,
      });
    }
    const text = s.viewMode === 'text' ? this.deps.text() : undefined;
    if (text) {
      return textViewSvg({ ...text, style: themeStyle(), accent: cssVar('--vscode-charts-orange', '#d18616'), focus: cssVar('--vscode-focusBorder', '#007fd4'), title: meanTitle });
    }
    const matrix = s.viewMode === 'matrix' ? this.deps.matrix() : undefined;
    if (matrix) {
      const ctx = document.createElement('canvas').getContext('2d')!;
      ctx.font = editorFont(MATRIX_FONT_PX);
      return matrixSvg({
        ...matrix,
        style: themeStyle(),
        ...signHues(),
        measure: (t) => ctx.measureText(t).width,
        title: meanTitle,
      });
    }
    return headViewSvg({
      record,
      visibleHeads: s.visibleHeads,
      maxLinksPerQuery: s.run.request.maxLinksPerQuery,
      style: themeStyle(),
      measure: this.deps.measure(),
      width: this.deps.viewWidth(),
      title: `${title}${s.weighting === 'contribution' && s.contributions ? ' · by contribution' : ''}`,
    });
  }

  /**
   * A comparison's figure as on screen: A and B side by side (head views or matrices), A − B, or
   * the head correspondence; titled with both models.
   */
  private comparisonSvg(c: ComparisonFigures, heads: number[]): string {
    const s = this.deps.state.snapshot;
    const a = s.run!.request.model.label, bLabel = s.compare!.b.request.model.label;
    const models = s.run!.request.compare?.sameModel ? `${a}: selection (A) and edited text (B)` : `A: ${a} · B: ${bLabel}`;
    if (c.show === 'correspondence' && c.correspondence) {
      return correspondenceSvg({ ...c.correspondence, style: themeStyle(), positive: signHues().positive, title: `${models} · ${c.correspondence.labelA} ↔ B ${c.correspondence.labelB} · head correspondence (Jensen-Shannon distance)` });
    }
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.font = editorFont(MATRIX_FONT_PX);
    const matrixMeasure = (t: string) => ctx.measureText(t).width;
    const figure = (record: AttentionRecord, visibleHeads: readonly boolean[], matrix: ComparisonFigures['matrixB'], title: string) => (s.viewMode === 'matrix' && matrix
      ? matrixSvg({ ...matrix, style: themeStyle(), ...signHues(), measure: matrixMeasure, title })
      : headViewSvg({ record, visibleHeads, maxLinksPerQuery: s.run!.request.maxLinksPerQuery, style: themeStyle(), ...signHues(), measure: this.deps.measure(), width: this.deps.viewWidth(), title }));
    const shownB = c.visibleHeadsB.flatMap((v, h) => (v ? [h] : []));
    if (c.show === 'difference') return figure(c.main, s.visibleHeads, this.deps.matrix(), `${models} · ${figureTitle('A − B', c.main, heads)}`);
    const style = themeStyle();
    return svgBeside([
      figure(c.main, s.visibleHeads, this.deps.matrix(), figureTitle('A', c.main, heads)),
      figure(c.b, c.visibleHeadsB, c.matrixB, figureTitle('B', c.b, shownB)),
    ], 16, style, 12, models);
  }

  /** The CLI's `--json` document of what the panel shows (after words, hiding and aggregation), with head statistics once computed; for a comparison, `compare --json --diff`'s. */
  private async json() {
    const s = this.deps.state.snapshot;
    if (!s.run) throw new Error('the panel shows no attention yet');
    const full = await this.deps.state.fullPrecision();
    const c = s.compare;
    if (c) {
      const a = s.run.request, b = c.b.request;
      // B's layer for each of A's as it is now: the document is written over many tasks, while the panel can change it.
      const layerB = full.records.map((_, i) => this.deps.state.layerBOf(i));
      return compareJson({
        models: [a, b].map((r) => ({ folder: r.model.id, architecture: r.model.architecture })),
        texts: [a.text, b.text],
        tokens: [a.tokens, b.tokens],
        alignment: c.alignment, a: full.records, b: full.recordsB!,
        layerOf: (i) => layerB[i],
        identical: c.identical, diff: true, notice: a.notice,
      });
    }
    const { request, backend } = s.run;
    // Statistics once the panel has them, made again from the full-precision records (the panel's may come from 16-bit copies).
    const grid = s.grid && buildHeadGrid(request.runId, full.base, categoriesFor({ tokens: request.tokens, text: request.text, decoderTokens: request.decoderTokens }));
    const offsets = grid && cellOffsets(grid.rows);
    const heads = grid && offsets ? grid.rows.flatMap((row, i) => Array.from({ length: row.heads }, (_, h) => {
      // Measured apart from the input (a probe, a generation's steps): as the panel has them.
      const measured = cellStats(s.grid!, offsets[i] + h);
      const stats = { ...cellStats(grid, offsets[i] + h), induction: measured.induction, retrieval: measured.retrieval };
      return { kind: row.section, layer: full.base[row.recordIndex]?.source.layer ?? i, head: h, ...stats, labels: headLabels(stats).map((l) => l.label) };
    })) : undefined;
    return runJson({
      model: { folder: request.model.id, architecture: request.model.architecture },
      backend,
      tokens: s.records.find((r) => r.overInput)?.keyTokens ?? request.tokens,
      decoderTokens: request.decoderTokens && (s.records.find((r) => !r.overInput)?.queryTokens ?? request.decoderTokens),
      records: full.records,
      aggregate: s.choices.aggregate,
      heads,
      warnings: [],
      ...(request.image ? { image: { file: request.image.name, width: request.image.width, height: request.image.height }, pixelValues: { shape: request.image.dims, sha256: await sha256(request.image.pixelValues) } } : {}),
    });
  }

  /** The report of the run: every layer as the model returned it, titled like the panel. */
  private async report(): Promise<ReportRun> {
    const { model, text, tokens, decoderTokens, layers } = await this.run();
    const request = this.deps.state.snapshot.run!.request;
    const image = request.image && { image: { name: request.image.name, mime: request.image.mime, width: request.image.width, height: request.image.height, bytes: request.image.bytes } };
    return { title: `Attention · ${model.label}`, model: `${model.label} (${model.architecture})`, text, tokens, decoderTokens, causal: request.model.causal, layers, ...image };
  }

  /** The run's layers as the model returned them, in full precision. */
  private async run(): Promise<ExportRun> {
    const s = this.deps.state.snapshot;
    if (!s.run) throw new Error('the panel shows no attention yet');
    const records = await withFullPrecision(s.run.records);
    return { ...this.runOf(s.run.request), layers: records.map((r) => layerOf(r, r.data)) };
  }

  /**
   * The run for a data export, its layers read one at a time as they are written (read back in
   * full precision, or computed from queries and keys): a long input's export never holds more
   * than a layer (a 24-layer, 14-head model at 2,048 tokens: 235 MB, where every layer is 5.6 GB).
   */
  private streamedRun(): ExportRun {
    const s = this.deps.state.snapshot;
    if (!s.run) throw new Error('the panel shows no attention yet');
    const records = new Map(s.run.records.map((r) => [layerOf(r, NO_WEIGHTS), r] as const));
    return {
      ...this.runOf(s.run.request),
      layers: [...records.keys()],
      readLayer: async (l) => (await withFullPrecision([records.get(l)!]))[0].data,
    };
  }

  private runOf(request: RunRequest): Omit<ExportRun, 'layers'> {
    const image = request.image && { pixelValues: { data: request.image.pixelValues, dims: request.image.dims } };
    return { model: { label: request.model.label, folder: request.model.id, architecture: request.model.architecture }, text: request.text, tokens: request.tokens, decoderTokens: request.decoderTokens, ...image };
  }
}

const NO_WEIGHTS = new Float32Array(0);

/** Record `r` as the layer the model returned, with weights `data`. */
function layerOf(r: AttentionRecord, data: Float32Array): AttentionLayer {
  return { ...r.source, heads: r.heads, queries: r.queries, keys: r.keys, data };
}

/** Bytes as base64 (in slices: a spread of millions of arguments would overflow the stack). */
function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** SHA-256 of a float32 tensor's bytes (little-endian, as the CLI digests them), hex. */
async function sha256(data: Float32Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The report page's bundle, read from the extension like the page's other files. */
async function reportScript(): Promise<string> {
  const url = document.body.dataset.reportScript;
  if (!url) throw new Error('the report page is missing from the extension');
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the report page could not be read (HTTP ${response.status})`);
  return response.text();
}

/** The theme's colours and editor font as values (an exported figure cannot use CSS variables). */
function themeStyle(): FigureStyle {
  return {
    background: cssVar('--vscode-editor-background', '#1e1e1e'),
    foreground: cssVar('--vscode-editor-foreground', '#cccccc'),
    muted: cssVar('--vscode-descriptionForeground', '#8b949e'),
    fontFamily: cssVar('--vscode-editor-font-family', 'monospace'),
  };
}

/** Gathers bytes into messages of a few megabytes (each in its own buffer, so no large array is cloned whole). */
class ChunkSender {
  private parts: Uint8Array[] = [];
  private size = 0;
  private written = 0;
  private total = 0;

  constructor(private readonly exportId: number, private readonly signal: AbortSignal, private readonly post: (m: FromPanel) => void) {}

  progress(written: number, total: number): void {
    this.written = written;
    this.total = total;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.signal.throwIfAborted();
    this.parts.push(chunk.slice());
    this.size += chunk.byteLength;
    if (this.size >= MESSAGE_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.size === 0) return;
    const data = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      data.set(p, at);
      at += p.byteLength;
    }
    this.parts = [];
    this.size = 0;
    this.post({ type: 'export/chunk', exportId: this.exportId, data, written: this.written, total: this.total });
    // Let the page breathe (and a Cancel arrive) between messages.
    await nextTask();
  }
}
