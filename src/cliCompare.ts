/**
 * `attention-lens compare`: two models on one text, or one model on two texts. Prints the tokens
 * of both, the alignment used, per layer pair every head pair's Jensen-Shannon distance and, where
 * heads correspond, the mean absolute difference; `--diff` adds A − B.
 */
import * as path from 'node:path';
import { type AttentionRecord, recordOfLayer } from './core/attention';
import { compareJson } from './core/export/compareJson';
import { alignRuns } from './core/analysis/alignment';
import { type LayerComparison, alignedRecord, alignsAsIs, bestMatches, identicalRecords, layerComparisons, mapLayer } from './core/analysis/compare';
import { onDemandAligned, onDemandRun } from './core/analysis/onDemand';
import { type QueryKeyLayer, keepsQueryKeys, sameQueryKeys } from './core/queryKeys';
import type { ModelEngine } from './core/engine/splitEngine';
import type { CliBackend, CompareArgs } from './cliArgs';
import { openCliEngine } from './cliEngine';
import { type PreparedComparison, type PreparedSide, prepareComparison } from './models/compareInputs';
import type { RunInput } from './core/engine/attentionEngine';
import { imageInput } from './models/imageInputs';
import { type ModelInfo, attentionShape, readModelFolder } from './models/modelFolder';
import { checkTextModel } from './models/prepareInputs';
import { ModelTokenizer } from './models/tokenizer';
import { type JsonSink, writeJson } from './core/jsonStream';

/** One side's records over the input (encoder-decoder models: the encoder's), and its layers kept as queries and keys (a long input). */
interface Side {
  records: AttentionRecord[];
  /** Some layers are kept as queries and keys: the records compute them when read. */
  onDemand: boolean;
  /** Every layer, where all are kept as queries and keys (none returned whole). */
  queryKeys?: QueryKeyLayer[];
}

/** The records over the input of one side's run; a failure names the side. */
async function runSide(engine: ModelEngine, info: ModelInfo, p: PreparedSide & { pixelValues?: RunInput['pixelValues'] }, name: string): Promise<Side> {
  try {
    const { layers, queryKeys, warnings } = await engine.run(p.pixelValues ? { ids: [], pixelValues: p.pixelValues } : { ids: p.tokens.map((t) => t.id), decoderIds: p.decoderTokens?.map((t) => t.id) });
    for (const w of warnings) process.stderr.write(`warning: model ${name}: ${w}\n`);
    const run = { tokens: p.tokens, decoderTokens: p.decoderTokens, causal: info.causal };
    if (queryKeys?.length) {
      process.stderr.write(`note: model ${name}: ${p.tokens.length.toLocaleString('en-US')} tokens: its layers are kept as queries and keys, each layer's weights computed when compared\n`);
      return { records: onDemandRun(layers, queryKeys, run).records.filter((r) => r.overInput), onDemand: true, ...(layers.length === 0 ? { queryKeys } : {}) };
    }
    return { records: layers.map((l) => recordOfLayer(l, run)).filter((r) => r.overInput), onDemand: false };
  } catch (e) {
    throw sideError(name, info, e);
  }
}

/** `f` with a session of `info`'s model (side `name`), released after; `long`: layers kept as queries and keys. */
async function withEngine<T>(info: ModelInfo, name: string, backend: CliBackend, long: boolean, f: (engine: ModelEngine) => Promise<T>): Promise<T> {
  let engine: ModelEngine;
  try {
    engine = await openCliEngine(info, backend, { queryKeys: long }, (line) => process.stderr.write(`warning: model ${name}: ${line}\n`));
  } catch (e) {
    throw sideError(name, info, e);
  }
  try {
    return await f(engine);
  } finally {
    await engine.dispose();
  }
}

function sideError(name: string, info: ModelInfo, e: unknown): Error {
  // The file, not only the folder: two variants of one folder may be compared.
  return new Error(`model ${name} (${info.onnxPath}) failed: ${(e as Error).message}`);
}

/** Runs the comparison and writes it through `out` (JSON, or a table of the most and least alike heads). */
export async function compare(args: CompareArgs, out: (text: string) => Promise<void>, chunk: JsonSink): Promise<void> {
  const infos = args.models.map((m, i) => readModelFolder(m, args.onnx[i]));
  for (const n of infos.flatMap((i) => i.notices)) process.stderr.write(`warning: ${n}\n`);
  const [ia, ib] = infos.length === 2 ? infos : [infos[0], infos[0]];
  const prepared = args.image ? await imageSides(ia, ib, args.image) : await textSides(infos, args);
  if (prepared.notice) process.stderr.write(`warning: ${prepared.notice}\n`);
  const alignment = alignRuns({ text: prepared.a.text, tokens: prepared.a.tokens }, { text: prepared.b.text, tokens: prepared.b.tokens }, infos.length === 1);
  // A side whose weights would pass --keep-weights-mb keeps queries and keys (images: never; their patches are few).
  const long = (info: ModelInfo, p: PreparedSide) => !args.image && keepsQueryKeys(p.tokens.length, attentionShape(info), p.decoderTokens?.length, args.keepWeightsBytes);
  const [sideA, sideB] = infos.length === 1
    ? await withEngine(ia, 'A', args.backend, long(ia, prepared.a) || long(ib, prepared.b), async (engine) => [await runSide(engine, ia, prepared.a, 'A'), await runSide(engine, ib, prepared.b, 'B')])
    : [await withEngine(ia, 'A', args.backend, long(ia, prepared.a), (engine) => runSide(engine, ia, prepared.a, 'A')), await withEngine(ib, 'B', args.backend, long(ib, prepared.b), (engine) => runSide(engine, ib, prepared.b, 'B'))];
  const aligned = (s: Side, side: 'a' | 'b') => (s.onDemand ? onDemandAligned(s.records, alignment, side) : s.records.map((r) => alignedRecord(r, alignment, side)));
  const a = aligned(sideA, 'a'), b = aligned(sideB, 'b');
  if (args.layerB !== undefined && args.layerB > b.length) throw new Error(`--layer-b ${args.layerB} is out of range: model B has ${b.length} attention layers`);
  const layerOf = args.layerB === undefined ? (i: number) => mapLayer(i, a.length, b.length) : () => args.layerB! - 1;
  // Long sides compute each layer as it is compared (seconds a layer pair): say how far it is on a
  // terminal (not one the JSON is printed on as well: the document is written as they are compared).
  const progress = (sideA.onDemand || sideB.onDemand) && process.stderr.isTTY && !(args.json && process.stdout.isTTY) ? (done: number, of: number) => process.stderr.write(`\rcomparing layer ${done + 1} of ${of}…`) : undefined;
  const progressDone = () => progress && process.stderr.write('\r\x1b[K');
  // Long runs kept wholly as queries and keys, paired token for token: the same queries and keys
  // give the same weights, known without computing them again. Else the weights say (the first
  // layer that differs ends it).
  const byQueryKeys = sideA.queryKeys && sideB.queryKeys && a.length === b.length && sideA.records.every((r, i) => alignsAsIs(r, alignment) && alignsAsIs(sideB.records[i], alignment));
  const identical = byQueryKeys
    ? sideA.queryKeys!.length === sideB.queryKeys!.length && sideA.queryKeys!.every((l, i) => sameQueryKeys(l, sideB.queryKeys![i]))
    : identicalRecords(a, b);
  if (identical) process.stderr.write('note: the two runs are identical: every difference is 0.\n');
  if (!args.json) {
    const layers = layerComparisons(a, b, layerOf, progress);
    progressDone();
    return out(table(layers, alignment.description, identical));
  }
  // Streamed: with --diff at full length the document runs to hundreds of megabytes. Each layer
  // pair is compared as it is written, its A − B right after from the same computed layers.
  await writeJson(compareJson({
    models: [ia, ib].map((info, k) => {
      const onnx = args.onnx[infos.length === 2 ? k : 0];
      return { folder: info.folder, ...(onnx ? { onnx } : {}), architecture: info.architecture };
    }),
    texts: [prepared.a.text, prepared.b.text],
    tokens: [prepared.a.tokens, prepared.b.tokens],
    alignment, a, b, layerOf, progress, identical, diff: args.diff, notice: prepared.notice,
  }), chunk);
  progressDone();
  await out('\n');
}

/** Both sides of a comparison of texts. One model (two texts): one tokenizer and, in `compare`, one session for both. */
async function textSides(infos: ModelInfo[], args: CompareArgs): Promise<PreparedComparison> {
  for (const info of infos) checkTextModel(info);
  const tokenizers = infos.map((info) => ModelTokenizer.load(info.folder));
  const sides = [infos[0], infos.at(-1)!].map((info, i) => ({ info, tokenizer: tokenizers[Math.min(i, infos.length - 1)], text: i === 0 ? args.text : args.textB ?? args.text, label: path.basename(info.folder) }));
  return prepareComparison(sides[0], sides[1]);
}

/** Both sides of two image models on one image: each processes it as its own processor says; its patches are its tokens. */
async function imageSides(a: ModelInfo, b: ModelInfo, file: string): Promise<{ a: ImageSide; b: ImageSide; notice?: string }> {
  const side = async (info: ModelInfo, name: string): Promise<ImageSide> => {
    if (info.vision && info.encoderDecoder) throw new Error(`model ${name} (${info.folder}) is an image captioner: compare image models (ViT, DeiT, BEiT, DINOv2) on an image.`);
    const input = await imageInput(info, file);
    for (const n of input.notices) process.stderr.write(`warning: ${n}\n`);
    return { text: '', tokens: input.tokens, pixelValues: input.pixelValues };
  };
  return { a: await side(a, 'A'), b: await side(b, 'B') };
}

type ImageSide = PreparedSide & { pixelValues: RunInput['pixelValues'] };

/** The most and least alike head pairs (best match of each head of A), for a terminal. */
function table(layers: LayerComparison[], alignment: string, identical: boolean): string {
  const rows = layers.flatMap((l) => bestMatches(l.distances, l.headsA, l.headsB).map((m, h) => ({
    a: `${l.labelA} head ${h + 1}`, b: `${l.labelB} head ${m.head + 1}`, js: m.distance, mad: l.meanAbsDifference?.[h],
  })));
  rows.sort((x, y) => x.js - y.js);
  const n = Math.min(5, Math.ceil(rows.length / 2));
  const line = (r: (typeof rows)[number]) => `  ${r.a.padEnd(20)} ~ ${r.b.padEnd(20)} JS ${r.js.toFixed(3)}${r.mad === undefined ? '' : `   mean |A−B| ${r.mad.toFixed(4)}`}`;
  return [
    `alignment: ${alignment}`,
    ...(identical ? ['The two runs are identical: every difference is 0.'] : []),
    '',
    'most alike (each head of A and its closest head of B):',
    ...rows.slice(0, n).map(line),
    '',
    'least alike:',
    ...rows.slice(-n).reverse().map(line),
    '',
  ].join('\n');
}
