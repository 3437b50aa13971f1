/**
 * Where the time from the command to the picture goes: spans of named stages on one wall clock
 * (epoch milliseconds; the host and the webview run on the same machine). Stages can overlap (the
 * model loads while the host tokenizes), so the breakdown lists each span and the total is the
 * command-to-picture time, not their sum. Pure.
 */

/** Stages of one run, in the order they usually start. */
export type TimingStage = 'activation' | 'tokenize' | 'panel' | 'transfer' | 'runtime' | 'compile' | 'model' | 'session' | 'inference' | 'extraction' | 'draw' | 'paint';

/** One stage's interval, in epoch milliseconds. */
export interface TimingSpan {
  stage: TimingStage;
  start: number;
  end: number;
}

/** The timings of one run: when the command ran, the stages, when the picture was on screen. */
export interface RunTimings {
  commandAt: number;
  spans: TimingSpan[];
  pictureAt: number;
}

/** Names for people, in display order. */
export const TIMING_STAGES: ReadonlyArray<[TimingStage, string]> = [
  ['activation', 'extension activation'],
  ['tokenize', 'tokenize'],
  ['panel', 'panel start'],
  ['transfer', 'transfer to panel'],
  ['runtime', 'runtime read'],
  ['compile', 'runtime compile'],
  ['model', 'model read'],
  ['session', 'session create'],
  ['inference', 'inference'],
  ['extraction', 'attention extraction'],
  ['draw', 'first draw'],
  ['paint', 'paint (two frames)'],
];

/** Milliseconds per stage (spans of one stage added up); stages that did not happen are absent. */
export function stageTotals(t: RunTimings): Partial<Record<TimingStage, number>> {
  const out: Partial<Record<TimingStage, number>> = {};
  for (const s of t.spans) out[s.stage] = (out[s.stage] ?? 0) + Math.max(0, s.end - s.start);
  return out;
}

/** From the command to the picture on screen, in milliseconds. */
export function totalMillis(t: RunTimings): number {
  return Math.max(0, t.pictureAt - t.commandAt);
}

/** The share of the total not spent in inference (0–1). */
export function nonInferenceShare(t: RunTimings): number {
  const total = totalMillis(t);
  return total > 0 ? Math.max(0, total - (stageTotals(t).inference ?? 0)) / total : 0;
}

/** "1.84 s from the command to the picture: tokenize 12 ms, onnxruntime load 410 ms, …". */
export function describeTimings(t: RunTimings): string {
  const totals = stageTotals(t);
  const parts = TIMING_STAGES.filter(([s]) => totals[s] !== undefined).map(([s, label]) => `${label} ${formatMillis(totals[s]!)}`);
  return `${formatMillis(totalMillis(t))} from the command to the picture${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

/** "840 ms", "2.41 s". */
export function formatMillis(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Now on the shared wall clock, with sub-millisecond precision where the platform has it. */
export function wallClock(): number {
  return typeof performance !== 'undefined' && performance.timeOrigin ? performance.timeOrigin + performance.now() : Date.now();
}
