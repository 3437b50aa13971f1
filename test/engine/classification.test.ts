// A classifier (config.json's id2label, logits of one row of that many labels): inspect predicts
// its labels with a softmax over the model's logits, computed here in plain JS from the same
// weights; a language model whose config also lists labels predicts nothing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AttentionGraphSpec, attentionGraph, expectedClassifierLogits } from './attentionGraphs';
import { FIXTURES, inspect, runCli } from './cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-classifier-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const TEXT = 'The cat sat on the mat.';

type Prediction = { prediction?: Array<{ label: string; probability: number }>; tokens: Array<{ id: number }> };

describe('a classifier', () => {
  it('predicts its labels by probability, as a softmax over its logits', () => {
    const dir = path.join(tmp, 'classifier');
    fs.cpSync(path.join(FIXTURES, 'models/bert-plain'), dir, { recursive: true });
    const spec: AttentionGraphSpec = { form: 'eager', layers: 2, hidden: 32, heads: 4, kvHeads: 4, causal: false, vocab: 3000, seed: 5, classifier: 3 };
    fs.writeFileSync(path.join(dir, 'onnx/model.onnx'), attentionGraph(spec));
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, architectures: ['BertForSequenceClassification'], id2label: { 0: 'negative', 1: 'neutral', 2: 'positive' } }));
    const out = inspect(dir, TEXT) as unknown as Prediction;
    const logits = expectedClassifierLogits(spec, out.tokens.map((t) => t.id));
    const max = Math.max(...logits);
    const sum = logits.reduce((s, v) => s + Math.exp(v - max), 0);
    const want = ['negative', 'neutral', 'positive'].map((label, i) => ({ label, probability: Math.exp(logits[i] - max) / sum })).sort((a, b) => b.probability - a.probability);
    expect(out.prediction!.map((p) => p.label)).toEqual(want.map((p) => p.label));
    out.prediction!.forEach((p, i) => expect(Math.abs(p.probability - want[i].probability)).toBeLessThan(1e-5));
    // Text mode says it first.
    const text = runCli(['inspect', '--model', dir, '--text', TEXT]);
    expect(text.stdout).toMatch(new RegExp(`^predicted: ${want[0].label} ${want[0].probability.toFixed(3)} · ${want[1].label}`, 'm'));
  });

  it('a language model whose config lists labels predicts nothing', () => {
    const dir = path.join(tmp, 'lm');
    fs.cpSync(path.join(FIXTURES, 'models/gpt2-attn'), dir, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, id2label: { 0: 'LABEL_0', 1: 'LABEL_1' } }));
    expect((inspect(dir, TEXT) as unknown as Prediction).prediction).toBeUndefined();
  });
});
