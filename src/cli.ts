/**
 * Headless Attention Lens: `attention-lens inspect --model <folder> (--text <s> | --text-file <p>) …`.
 * Same pipeline as the extension (tokenize → run → extract → analyse), on the native engine
 * (onnxruntime-node) or onnxruntime-web's WASM backend (`--backend`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AttentionLayer, type AttentionRecord, compareLayers, parseAttentionName, recordOfLayer } from './core/attention';
import { onDemandAggregates, onDemandPerHead, onDemandRun } from './core/analysis/onDemand';
import { type QueryKeyLayer, keepsQueryKeys, layerWeights, queryKeyBytes, weightBytes } from './core/queryKeys';
import { runJson } from './core/export/runJson';
import { exportData, exportReport, exportText } from './export/fileExport';
import { exportPng } from './export/pngExport';
import { FONT_PX, LIGHT_STYLE, figureTitle, headViewSvg } from './core/figure/headViewFigure';
import { monospaceMeasure } from './core/figure/svg';
import { LABEL_RULES, headLabels, ruleText } from './core/analysis/headLabels';
import { type HeadStats, STAT_NAMES, allHeadStats } from './core/analysis/headStats';
import { inductionScores } from './core/analysis/induction';
import { predictedLabels, predictionText } from './core/classification';
import { aggregateRecords, categoriesFor, perHeadRecords, type RunTexts } from './core/analysis/transform';
import { openCliEngine } from './cliEngine';
import { type DownloadArgs, type InspectArgs, parseCompareArgs, parseDownloadArgs, parseGenerateArgs, parseInspectArgs, wantsHelp } from './cliArgs';
import { HELP } from './cliHelp';
import { generateCommand } from './cliGenerate';
import { compare } from './cliCompare';
import { formatBytes } from './core/units';
import { formatMillis } from './core/timing';
import { downloadToHfCache } from './models/hfDownload';
import { hfCacheRoot } from './models/hfCache';
import { hubEndpoint, parseHubId } from './models/hub';
import { scopeLabel } from './core/analysis/summary';
import { writeJson } from './core/jsonStream';
import { tokenFocus } from './core/analysis/tokenFocus';
import { markerLegend, tokenLabel } from './core/tokens';
import { ModelFolderError, attentionShape, readModelFolder } from './models/modelFolder';
import { type PreparedInputs, checkTextModel, inductionProbeFor, prepareInputs, truncationNotice } from './models/prepareInputs';
import { type ImageInput, imageInput } from './models/imageInputs';
import { imageMime } from './models/imageFile';
import type { ReportRun } from './core/export/htmlReport';
import { imageTokens } from './core/image/patches';
import { ModelTokenizer } from './models/tokenizer';

async function main(argv: string[]): Promise<void> {
  if (wantsHelp(argv)) return writeOut(`${HELP}\n`);
  if (argv[0] === 'download') return download(parseDownloadArgs(argv));
  if (argv[0] === 'compare') return compare(parseCompareArgs(argv), writeOut, writeChunk);
  if (argv[0] === 'generate') return generateCommand(parseGenerateArgs(argv), writeOut, writeChunk);
  const args = parseInspectArgs(argv);
  const started = performance.now();
  const info = readModelFolder(args.model, args.onnx);
  for (const n of info.notices) process.stderr.write(`warning: ${n}\n`);
  const readAt = performance.now();
  // An image model takes an image (its patches are its tokens); a text model its tokenizer's tokens.
  if (info.vision && info.encoderDecoder) throw new ModelFolderError(`${path.basename(info.folder)} is an image captioner: its attention is what it looked at while writing a caption. Run attention-lens generate --model ${info.folder} --image <file>.`);
  const image = args.image ? await imageInput(info, args.image) : undefined;
  for (const n of image?.notices ?? []) process.stderr.write(`warning: ${n}\n`);
  if (!image) checkTextModel(info);
  const tokenizer = image ? undefined : ModelTokenizer.load(info.folder);
  let prepared: PreparedInputs = tokenizer ? await prepareInputs(info, tokenizer, args.text, args.target) : { tokens: [] };
  const tokenizedAt = performance.now();
  const notice = truncationNotice(prepared, info.maxPositions);
  if (notice) process.stderr.write(`warning: ${notice}\n`);
  // A long input keeps each layer's queries and keys; its weights are computed when written, a layer at a time.
  const long = !image && !args.mechanism && keepsQueryKeys(prepared.tokens.length, attentionShape(info), prepared.decoderTokens?.length, args.keepWeightsBytes);
  if (long && args.export && path.extname(args.export).toLowerCase() === '.html') throw new Error(`an HTML report holds every layer's weights at once, and these ${prepared.tokens.length.toLocaleString('en-US')} tokens pass --keep-weights-mb (${formatBytes(args.keepWeightsBytes)}): export .npz or .json (written a layer at a time), or .svg or .png (one layer); or raise --keep-weights-mb`);
  const engine = await openCliEngine(info, args.backend, { mechanism: args.mechanism, queryKeys: long }, (line) => process.stderr.write(`warning: ${line}\n`));
  const sessionAt = performance.now();
  const only = args.mechanism && args.layer !== undefined ? mechanismChoice(engine.attentionOutputs, args.layer) : undefined;
  const { layers: returned, queryKeys, millis, warnings, mechanism, logits } = await engine.run(image ? { ids: [], pixelValues: image.pixelValues } : {
    ids: prepared.tokens.map((t) => t.id),
    decoderIds: prepared.decoderTokens?.map((t) => t.id),
  }, { mechanismOf: only, ...(info.labels && engine.hasLogits ? { logits: 'last' as const } : {}) });
  if (image) prepared = { tokens: imageTokens(image.geometry, info.vision!.patchSize, returned[0]?.queries ?? 0) };
  // A classifier (id2label, logits of one row): its prediction.
  const prediction = info.labels && predictedLabels(logits, info.labels);
  // Induction scores come from a run on the probe (causal models): one more pass, for --stats only.
  const probe = args.stats && tokenizer ? await inductionProbeFor(info, tokenizer) : undefined;
  // The probe is short: its layers kept as queries and keys (a long run's engine) are computed whole.
  const probed = probe && (await engine.run({ ids: probe.ids }));
  const induction = probe && probed ? new Map([...probed.layers, ...(probed.queryKeys ?? []).map((l) => layerWeights(l))].map((l) => [l.name, inductionScores(l, probe)])) : undefined;
  await engine.dispose();
  if (args.timings) {
    const ms = formatMillis;
    process.stderr.write(`timings: model files read ${ms(readAt - started)} · tokenize ${ms(tokenizedAt - readAt)} · session ${ms(sessionAt - tokenizedAt)} · inference ${ms(millis)} · to the attention ${ms(performance.now() - started)}\n`);
  }
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const run: RunTexts = { tokens: prepared.tokens, text: args.text, decoderTokens: prepared.decoderTokens, target: args.target };
  const onDemand = queryKeys?.length ? onDemandRun(returned, queryKeys, { ...run, causal: info.causal }) : undefined;
  if (onDemand) process.stderr.write(`note: ${onDemandNote(prepared.tokens.length, queryKeys!, onDemand.layers)}\n`);
  const layers = onDemand?.layers ?? returned;
  const records = onDemand?.records ?? layers.map((l) => recordOfLayer(l, { ...run, causal: info.causal }));
  // Words and hiding once; the aggregates and the statistics both start from these per-head records.
  const base = onDemand ? onDemandPerHead(records, run, args) : perHeadRecords(records, run, args);
  const shown = (onDemand ? onDemandAggregates : aggregateRecords)(base, args.aggregate, args.rollout);
  const heads = args.stats ? headTable(base, run, induction) : undefined;
  // Tokens (or words) as the attention indexes them, after --words and --hide.
  const document = () => runJson({
    model: { folder: info.folder, architecture: info.architecture },
    backend: engine.backend,
    tokens: shown.find((r) => r.overInput)?.keyTokens ?? prepared.tokens,
    decoderTokens: prepared.decoderTokens && (shown.find((r) => !r.overInput)?.queryTokens ?? prepared.decoderTokens),
    records: shown,
    aggregate: args.aggregate,
    heads,
    mechanism,
    warnings,
    prediction,
    ...(image ? { image: { file: args.image!, ...image.geometry.original }, pixelValues: { shape: image.pixelValues.dims, sha256: image.sha256 } } : {}),
  });
  if (args.export) {
    // Ctrl+C while writing: stop, leave no partial file, exit 130 as shells expect.
    const abort = new AbortController();
    const onInterrupt = () => abort.abort(new Error('interrupted'));
    process.once('SIGINT', onInterrupt);
    try {
      const ext = path.extname(args.export).toLowerCase();
      const label = path.basename(info.folder);
      const bytes = ext === '.svg' || ext === '.png'
        ? await (ext === '.svg' ? exportText : exportPng)(args.export, figure(shown, args, label))
        : ext === '.html'
          ? await exportReport(args.export, { title: `Attention · ${label}`, model: `${label} (${info.architecture})`, text: args.text, tokens: prepared.tokens, decoderTokens: prepared.decoderTokens, causal: info.causal, layers, ...(image ? { image: reportImage(args.image!, image) } : {}) }, reportScript(), { signal: abort.signal })
          : await exportData(args.export, {
            json: document,
            run: { model: { label, folder: info.folder, architecture: info.architecture }, text: args.text, tokens: prepared.tokens, decoderTokens: prepared.decoderTokens, layers, ...(image ? { pixelValues: image.pixelValues } : {}), ...(onDemand ? { readLayer: async (l) => onDemand.weightsOf(l.name) } : {}) },
          }, { signal: abort.signal });
      process.stderr.write(`wrote ${args.export} (${formatBytes(bytes)})\n`);
    } catch (e) {
      if (abort.signal.aborted) process.exit(130);
      throw e;
    } finally {
      process.off('SIGINT', onInterrupt);
    }
  }
  if (args.json) {
    // Streamed: hundreds of megabytes of weights never become one string, and a slow reader holds the writer back.
    await writeJson(document(), writeChunk);
    await writeOut('\n');
    return;
  }
  if (args.export) return;
  const lines = [`${info.architecture} · ${prepared.tokens.length} tokens · ${layers.length} attention outputs (${shown.map((r) => r.label).join(', ')}) · ${engine.backend} · ${millis.toFixed(0)} ms`, ''];
  if (prediction) lines.push(`predicted: ${predictionText(prediction)}`, '');
  lines.push(...formatAttention(shown, args));
  if (heads) lines.push('', ...formatHeadTable(heads));
  await writeOut(lines.join('\n') + '\n');
}

/** What a long run keeps, for people. */
function onDemandNote(tokens: number, kept: readonly QueryKeyLayer[], layers: readonly AttentionLayer[]): string {
  const held = kept.reduce((n, l) => n + queryKeyBytes(l), 0), naive = layers.reduce((n, l) => n + weightBytes(l), 0);
  return `${tokens.toLocaleString('en-US')} tokens: ${kept.length} of ${layers.length} attention outputs are kept as queries and keys (${formatBytes(held)}), each one's weights computed when written, instead of ${formatBytes(naive)} of weights at once (--keep-weights-mb sets where this starts)`;
}

/** The HTML report's page script, built beside this CLI (dist/report.js). */
function reportScript(): string {
  const file = fileURLToPath(new URL('./report.js', import.meta.url));
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`the HTML report's page (${file}) is missing: rebuild with npm run build`);
  }
}

/** Links per query the head view draws on long inputs (the `attentionLens.maxLinksPerQuery` default). */
const FIGURE_LINKS_PER_QUERY = 12;

/** The head view of `--layer` (default the first) and `--head` (default all) as SVG, on a light background. */
function figure(records: AttentionRecord[], args: InspectArgs, model: string): string {
  const r = records[(args.layer ?? 1) - 1];
  if (!r) throw new Error(`--layer ${args.layer} is out of range: this model has ${records.length} attention outputs`);
  if (args.head !== undefined && args.head > r.heads) throw new Error(`--head ${args.head} is out of range: ${r.label} has ${r.heads} heads`);
  const visibleHeads = Array.from({ length: r.heads }, (_, h) => args.head === undefined || h === args.head - 1);
  const title = figureTitle(model, r, visibleHeads.flatMap((v, h) => (v ? [h] : [])));
  return headViewSvg({ record: r, visibleHeads, maxLinksPerQuery: FIGURE_LINKS_PER_QUERY, style: LIGHT_STYLE, measure: monospaceMeasure(FONT_PX), title });
}

/** Each token's strongest attended tokens for `--layer`/`--head` (default: the last output, mean of heads), aligned. */
function formatAttention(records: AttentionRecord[], args: InspectArgs): string[] {
  const r = records[(args.layer ?? records.length) - 1];
  if (!r) throw new Error(`--layer ${args.layer} is out of range: this model has ${records.length} attention outputs`);
  if (args.head !== undefined && args.head > r.heads) throw new Error(`--head ${args.head} is out of range: ${r.label} has ${r.heads} heads`);
  const heads = args.head !== undefined ? [args.head - 1] : Array.from({ length: r.heads }, (_, h) => h);
  const width = Math.min(24, Math.max(5, ...r.queryTokens.map((t) => tokenLabel(t).length)));
  const rows = Array.from({ length: r.queries }, (_, q) => {
    // The same numbers as the panel's tooltip for this token.
    const focus = tokenFocus(r, heads, { side: 'query', index: q }, args.top)!;
    const best = focus.partners.map((p) => `${tokenLabel(p.token)} ${p.weight.toFixed(3)}`);
    return `${String(q).padStart(4)}  ${tokenLabel(focus.token).slice(0, width).padEnd(width)}  ${best.join('   ')}`;
  });
  const legend = markerLegend([...r.queryTokens, ...r.keyTokens].map((t) => tokenLabel(t)));
  return [`${scopeLabel(r, heads)}: each token's ${args.top} most attended${legend ? ` (${legend})` : ''}`, `${'#'.padStart(4)}  ${'token'.padEnd(width)}  attends to`, ...rows];
}

/** One row per head: where it is, its statistics and labels (the `--stats` JSON shape). */
type HeadRow = { kind: string; layer: number; head: number; labels: string[] } & HeadStats;

function headTable(base: AttentionRecord[], run: RunTexts, induction?: Map<string, Float32Array>): HeadRow[] {
  const stats = allHeadStats(base, categoriesFor(run));
  return base.flatMap((r, i) => stats[i].map((s, head) => {
    const score = induction?.get(r.source.name)?.[head];
    const all = { ...s, induction: score === undefined ? null : score };
    return { kind: r.source.kind, layer: r.source.layer, head, ...all, labels: headLabels(all).map((l) => l.label) };
  }));
}

/** The head table for a terminal: aligned columns, 1-based layer and head numbers. */
function formatHeadTable(rows: HeadRow[]): string[] {
  const cols = ['layer', 'head', ...STAT_NAMES, 'labels'];
  const cell = (row: HeadRow, c: string): string => {
    if (c === 'layer') return `${row.kind === 'self' ? '' : `${row.kind} `}${row.layer + 1}`;
    if (c === 'head') return String(row.head + 1);
    if (c === 'labels') return row.labels.join(', ');
    const v = row[c as keyof HeadStats];
    return v === null ? '–' : v.toFixed(c === 'distance' || c === 'pixelDistance' ? 1 : 2);
  };
  const table = [cols, ...rows.map((r) => cols.map((c) => cell(r, c)))];
  const width = cols.map((_, j) => Math.max(...table.map((t) => t[j].length)));
  const out = table.map((t) => t.map((v, j) => (j === t.length - 1 ? v : v.padStart(width[j]))).join('  ').trimEnd());
  return [...out, '', `labels: ${LABEL_RULES.map((r) => `${r.label} (${ruleText(r)})`).join(', ')}`];
}

/** `attention-lens download`: the model and its data files into the Hugging Face cache, verified, with progress on stderr and the snapshot folder on stdout. */
async function download(args: DownloadArgs): Promise<void> {
  const ref = parseHubId(args.id);
  let shown = '';
  const folder = await downloadToHfCache(ref, {
    endpoint: hubEndpoint(undefined),
    token: process.env.HF_TOKEN,
    cacheDir: args.cacheDir ?? hfCacheRoot(),
    onnxFile: args.file,
    onProgress: ({ file, loaded, total, overall }) => {
      // One line per file and tenth: a terminal or a log file, no escape codes.
      const line = `${file}: ${total ? `${Math.floor((loaded / total) * 10) * 10} % of ${formatBytes(total)}` : formatBytes(loaded)}`;
      if (line === shown) return;
      const all = overall && overall.total > 0 ? ` (${Math.floor((overall.loaded / overall.total) * 100)} % of ${formatBytes(overall.total)} in all)` : '';
      process.stderr.write(`${(shown = line)}${all}\n`);
    },
  });
  await writeOut(`${folder}\n`);
}

/** The attention output `--layer N` names (1-based, in view order), for `--mechanism`. */
function mechanismChoice(outputs: readonly string[], layer: number): string[] {
  const ordered = outputs.map((name) => ({ name, ...parseAttentionName(name)! })).sort(compareLayers);
  if (layer > ordered.length) throw new Error(`--layer ${layer} is out of range: this model has ${ordered.length} attention outputs`);
  return [ordered[layer - 1].name];
}

/** The first error stdout reported (EPIPE when the reader went away); later writes fail with it. */
let stdoutError: Error | undefined;
// Without a listener a write error is an uncaught exception with a stack trace.
process.stdout.on('error', (e) => (stdoutError ??= e));

/** Writes to stdout and waits until it is flushed: exiting earlier truncates output to a pipe. */
function writeOut(text: string): Promise<void> {
  if (stdoutError) return Promise.reject(stdoutError);
  return new Promise((resolve, reject) => process.stdout.write(text, (e) => (e ? reject(e) : resolve())));
}

/** Writes one chunk of streamed output; while stdout's buffer is full, waits for it to drain (or fail). */
function writeChunk(text: string): void | Promise<void> {
  if (stdoutError) throw stdoutError;
  if (process.stdout.write(text)) return;
  return new Promise((resolve, reject) => {
    const settle = (e?: Error): void => {
      process.stdout.off('drain', settle).off('error', settle).off('close', settle);
      if (e ?? stdoutError) reject(e ?? stdoutError);
      else resolve();
    };
    process.stdout.on('drain', settle).on('error', settle).on('close', settle);
  });
}

/** The reader closed the pipe (`| head`): not an error of ours, so no message and status 0. */
function isBrokenPipe(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    if (isBrokenPipe(e)) process.exit(0);
    process.stderr.write(`attention-lens: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
    process.exit(1);
  },
);

/** The image file as the HTML report embeds it. */
function reportImage(file: string, input: ImageInput): NonNullable<ReportRun['image']> {
  const bytes = new Uint8Array(fs.readFileSync(file));
  return { name: path.basename(file), mime: imageMime(bytes) ?? 'application/octet-stream', width: input.geometry.original.width, height: input.geometry.original.height, bytes };
}
