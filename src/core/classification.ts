/**
 * A classifier's prediction (a config with `id2label` and logits of one row of that many): the
 * labels by probability, a softmax over the logits as Hugging Face's text-classification pipeline
 * gives for single-label models. Pure.
 */
import type { Logits } from './engine/attentionEngine';
import { probabilities } from './generation/sampling';

/** A label and its probability. */
export interface LabelProbability {
  label: string;
  probability: number;
}

/** The `k` most probable labels, most probable first; undefined when the logits are not one row of `labels.length` (a language model). */
export function predictedLabels(logits: Logits | undefined, labels: readonly string[], k = labels.length): LabelProbability[] | undefined {
  if (!logits || logits.rows !== 1 || logits.vocab !== labels.length) return undefined;
  const p = probabilities(logits.data);
  return labels.map((label, i) => ({ label, probability: p[i] })).sort((a, b) => b.probability - a.probability).slice(0, k);
}

/** "POSITIVE 0.931 · NEGATIVE 0.069". */
export function predictionText(labels: readonly LabelProbability[]): string {
  return labels.map((l) => `${l.label} ${l.probability.toFixed(3)}`).join(' · ');
}
