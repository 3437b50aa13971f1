// The host's runs registry: the events its subscribers (panel, editor, status bar, notifications) rely on.
import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/core/analysis/summary';
import { recordOfLayer } from '../../src/core/attention';
import { type Run, RunRegistry } from '../../src/runs/runRegistry';

const init = () => ({ model: { id: 'bundled:x', label: 'X' }, document: { uri: 'untitled:1', version: 1, offset: 0, length: 1 }, tokens: [{ id: 1, text: 'a', start: 0, end: 1, special: false }] });
const summaryOf = (runId: number) =>
  summarize(runId, recordOfLayer({ name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: 1, keys: 1, data: Float32Array.of(1) }, { tokens: init().tokens, causal: false }), [0], 4);

function watch(runs: RunRegistry) {
  const events: string[] = [];
  runs.onDidAdd((r: Run) => events.push(`add ${r.id}`));
  runs.onDidChange((r: Run) => events.push(`change ${r.id} ${r.status}${r.progress ? ` ${r.progress}` : ''}${r.summary ? ' summary' : ''}`));
  runs.onDidRemove((r: Run) => events.push(`remove ${r.id}`));
  return events;
}

describe('RunRegistry', () => {
  it('gives each run a new id and reports its life: progress, result, summary, removal', () => {
    const runs = new RunRegistry();
    const events = watch(runs);
    const a = runs.add(init());
    const b = runs.add(init());
    expect([a.id, b.id, a.status]).toEqual([1, 2, 'running']);
    expect(runs.latest?.id).toBe(2);
    runs.progress(2, 'Loading…');
    runs.setSummary(summaryOf(2)); // the panel draws, sends its summary, then reports the result
    runs.finish(2, { backend: 'wasm', millis: 4, backendReason: 'no adapter' });
    expect(runs.get(2)).toMatchObject({ status: 'done', backend: 'wasm', millis: 4, progress: undefined });
    expect(runs.get(2)?.summary?.runId).toBe(2);
    runs.remove(2);
    expect(runs.latest?.id).toBe(1);
    expect(events).toEqual(['add 1', 'add 2', 'change 2 running Loading…', 'change 2 running Loading… summary', 'change 2 done summary', 'remove 2']);
  });

  it('ignores late messages for cancelled, failed and removed runs', () => {
    const runs = new RunRegistry();
    const events = watch(runs);
    const a = runs.add(init());
    runs.cancel(a.id);
    runs.finish(a.id, { backend: 'webgpu', millis: 1, backendReason: 'hardware' });
    runs.fail(a.id, 'late');
    runs.setSummary(summaryOf(a.id));
    expect(runs.get(a.id)?.status).toBe('cancelled');
    const b = runs.add(init());
    runs.fail(b.id, 'boom');
    runs.finish(b.id, { backend: 'wasm', millis: 1, backendReason: 'no adapter' });
    expect(runs.get(b.id)).toMatchObject({ status: 'failed', error: 'boom' });
    runs.remove(b.id);
    runs.progress(b.id, 'late');
    runs.setSummary(summaryOf(99));
    expect(events).toEqual(['add 1', 'change 1 cancelled', 'add 2', 'change 2 failed', 'remove 2']);
  });

  it('cancels a running run when it is removed, so progress displays end', () => {
    const runs = new RunRegistry();
    const events = watch(runs);
    runs.add(init());
    runs.remove(1);
    runs.remove(1);
    expect(events).toEqual(['add 1', 'change 1 cancelled', 'remove 1']);
    expect(runs.latest).toBeUndefined();
  });

  it('stops notifying a listener once its subscription is disposed', () => {
    const runs = new RunRegistry();
    const seen: number[] = [];
    const sub = runs.onDidAdd((r) => seen.push(r.id));
    runs.add(init());
    sub.dispose();
    runs.add(init());
    expect(seen).toEqual([1]);
  });
});

describe('RunRegistry: what the head explorer and the panel share', () => {
  it('keeps one selection per run and fires only when it changes', () => {
    const runs = new RunRegistry();
    const events = watch(runs);
    runs.add(init());
    runs.setSelection(1, { recordIndex: 2, heads: [3] });
    runs.setSelection(1, { recordIndex: 2, heads: [3] });
    runs.setSelection(1, { recordIndex: 2, heads: [1, 3] });
    runs.setSelection(9, { recordIndex: 0, heads: [0] });
    expect(runs.get(1)?.selection).toEqual({ recordIndex: 2, heads: [1, 3] });
    expect(events).toEqual(['add 1', 'change 1 running', 'change 1 running']);
    // The panel says how many heads the record has; a selection that does not (the explorer's) keeps it for that record only.
    runs.setSelection(1, { recordIndex: 2, heads: [1, 3], of: 4 });
    runs.setSelection(1, { recordIndex: 2, heads: [0, 1, 2, 3] });
    expect(runs.get(1)?.selection).toEqual({ recordIndex: 2, heads: [0, 1, 2, 3], of: 4 });
    runs.setSelection(1, { recordIndex: 1, heads: [0] });
    expect(runs.get(1)?.selection).toEqual({ recordIndex: 1, heads: [0] });
    expect(events).toHaveLength(6);
  });

  it('takes the grid of a live run, relays similarity requests, and stores their answers', () => {
    const runs = new RunRegistry();
    const asked: string[] = [];
    runs.onDidRequestSimilarity((r) => asked.push(`${r.runId}:${r.recordIndex}:${r.head}`));
    const a = runs.add(init());
    const grid = { runId: a.id, rows: [], size: 1, thumbnails: new Uint8Array(0), stats: new Float32Array(0) };
    // How far the panel is, until the grid arrives (a long input's takes minutes); then that is gone.
    runs.setGridProgress(a.id, 3, 24);
    expect(runs.get(a.id)?.gridProgress).toEqual({ done: 3, of: 24 });
    // The explorer's Stop and Measure again reach the panel holding the run; the panel says where it stopped.
    const grids: string[] = [];
    runs.onDidRequestGrid((r) => grids.push(`${r.runId}:${r.measure}`));
    runs.requestGrid(a.id, false);
    runs.requestGrid(42, true); // no such run
    expect(grids).toEqual(['1:false']);
    runs.setGridProgress(a.id, 4, 24, 'stopped');
    expect(runs.get(a.id)?.gridProgress).toEqual({ done: 4, of: 24, stopped: true });
    runs.setGrid(grid);
    expect([runs.get(a.id)?.grid, runs.get(a.id)?.gridProgress]).toEqual([grid, undefined]);
    runs.setGridProgress(a.id, 4, 24); // a late message of the pass
    expect(runs.get(a.id)?.gridProgress).toBeUndefined();
    // A long input's records changed (word level, hiding): its grid waits to be asked for again, and the old one goes.
    runs.setGridProgress(a.id, 0, 24, 'waiting');
    expect([runs.get(a.id)?.grid, runs.get(a.id)?.gridProgress]).toEqual([undefined, { done: 0, of: 24, waiting: true }]);
    runs.setGrid(grid);
    runs.requestSimilarity(a.id, 1, 2);
    runs.requestSimilarity(42, 1, 2); // no such run
    expect(asked).toEqual(['1:1:2']);
    runs.setSimilarity(a.id, { recordIndex: 1, head: 2, distances: Float32Array.of(0) });
    expect(runs.get(a.id)?.similarity?.head).toBe(2);
    runs.cancel(a.id);
    runs.setGrid({ ...grid });
    expect(runs.get(a.id)?.grid).toBe(grid);
  });
});
