/**
 * The JSON document of a run, as `attention-lens inspect --json` prints it and a data export
 * saves it: model, backend, tokens with UTF-16 offsets, every attention tensor as
 * `weights[head][query][key]`, and head statistics and the mechanism when computed. Rows are
 * views into the tensors (no copy), each record's read when it is written; `writeJson` streams
 * them. Pure.
 */
import type { Aggregation } from '../analysis/aggregate';
import { type AttentionRecord, type AttentionTensor, row } from '../attention';
import { type MechanismLayer, mechanismRow } from '../mechanism';
import type { LabelProbability } from '../classification';
import type { TokenInfo } from '../tokens';

export interface RunJsonInput {
  model: { folder: string; architecture: string };
  backend: string;
  /** Tokens (or words) as the attention indexes them. */
  tokens: readonly TokenInfo[];
  decoderTokens?: readonly TokenInfo[];
  /** The records shown: per head, or one aggregate per layer. */
  records: readonly AttentionRecord[];
  aggregate?: Aggregation;
  /** Per-head statistics and labels, when computed. */
  heads?: readonly unknown[];
  mechanism?: readonly MechanismLayer[];
  warnings: readonly string[];
  /** A classifier's labels by probability. */
  prediction?: readonly LabelProbability[];
  /** An image model's input: the image's file and size, and the tensor the model received (its shape and SHA-256). */
  image?: { file: string; width: number; height: number };
  pixelValues?: { shape: readonly number[]; sha256: string };
}

/** The document, ready for `writeJson`. */
export function runJson(p: RunJsonInput) {
  return {
    model: p.model,
    backend: p.backend,
    ...(p.image ? { image: p.image } : {}),
    ...(p.pixelValues ? { pixelValues: p.pixelValues } : {}),
    tokens: p.tokens,
    ...(p.decoderTokens ? { decoderTokens: p.decoderTokens } : {}),
    attention: p.records.map((r) => ({
      name: p.aggregate ? `${p.aggregate}(${r.source.name})` : r.source.name,
      kind: r.source.kind,
      layer: r.source.layer,
      heads: r.heads,
      queries: r.queries,
      keys: r.keys,
      // Read when written: a long run's layers are computed one at a time, never all at once.
      weights: { toJSON: () => rowViews(r) },
    })),
    ...(p.prediction ? { prediction: p.prediction } : {}),
    ...(p.heads ? { heads: p.heads } : {}),
    ...(p.mechanism ? { mechanism: p.mechanism.map(mechanismJson) } : {}),
    ...(p.warnings.length > 0 ? { warnings: p.warnings } : {}),
  };
}

/** One layer's mechanism in the `--mechanism` JSON shape: `[head][token][dim]` and `[head][query][key]` rows, masked scores null. */
function mechanismJson(m: MechanismLayer) {
  const rows = (data: Float32Array, rowsPerHead: number, cols: number) =>
    Array.from({ length: m.heads }, (_, h) => Array.from({ length: rowsPerHead }, (_, i) => mechanismRow(data, rowsPerHead, cols, h, i)));
  return {
    name: m.name,
    kind: m.kind,
    layer: m.layer,
    heads: m.heads,
    headDim: m.headDim,
    scale: m.scale,
    ...(m.shaped ? { shaped: true } : {}),
    q: rows(m.q, m.queries, m.headDim),
    k: rows(m.k, m.keys, m.headDim),
    v: rows(m.v, m.keys, m.valueDim),
    scores: rows(m.scores, m.queries, m.keys),
    output: rows(m.output, m.queries, m.valueDim),
    contribution: rows(m.contribution, m.queries, m.keys),
    contributionBasis: m.contributionBasis,
  };
}


/** `weights[head][query]` as views into the tensor (no copy); the JSON writer prints each row as an array. */
export function rowViews(t: AttentionTensor): Float32Array[][] {
  return Array.from({ length: t.heads }, (_, h) => Array.from({ length: t.queries }, (_, q) => row(t, h, q)));
}
