/**
 * Attention tensors as they flow through Attention Lens, independent of where they were
 * computed. Pure: shared by the host, the webview, the CLI and tests.
 */

/** Which attention a tensor holds: decoder-only/encoder-only self attention, or a part of an encoder-decoder. */
export type AttentionKind = 'self' | 'encoder' | 'decoder' | 'cross';

/** One layer's attention: `data[(head * queries + q) * keys + k]`, batch dimension dropped. */
export interface AttentionLayer {
  /** The ONNX output name, e.g. `attentions.3`. */
  name: string;
  kind: AttentionKind;
  layer: number;
  heads: number;
  queries: number;
  keys: number;
  data: Float32Array;
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

/** The weight of `head`, `query` → `key`. */
export function weightAt(a: AttentionLayer, head: number, query: number, key: number): number {
  return a.data[(head * a.queries + query) * a.keys + key];
}

/** Row `query` of `head` as a view into the layer's data (no copy). */
export function row(a: AttentionLayer, head: number, query: number): Float32Array {
  const start = (head * a.queries + query) * a.keys;
  return a.data.subarray(start, start + a.keys);
}

/** Converts a layer to nested arrays `[head][query][key]` (for JSON output). */
export function toNested(a: AttentionLayer): number[][][] {
  const out: number[][][] = [];
  for (let h = 0; h < a.heads; h++) {
    const rows: number[][] = [];
    for (let q = 0; q < a.queries; q++) rows.push(Array.from(row(a, h, q)));
    out.push(rows);
  }
  return out;
}
