// The panel's comparison run: A then B, every layer awaited, and a failing side named while the
// other side's result is kept.
import { describe, expect, it } from 'vitest';
import type { AttentionLayer } from '../../src/core/attention';
import type { FromPanel, RunRequest } from '../../src/core/protocol/panel';
import type { TokenInfo } from '../../src/core/tokens';
import { ComparisonRun } from '../../webview/panel/comparisonRun';
import type { RunResult } from '../../webview/panel/runner';
import { PanelState } from '../../webview/panel/state';

const tokens: TokenInfo[] = ['a', 'b'].map((text, i) => ({ id: i, text, start: i, end: i + 1, special: false }));
const model = (label: string) => ({ id: label, label, architecture: 'gpt2', onnxFile: label, onnxLabel: 'onnx/model.onnx', causal: false });
const layer = (i: number, w: number[]): AttentionLayer => ({ name: `attentions.${i}`, kind: 'self', layer: i, heads: 1, queries: 2, keys: 2, data: Float32Array.from(w) });
const result = (layers: AttentionLayer[], moreToCome = false): RunResult => ({ layers, backend: 'wasm', millis: 1, warnings: [], backendReason: '', spans: [], moreToCome });
const requestA: RunRequest = {
  runId: 7, model: model('A'), backend: 'wasm', text: 'ab', tokens, ids: Int32Array.from([0, 1]), maxLinksPerQuery: 12,
  compare: { model: model('B'), text: 'ab', tokens, ids: Int32Array.from([0, 1]), sameModel: false },
};

function setup() {
  const state = new PanelState();
  const started: RunRequest[] = [], posted: FromPanel[] = [], shown: Array<{ req: RunRequest; result: RunResult }> = [];
  let current: RunRequest | undefined = requestA;
  const run = new ComparisonRun({ state, startRun: (r) => started.push(r), show: (req, r) => shown.push({ req, result: r }), post: (m) => posted.push(m), isCurrent: (r) => r === current });
  run.begin(requestA);
  return { state, started, posted, shown, run, supersede: () => (current = undefined) };
}

describe('ComparisonRun', () => {
  it('runs B after A, waits for layers still on the GPU, and shows both', async () => {
    const { state, started, posted, run } = setup();
    run.finished(requestA, result([layer(0, [1, 0, 0.5, 0.5])], true));
    expect(started).toEqual([]); // A's other layers are still coming
    run.more(requestA, { layers: [layer(1, [1, 0, 0.2, 0.8])], warnings: [] });
    expect(started).toHaveLength(1);
    const b = started[0];
    expect(b.model.label).toBe('B');
    expect(b.keepWeightsBytes).toBeUndefined(); // the default, as A's
    expect(run.owns(b)).toBe(true);
    run.finished(b, result([layer(0, [1, 0, 0.5, 0.5]), layer(1, [1, 0, 0.6, 0.4])]));
    expect(state.snapshot.compare?.records).toHaveLength(2);
    expect(state.snapshot.records).toHaveLength(2); // short runs: shown at once
    await expect.poll(() => posted).toEqual([expect.objectContaining({ type: 'run/didFinish', runId: 7, millis: 2 })]);
  });

  it('keeps A when B fails, naming B', () => {
    const { started, posted, shown, run } = setup();
    run.finished(requestA, result([layer(0, [1, 0, 0.5, 0.5])]));
    run.failed(started[0], 'RangeError: Array buffer allocation failed');
    expect(shown).toHaveLength(1);
    expect(shown[0].req.notice).toMatch(/^Model B \(B\) failed: RangeError: Array buffer allocation failed\. The two models run one after the other and never hold memory together/);
    expect(posted).toEqual([]);
  });

  it('runs B when A fails, shows it, and reports A’s failure', () => {
    const { state, started, posted, run } = setup();
    run.failed(requestA, 'no attention found');
    expect(started).toHaveLength(1);
    run.finished(started[0], result([layer(0, [1, 0, 0.5, 0.5])]));
    expect(state.snapshot.run?.request.model.label).toBe('B');
    expect(state.snapshot.notice).toMatch(/Model A \(A\) failed: no attention found/);
    expect(posted).toEqual([expect.objectContaining({ type: 'run/didFail', runId: 7, message: expect.stringMatching(/^Model A \(A\) failed: no attention found/) })]);
  });

  it('reports both when both fail, and does nothing for a superseded comparison', () => {
    const { state, started, posted, run } = setup();
    run.failed(requestA, 'bad file');
    run.failed(started[0], 'bad too');
    expect(state.snapshot.phase).toEqual({ name: 'error', message: 'Model A (A) failed: bad file Model B (B) failed: bad too' });
    expect(posted).toHaveLength(1);
    const other = setup();
    other.supersede();
    other.run.finished(requestA, result([layer(0, [1, 0, 0.5, 0.5])]));
    expect(other.started).toEqual([]);
  });
});

describe('ComparisonRun with attentionLens.keepWeightsMB set', () => {
  it('runs B under the same limit as A, so each side keeps its weights or its queries and keys alike', () => {
    const state = new PanelState();
    const started: RunRequest[] = [];
    const run = new ComparisonRun({ state, startRun: (r) => started.push(r), show: () => undefined, post: () => undefined, isCurrent: () => true });
    const a = { ...requestA, keepWeightsBytes: 0 };
    run.begin(a);
    run.finished(a, result([layer(0, [1, 0, 0.5, 0.5])]));
    expect(started.map((b) => [b.model.label, b.keepWeightsBytes])).toEqual([['B', 0]]);
  });
});
