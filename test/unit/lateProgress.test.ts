// When a run's progress notification shows: only for a run still running a while after it began.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LateProgress } from '../../src/runs/lateProgress';
import { RunRegistry } from '../../src/runs/runRegistry';

const init = () => ({ model: { id: 'bundled:x', label: 'X' }, document: { uri: 'untitled:1', version: 1, offset: 0, length: 1 }, tokens: [{ id: 1, text: 'a', start: 0, end: 1, special: false }] });

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('LateProgress', () => {
  it('shows a run still running after the delay, with its progress then; not one that ended, failed, was cancelled or removed first', () => {
    const runs = new RunRegistry();
    const shown: string[] = [];
    const late = new LateProgress(runs, 1000, (run) => shown.push(`${run.id} ${run.progress ?? ''}`));
    runs.onDidAdd((run) => late.added(run));
    const [slow, quick, failing, cancelled, removed] = [runs.add(init()), runs.add(init()), runs.add(init()), runs.add(init()), runs.add(init())];
    for (const run of [slow, quick, failing, cancelled, removed]) late.added(run);
    runs.progress(slow.id, 'Running…');
    vi.advanceTimersByTime(999);
    runs.finish(quick.id, { backend: 'native', millis: 40, backendReason: 'here' });
    runs.fail(failing.id, 'no');
    runs.cancel(cancelled.id);
    runs.remove(removed.id);
    late.ended(removed.id);
    expect(shown).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(shown).toEqual([`${slow.id} Running…`]);
    vi.advanceTimersByTime(5000);
    expect(shown.length).toBe(1); // once
  });

  it('shows nothing once ended or disposed, whatever the run does after', () => {
    const runs = new RunRegistry();
    const shown: number[] = [];
    const late = new LateProgress(runs, 1000, (run) => shown.push(run.id));
    const a = runs.add(init());
    const b = runs.add(init());
    late.added(a);
    late.added(b);
    late.ended(a.id);
    late.dispose();
    vi.advanceTimersByTime(2000);
    expect(shown).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
