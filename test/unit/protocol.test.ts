// The host ↔ webview protocol: message handling is exhaustive and typed arrays survive the
// structured clone VS Code uses for postMessage.
import { describe, expect, it } from 'vitest';
import { type FromWebview, type ViewSummary, assertNever } from '../../src/core/protocol';
import { summarize } from '../../src/core/summary';

function handle(m: FromWebview): string {
  switch (m.type) {
    case 'ready': return 'ready';
    case 'run/progress': return `progress ${m.stage}`;
    case 'run/done': return `done ${m.backend}`;
    case 'run/failed': return `failed ${m.message}`;
    case 'view/summary': return `summary ${m.summary.label}`;
    default: return assertNever(m);
  }
}

describe('protocol', () => {
  it('dispatches every message type', () => {
    expect(handle({ type: 'ready' })).toBe('ready');
    expect(handle({ type: 'run/done', runId: 1, backend: 'wasm', millis: 3 })).toBe('done wasm');
    expect(handle({ type: 'run/failed', runId: 1, message: 'x' })).toBe('failed x');
  });

  it('rejects unknown messages at run time', () => {
    expect(() => handle({ type: 'bogus' } as unknown as FromWebview)).toThrow(/unexpected message/);
  });

  it('summaries keep their typed arrays through structured clone', () => {
    const data = Float32Array.from([1, 0, 0.25, 0.75]);
    const s = summarize(3, { name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: 2, keys: 2, data }, [0], 2);
    const copy = structuredClone({ type: 'view/summary', summary: s }) as { summary: ViewSummary };
    expect(copy.summary.keyIndex).toBeInstanceOf(Int32Array);
    expect(copy.summary.weight).toBeInstanceOf(Float32Array);
    expect(Array.from(copy.summary.keyIndex)).toEqual([0, -1, 1, 0]);
  });
});
