// A long input's attention rollout (issue 24): made a layer at a time from queries and keys, as the
// page's worker makes it, it equals the rollout of the full tensors, and a plain dense product
// written here; the pass through the panel's state shows progress, can be stopped by another
// choice, and keeps what it made compacted like a run's layers.
import { describe, expect, it } from 'vitest';
import { type AttentionRecord, recordOfLayer } from '../../src/core/attention';
import { type RolloutMatrix, type RolloutOptions, rollout, rolloutStep } from '../../src/core/analysis/aggregate';
import { contributionRecord } from '../../src/core/mechanism';
import type { RunRequest } from '../../src/core/protocol/panel';
import { type QueryKeyLayer, type RolloutTask, layerWeights, rolloutLayer } from '../../src/core/queryKeys';

/** A layer of `heads` query heads sharing `kvHeads` key heads over `n` tokens; queries and keys of 3 dimensions. */
function qkLayer(layer: number, n: number, extra: Partial<QueryKeyLayer> = {}, heads = 4, kvHeads = 2): QueryKeyLayer {
  const q = Float32Array.from({ length: heads * n * 3 }, (_, i) => Math.sin(i * 1.3 + layer) * 2);
  const k = Float32Array.from({ length: kvHeads * n * 3 }, (_, i) => Math.cos(i * 0.7 + layer * 2));
  return { name: `attentions.${layer}`, kind: 'self', layer, heads, kvHeads, queries: n, keys: n, headDim: 3, scale: 0.6, q, k, causal: true, ...extra };
}

const tokensOf = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, text: `t${i}`, start: i, end: i + 1, special: i === 0 }));

/** The layers as full tensors, as a short run has them. */
function fullRecords(layers: QueryKeyLayer[]): AttentionRecord[] {
  return layers.map((l) => recordOfLayer(layerWeights(l), { tokens: tokensOf(l.queries), causal: l.causal }));
}

/** Rollout as the paper writes it, dense and in float64: Ã = ½·mean over heads + ½·I, rows renormalised; R_L = Ã_L·R_(L−1). */
function denseRollout(records: AttentionRecord[]): number[][][] {
  const out: number[][][] = [];
  let acc: number[][] | undefined;
  for (const r of records) {
    const n = r.queries;
    const t = Array.from({ length: n }, (_, q) => {
      const row = Array.from({ length: n }, (_, k) => {
        let mean = 0;
        for (let h = 0; h < r.heads; h++) mean += r.data[(h * n + q) * n + k] / r.heads;
        return 0.5 * mean + (q === k ? 0.5 : 0);
      });
      const sum = row.reduce((a, b) => a + b, 0);
      return row.map((v) => v / sum);
    });
    const prev = acc;
    acc = prev ? t.map((row) => Array.from({ length: n }, (_, k) => row.reduce((s, v, j) => s + v * prev[j][k], 0))) : t;
    out.push(acc);
  }
  return out;
}

/** The rollout a layer at a time, each layer a task as the page sends its worker (structured clones between them). */
function stepwise(layers: QueryKeyLayer[], options: RolloutOptions = {}): RolloutMatrix[] {
  const out: RolloutMatrix[] = [];
  let previous: RolloutMatrix | undefined;
  for (const layer of layers) {
    const task: RolloutTask = { previous, layer, n: layer.queries, fusion: options.fusion ?? 'mean', discard: options.discard ?? 0 };
    previous = rolloutLayer(structuredClone(task));
    out.push(previous);
  }
  return out;
}

const SHAPES: Array<[string, (layer: number, n: number) => QueryKeyLayer]> = [
  ['causal, grouped-query', (l, n) => qkLayer(l, n)],
  ['causal, a sliding window', (l, n) => qkLayer(l, n, { window: 5 })],
  ['bidirectional, padded', (l, n) => qkLayer(l, n, { causal: false, keyMask: Uint8Array.from({ length: n }, (_, i) => (i >= n - 3 ? 0 : 1)) }, 3, 3)],
  ['causal, a position bias', (l, n) => qkLayer(l, n, { bias: Float32Array.from({ length: 4 * (2 * n - 1) }, (_, i) => -0.05 * Math.abs((i % (2 * n - 1)) - (n - 1))) })],
];

/** One step as the rollout's loop read before the kernel: Ã's row, then its product with the rollout before, row by row over every key, in float64. */
function plainStep(previous: Float32Array | undefined, fused: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * n);
  for (let q = 0; q < n; q++) {
    const t = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) sum += t[k] = 0.5 * fused[q * n + k] + (q === k ? 0.5 : 0);
    for (let k = 0; k < n; k++) t[k] /= sum;
    if (!previous) {
      out.set(t, q * n);
      continue;
    }
    const row = new Float64Array(n);
    for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) row[k] += t[j] * previous[j * n + k];
    out.set(row, q * n);
  }
  return out;
}

describe('the rollout\'s product (kernels/rollout.wat)', () => {
  it('has the bits of the plain product, for any length, causal or not, with rows that start late or hold zeros', () => {
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (const n of [1, 2, 3, 5, 8, 17, 64, 131]) {
      for (const shape of ['causal', 'window', 'full', 'sparse']) {
        const fused = () => {
          const m = new Float32Array(n * n);
          for (let q = 0; q < n; q++) {
            const from = shape === 'window' ? Math.max(0, q - 4) : 0, to = shape === 'causal' || shape === 'window' ? q : n - 1;
            let s = 0;
            for (let k = from; k <= to; k++) s += m[q * n + k] = shape === 'sparse' && rnd() < 0.5 ? 0 : rnd() + 1e-3;
            if (s > 0) for (let k = from; k <= to; k++) m[q * n + k] /= s;
          }
          return m;
        };
        const a = fused(), b = fused();
        const first = rolloutStep(undefined, a, n);
        expect(Array.from(first.data)).toEqual(Array.from(plainStep(undefined, a, n)));
        const second = rolloutStep(first, b, n);
        expect([n, shape, Array.from(second.data)]).toEqual([n, shape, Array.from(plainStep(plainStep(undefined, a, n), b, n))]);
      }
    }
  });
});

describe('a long input\'s rollout, a layer at a time from queries and keys', () => {
  for (const [what, make] of SHAPES) {
    it(`equals a dense rollout of the full tensors within 1e-6, and the panel's own to the bit (${what})`, () => {
      const n = 17;
      const layers = [0, 1, 2].map((l) => make(l, n));
      const full = fullRecords(layers);
      const dense = denseRollout(full);
      const made = stepwise(layers);
      made.forEach((m, l) => {
        let worst = 0;
        for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) worst = Math.max(worst, Math.abs(m.data[q * n + k] - dense[l][q][k]));
        expect(worst).toBeLessThan(1e-6);
        // Each row ends where its last weight that is not 0 is: nothing after it.
        for (let q = 0; q < n; q++) {
          let end = n;
          while (end > 0 && m.data[q * n + end - 1] === 0) end--;
          expect(m.ends[q]).toBe(end);
        }
      });
      for (const options of [{}, { fusion: 'max' }, { fusion: 'min', discard: 0.25 }, { discard: 0.5 }] as RolloutOptions[]) {
        const whole = rollout(full, options);
        stepwise(layers, options).forEach((m, l) => expect(Array.from(m.data)).toEqual(Array.from(whole[l].data)));
      }
    });
  }

  it('drops the lowest share of each fused layer as a sort of every weight by value, then position, would (entry 0 kept)', () => {
    // Fused weights with ties: a one-head layer whose rows repeat values.
    const n = 6;
    const values = Float32Array.from({ length: n * n }, (_, i) => [0.1, 0.2, 0.1, 0.3, 0.2, 0.1][i % 6] / (1 + (i % 4)));
    const r: AttentionRecord = { ...fullRecords([qkLayer(0, n, { causal: false }, 1, 1)])[0], data: values };
    for (const share of [0.1, 0.3, 0.5, 0.9]) {
      const count = Math.floor(n * n * share);
      const order = Array.from(values.keys()).sort((a, b) => values[a] - values[b] || a - b).slice(0, count);
      const kept = Float32Array.from(values);
      for (const i of order) if (i !== 0) kept[i] = 0;
      const expected = rollout([{ ...r, data: kept }])[0].data;
      expect(Array.from(rollout([r], { discard: share })[0].data)).toEqual(Array.from(expected));
    }
  });
});

describe('the rollout pass of a long run in the panel', () => {
  const n = 9;
  const tokens = tokensOf(n);
  const req: RunRequest = {
    runId: 7, model: { id: 'm', label: 'M', architecture: 'qwen2', onnxFile: 'u', onnxLabel: 'onnx/model.onnx', causal: true },
    backend: 'auto', text: 'x'.repeat(n), tokens, ids: Int32Array.from(tokens.map((t) => t.id)), maxLinksPerQuery: 12,
  };
  const layers = [0, 1, 2].map((l) => qkLayer(l, n));
  const result = { layers: [], queryKeys: layers, backend: 'native' as const, millis: 1, warnings: [], spans: [], backendReason: '', moreToCome: false };
  /** Waits (a few ms at a time, as the pass yields between layers) until `done()`. */
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(done()).toBe(true);
  };

  it('shows the heads while it runs, with progress, then every layer\'s rollout as the full tensors give it; another choice stops it', async () => {
    const { PanelState } = await import('../../webview/panel/state');
    const { LongRolloutPass } = await import('../../webview/panel/longRollout');
    const state = new PanelState();
    const asked: number[] = [];
    let release: (() => void) | undefined;
    // The worker, as the page has it: each layer's result arrives later; the third waits for the test.
    const step = async (task: RolloutTask) => {
      asked.push(task.layer!.layer);
      if (task.layer!.layer === 2) await new Promise<void>((r) => (release = r));
      return rolloutLayer(structuredClone(task));
    };
    const pass = new LongRolloutPass(state, step, (r) => r === state.snapshot.run?.request);
    const messages: string[] = [];
    state.onDidChange(() => {
      const p = state.snapshot.phase;
      if (p.name === 'running') messages.push(`${p.message} ${p.fraction}`);
    });
    state.finish(req, result);
    state.setChoices({ aggregate: 'rollout' });
    pass.ensure();
    pass.ensure(); // once per choice
    // Until it is made, the layers' heads show.
    expect(state.snapshot.records.map((r) => r.heads)).toEqual([4, 4, 4]);
    await until(() => asked.length === 3);
    expect(asked).toEqual([0, 1, 2]);
    expect(messages.at(-1)).toMatch(/^Rollout: layer 3 of 3 \(every layer's rollout, 9 × 9, takes 0\.0 MB\); choose Heads to stop 0\.666/);
    release!();
    await until(() => state.snapshot.phase.name === 'ready');
    const s = state.snapshot;
    expect(s.phase.name).toBe('ready');
    const whole = rollout(fullRecords(layers));
    expect(s.records.map((r) => [r.label, r.heads])).toEqual(whole.map((r) => [r.label, 1]));
    s.records.forEach((r, i) => expect(Array.from(r.data)).toEqual(Array.from(whole[i].data)));
    // What it shows is not made from the layer on screen, so no layer is held for it.
    expect(state.layersOnScreen).toEqual([]);
    expect(s.recordStore).toBe(s.run!.rollout!.store);
    pass.ensure();
    expect(asked).toEqual([0, 1, 2]); // made once

    // Another fusion: made again; choosing the heads meanwhile stops it, and the state settles.
    state.setChoices({ rollout: { fusion: 'max', discard: 0 } });
    expect(state.snapshot.run!.rollout).toBeUndefined(); // the other choices' rollout goes
    pass.ensure();
    await until(() => asked.length === 6);
    expect(asked).toEqual([0, 1, 2, 0, 1, 2]);
    state.setChoices({ aggregate: undefined });
    release!();
    await until(() => state.snapshot.phase.name === 'ready');
    expect([state.snapshot.phase.name, state.snapshot.run!.rollout, state.snapshot.records.map((r) => r.heads)]).toEqual(['ready', undefined, [4, 4, 4]]);
  });

  it('with contributions, rolls out each layer\'s contributions as the full tensors\' give it, each layer sent to the worker with its value norms; weights again make it again', async () => {
    const { PanelState } = await import('../../webview/panel/state');
    const { LongRolloutPass } = await import('../../webview/panel/longRollout');
    const state = new PanelState();
    const normed = layers.map((l) => ({ ...l, valueNorms: Float32Array.from({ length: l.heads * n }, (_, i) => 0.2 + Math.abs(Math.cos(i + l.layer))), valueNormBasis: 'output-projection' as const }));
    const sent: boolean[] = [];
    const pass = new LongRolloutPass(state, async (task) => {
      sent.push(task.layer?.byContribution === true);
      return rolloutLayer(structuredClone(task));
    }, (r) => r === state.snapshot.run?.request);
    state.setWeighting('contribution');
    state.finish(req, { ...result, queryKeys: normed });
    state.setContributions({ runId: req.runId, byName: new Map(), basis: 'output-projection' });
    state.setChoices({ aggregate: 'rollout' });
    pass.ensure();
    await until(() => state.snapshot.run?.rollout !== undefined);
    expect(sent).toEqual([true, true, true]);
    // The full tensors' contributions: weight × the key's norm, normalised per query (the mechanism's own function).
    const contributions = fullRecords(normed).map((r, l) => contributionRecord(r, r.data.map((w, i) => w * normed[l].valueNorms[Math.floor(i / (n * n)) * n + (i % n)])));
    const whole = rollout(contributions);
    state.snapshot.records.forEach((r, i) => expect(Math.max(...Array.from(r.data, (x, j) => Math.abs(x - whole[i].data[j])))).toBeLessThan(1e-6));
    const byWeights = rollout(fullRecords(normed));
    expect(Math.max(...Array.from(state.snapshot.records[2].data, (x, j) => Math.abs(x - byWeights[2].data[j])))).toBeGreaterThan(1e-3);
    state.setWeighting('attention');
    expect(state.snapshot.run!.rollout).toBeUndefined(); // the contributions' rollout goes (a matrix per layer)
    expect(state.snapshot.records.map((r) => r.heads)).toEqual([4, 4, 4]); // the heads, until the weights' rollout is made
    pass.ensure();
    await until(() => sent.length === 6 && state.snapshot.records[0].heads === 1);
    expect(sent.slice(3)).toEqual([false, false, false]);
    state.snapshot.records.forEach((r, i) => expect(Array.from(r.data)).toEqual(Array.from(byWeights[i].data)));
  });

  it('says what failed and goes back to the heads when a layer cannot be made', async () => {
    const { PanelState } = await import('../../webview/panel/state');
    const { LongRolloutPass } = await import('../../webview/panel/longRollout');
    const state = new PanelState();
    const pass = new LongRolloutPass(state, () => Promise.reject(new Error('the worker stopped')), (r) => r === state.snapshot.run?.request);
    state.finish(req, result);
    state.setChoices({ aggregate: 'rollout' });
    pass.ensure();
    await until(() => state.snapshot.phase.name === 'ready');
    expect([state.snapshot.phase.name, state.snapshot.choices.aggregate]).toEqual(['ready', undefined]);
    expect(state.snapshot.notice).toMatch(/Warning: the rollout could not be computed \(the worker stopped\)\.$/);
  });

  it('keeps each layer\'s rollout compacted, the one on screen read back in full precision', async () => {
    const { longRollout } = await import('../../webview/panel/longRollout');
    const { storedRecords } = await import('../../webview/panel/layerStore');
    const { records: base } = storedRecords(fullRecords(layers), 0, true, layers.map((l) => ({ compute: () => layerWeights(l).data, computeLater: async () => layerWeights(l).data, heldBytes: 0, naiveBytes: 0, layer: l })));
    const made = await longRollout(base, {}, async (t) => rolloutLayer(t), () => undefined, () => false, 0);
    const whole = rollout(fullRecords(layers));
    expect(made!.store.heldBytes).toBe(3 * n * n * 2); // 16 bits each
    expect(made!.store.blobBytes).toBe(3 * n * n * 4);
    await made!.store.pin([1]);
    expect(Array.from(made!.records[1].data)).toEqual(Array.from(whole[1].data));
    expect(Array.from(made!.records[2].data)).not.toEqual(Array.from(whole[2].data)); // off screen: its 16-bit copy
    expect(await longRollout(base, {}, async (t) => rolloutLayer(t), () => undefined, () => true, 0)).toBeUndefined();
  });
});
