/**
 * Attention as it flows through Attention Lens: raw layers as a model outputs them, and the
 * normalised records every view draws. Pure: shared by the host, the webviews, the CLI and tests.
 */
import type { TokenInfo } from './tokens';

/** Which attention a tensor holds: decoder-only/encoder-only self attention, or a part of an encoder-decoder. */
export type AttentionKind = 'self' | 'encoder' | 'decoder' | 'cross';

/** A `[heads, queries, keys]` tensor: `data[(head * queries + q) * keys + k]`. */
export interface AttentionTensor {
  heads: number;
  queries: number;
  keys: number;
  data: Float32Array;
}

/** One layer's attention as a model outputs it, batch dimension dropped. */
export interface AttentionLayer extends AttentionTensor {
  /** The ONNX output name, e.g. `attentions.3`. */
  name: string;
  kind: AttentionKind;
  layer: number;
}

/**
 * What every view draws, whatever produced it (a layer, a mean over heads, a rollout, A − B).
 * Which tokens sit on each side is decided once, when the record is made; views never branch on
 * where it came from.
 */
export interface AttentionRecord extends AttentionTensor {
  /** Unique within a run, e.g. the ONNX output name. */
  id: string;
  /** For people: "Layer 2", "cross Layer 1". */
  label: string;
  queryTokens: readonly TokenInfo[];
  keyTokens: readonly TokenInfo[];
  /** Keys after the query carry no attention (decoder self attention). */
  causal: boolean;
  /** Values may be negative (differences of two runs); weights otherwise. */
  signed: boolean;
  /** Queries and keys are both the inspected text, so the editor can show this record. */
  overInput: boolean;
  /** The model output it derives from, for exports and the CLI (views never branch on it). */
  source: Pick<AttentionLayer, 'name' | 'kind' | 'layer'>;
}

const NAME_PATTERN = /^(attentions|encoder_attentions|decoder_attentions|cross_attentions)\.(\d+)$/;
const KIND_BY_PREFIX: Record<string, AttentionKind> = {
  attentions: 'self',
  encoder_attentions: 'encoder',
  decoder_attentions: 'decoder',
  cross_attentions: 'cross',
};
const KIND_ORDER: AttentionKind[] = ['self', 'encoder', 'decoder', 'cross'];

/** Parses an output name like `decoder_attentions.2`; undefined for names that are not attention. */
export function parseAttentionName(name: string): { kind: AttentionKind; layer: number } | undefined {
  const m = NAME_PATTERN.exec(name);
  return m ? { kind: KIND_BY_PREFIX[m[1]], layer: Number(m[2]) } : undefined;
}

/** Orders layers by kind (self, encoder, decoder, cross) then layer index. */
export function compareLayers(a: Pick<AttentionLayer, 'kind' | 'layer'>, b: Pick<AttentionLayer, 'kind' | 'layer'>): number {
  return KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.layer - b.layer;
}

/** "Layer 2", "cross Layer 1" (1-based for people). */
export function layerLabel(a: Pick<AttentionLayer, 'kind' | 'layer'>): string {
  return `${a.kind === 'self' ? '' : `${a.kind} `}Layer ${a.layer + 1}`;
}

/** The weight of `head`, `query` → `key`. */
export function weightAt(a: AttentionTensor, head: number, query: number, key: number): number {
  return a.data[(head * a.queries + query) * a.keys + key];
}

/** Row `query` of `head` as a view into the tensor's data (no copy). */
export function row(a: AttentionTensor, head: number, query: number): Float32Array {
  const start = (head * a.queries + query) * a.keys;
  return a.data.subarray(start, start + a.keys);
}

/** Row `query` averaged over the heads `visibleHeads` marks. */
export function meanRow(a: AttentionTensor, visibleHeads: readonly boolean[], query: number): Float32Array {
  const heads = visibleHeads.flatMap((v, h) => (v ? [h] : []));
  const out = new Float32Array(a.keys);
  for (const h of heads) {
    const r = row(a, h, query);
    for (let k = 0; k < out.length; k++) out[k] += r[k] / heads.length;
  }
  return out;
}

/** The token sequences of one run: the input and, for encoder-decoder models, the decoder's. */
export interface RunTokens {
  tokens: readonly TokenInfo[];
  decoderTokens?: readonly TokenInfo[];
  /** Decoder-only model whose self attention is masked to the past. */
  causal: boolean;
}

/** Normalises one model output layer: its tokens on each side, causality and label. */
export function recordOfLayer(l: AttentionLayer, run: RunTokens): AttentionRecord {
  const dec = run.decoderTokens ?? run.tokens;
  const queryTokens = l.kind === 'decoder' || l.kind === 'cross' ? dec : run.tokens;
  const keyTokens = l.kind === 'decoder' ? dec : run.tokens;
  return {
    id: l.name,
    label: layerLabel(l),
    heads: l.heads,
    queries: l.queries,
    keys: l.keys,
    data: l.data,
    queryTokens,
    keyTokens,
    causal: l.kind === 'decoder' || (l.kind === 'self' && run.causal),
    signed: false,
    overInput: l.kind === 'self' || l.kind === 'encoder',
    source: { name: l.name, kind: l.kind, layer: l.layer },
  };
}
