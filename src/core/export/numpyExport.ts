/**
 * A run as NumPy arrays, for `numpy.load` and nothing else: float32 attention
 * `[layers, heads, queries, keys]` per kind (`attentions`, or `encoder_attentions`,
 * `decoder_attentions`, `cross_attentions`), int64 token ids, the tokens' texts as a Unicode array
 * and their UTF-16 offsets into the text (an image model's run: float32 `pixel_values` and each
 * token's patch instead), plus `tokens.json` for readers other than NumPy.
 * Always the layers as the model returned them, in full precision. Pure.
 */
import { type AttentionKind, type AttentionLayer, compareLayers } from '../attention';
import type { TokenInfo } from '../tokens';
import type { ArchiveEntry } from './archive';
import { type LaterFloats, type NpyArray, npyChunks } from './npy';

/** What a data export holds. */
export interface ExportRun {
  model: { label: string; folder?: string; architecture?: string };
  text: string;
  tokens: readonly TokenInfo[];
  decoderTokens?: readonly TokenInfo[];
  layers: readonly AttentionLayer[];
  /** An image model's input: float32 `pixel_values` as the model received it, and each patch token's box. */
  pixelValues?: { data: Float32Array; dims: readonly number[] };
  /**
   * Where each layer's weights are read when they are written, instead of its `data`: a long
   * input's layers, each computed in turn, so the export never holds more than one.
   */
  readLayer?(layer: AttentionLayer): Promise<Float32Array>;
}

const PREFIX: Record<AttentionKind, string> = { self: 'attentions', encoder: 'encoder_attentions', decoder: 'decoder_attentions', cross: 'cross_attentions' };

/** The archive entries of a `.npz` (or, one per file, a folder of `.npy`). */
export function numpyEntries(run: ExportRun): ArchiveEntry[] {
  const entries: ArchiveEntry[] = [];
  const add = (name: string, a: NpyArray) => entries.push({ name: `${name}.npy`, chunks: npyChunks(a) });
  const byKind = new Map<AttentionKind, AttentionLayer[]>();
  for (const l of [...run.layers].sort(compareLayers)) byKind.set(l.kind, [...(byKind.get(l.kind) ?? []), l]);
  const weights = (l: AttentionLayer): Float32Array | LaterFloats => (run.readLayer ? { length: l.heads * l.queries * l.keys, read: () => run.readLayer!(l) } : l.data);
  for (const [kind, layers] of byKind) {
    const [first] = layers;
    const same = layers.every((l) => l.heads === first.heads && l.queries === first.queries && l.keys === first.keys);
    if (same) add(PREFIX[kind], { dtype: 'float32', shape: [layers.length, first.heads, first.queries, first.keys], data: layers.map(weights) });
    // Layers of different shapes (rare) cannot stack: one array each, named like the output.
    else for (const l of layers) add(l.name, { dtype: 'float32', shape: [l.heads, l.queries, l.keys], data: [weights(l)] });
  }
  const tokenArrays = (prefix: string, tokens: readonly TokenInfo[]) => {
    add(`${prefix}input_ids`, { dtype: 'int64', shape: [tokens.length], data: BigInt64Array.from(tokens, (t) => BigInt(t.id)) });
    add(`${prefix}tokens`, { dtype: 'unicode', shape: [tokens.length], data: tokens.map((t) => t.text) });
    add(`${prefix}offsets`, { dtype: 'int64', shape: [tokens.length, 2], data: BigInt64Array.from(tokens.flatMap((t) => [BigInt(t.start), BigInt(t.end)])) });
  };
  if (run.pixelValues) {
    add('pixel_values', { dtype: 'float32', shape: [...run.pixelValues.dims], data: [run.pixelValues.data] });
    // Each token's patch: row, column, and its box in the original image (x, y, width, height); −1 for special tokens.
    const boxes = run.tokens.map((t) => (t as TokenInfo & { patch?: { row: number; col: number; x: number; y: number; width: number; height: number } }).patch);
    add('patches', { dtype: 'float32', shape: [run.tokens.length, 6], data: [Float32Array.from(boxes.flatMap((p) => (p ? [p.row, p.col, p.x, p.y, p.width, p.height] : [-1, -1, -1, -1, -1, -1])))] });
    add('tokens', { dtype: 'unicode', shape: [run.tokens.length], data: run.tokens.map((t) => t.text) });
  } else tokenArrays('', run.tokens);
  if (run.decoderTokens) tokenArrays('decoder_', run.decoderTokens);
  const json = {
    model: run.model,
    text: run.text,
    tokens: run.tokens.map(tokenJson),
    ...(run.decoderTokens ? { decoderTokens: run.decoderTokens.map(tokenJson) } : {}),
    arrays: entries.map((e) => e.name),
  };
  entries.push({ name: 'tokens.json', chunks: [new TextEncoder().encode(JSON.stringify(json, null, 1))] });
  return entries;
}

function tokenJson(t: TokenInfo) {
  return { id: t.id, text: t.text, start: t.start, end: t.end, special: t.special };
}
