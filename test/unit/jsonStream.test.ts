import { describe, expect, it } from 'vitest';
import { jsonChunks, writeJson } from '../../src/core/jsonStream';

/** The whole text `writeJson` produces, and the chunks it came in. */
async function streamed(value: unknown, chunkSize?: number): Promise<{ text: string; chunks: string[] }> {
  const chunks: string[] = [];
  await writeJson(value, (c) => void chunks.push(c), { chunkSize });
  return { text: chunks.join(''), chunks };
}

/** `JSON.stringify` with typed arrays as arrays of their numbers (what the stream writes for them). */
const reference = (value: unknown): string | undefined => JSON.stringify(value, (_k, v: unknown) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as Float32Array) : v));

const SAMPLES: Record<string, unknown> = {
  'nested arrays': [[[1, 2], [3]], [], [[]], [[[[0.5]]]]],
  strings: ['plain', 'say "hi"', 'back\\slash', 'tab\tnew\nline\r', '\u0000\u0001\u001f\u007f', 'é ü 中文 👍', '\ud800 lone \udfff', '\u2028\u2029', ''],
  numbers: [0, -0, 1, -1, 1e-7, 1.5e-7, 123456789012345680000, 1e21, 5e-324, Number.MAX_VALUE, 0.1 + 0.2, Math.fround(0.1), NaN, Infinity, -Infinity],
  'literals and skipped values': { a: true, b: false, c: null, d: undefined, e: () => 1, f: Symbol('s'), g: [undefined, () => 1, Symbol('t'), null] },
  'key order and odd keys': { z: 1, a: 2, 10: 'ten', 2: 'two', 'quote"key': 3, 'ключ': 4, '': 5 },
  'toJSON and boxed primitives': { when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), own: { toJSON: (k: string) => `key=${k}` }, boxed: [Object(1), Object('s'), Object(false)], holes: [1, , 3] },
  'typed arrays': { f32: Float32Array.from([0.1, -0, 1e-7, NaN, Infinity, 0.333333343267]), f64: new Float64Array([Math.PI, -1e-300]), i8: Int8Array.from([-128, 0, 127]), u8: new Uint8Array(0), view: Float32Array.from([1, 2, 3, 4]).subarray(1, 3) },
  'an inspect-shaped document': {
    model: { folder: '/tmp/m', architecture: 'GPT2LMHeadModel' },
    backend: 'wasm',
    tokens: [{ id: 0, text: '<|endoftext|>', start: 0, end: 0, special: true }, { id: 5, text: 'Ġ"x"', start: 0, end: 4, special: false, word: 0 }],
    attention: [{ name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: 2, keys: 2, weights: [[Float32Array.from([1, 0]), Float32Array.from([0.3, 0.7])]] }],
    heads: [{ kind: 'self', layer: 0, head: 0, entropy: 0.2, distance: null, labels: ['previous-token'] }],
    warnings: ['head 1: 2 NaN weights set to 0'],
  },
};

describe('writeJson', () => {
  for (const [name, value] of Object.entries(SAMPLES)) {
    it(`writes exactly JSON.stringify's text: ${name}`, async () => {
      const want = reference(value)!;
      expect((await streamed(value)).text).toBe(want);
      // Chunk boundaries fall anywhere without changing the text.
      for (const size of [1, 3, 7]) expect((await streamed(value, size)).text).toBe(want);
    });
  }

  it('writes top-level primitives as JSON.stringify does, and nothing for undefined', async () => {
    for (const v of [0, -0, 1e-7, NaN, 'a"b', true, null]) expect((await streamed(v)).text).toBe(JSON.stringify(v));
    expect((await streamed(undefined)).chunks).toEqual([]);
  });

  it('renders typed arrays as JSON arrays with JSON.stringify’s number text', async () => {
    const f = Float32Array.from([0.1, -0, NaN, 1e-7, 2.5]);
    expect((await streamed(f)).text).toBe(JSON.stringify(Array.from(f)));
    expect((await streamed(f)).text).toBe('[0.10000000149011612,0,null,1.0000000116860974e-7,2.5]');
  });

  it('throws where JSON.stringify throws: cycles and bigints', async () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    await expect(streamed(cyclic)).rejects.toThrow(TypeError);
    await expect(streamed({ n: 1n })).rejects.toThrow(TypeError);
    await expect(streamed(new BigInt64Array(1))).rejects.toThrow(TypeError);
    // The same object twice, not nested in itself, is no cycle.
    const shared = { x: [1] };
    expect((await streamed([shared, shared])).text).toBe(JSON.stringify([shared, shared]));
  });

  it('writes a 2000×2000 Float32Array matrix in many chunks, none over 1 MB, with JSON.stringify’s text', async () => {
    const n = 2000;
    const data = new Float32Array(n * n);
    let seed = 7;
    for (let i = 0; i < data.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      data[i] = i % 11 === 0 ? 0 : (seed / 2 ** 32) ** 3; // zeros, and small numbers that print with exponents
    }
    const matrix = { rows: Array.from({ length: n }, (_, q) => data.subarray(q * n, (q + 1) * n)) };
    const { text, chunks } = await streamed(matrix);
    expect(chunks.length).toBeGreaterThan(100);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(1 << 20);
    const nested = { rows: Array.from({ length: n }, (_, q) => Array.from(matrix.rows[q])) };
    expect(text === JSON.stringify(nested)).toBe(true); // not toBe(text): a failure would print 40 MB
    // One flat typed array is chunked too.
    expect(Math.max(...[...jsonChunks(data)].map((c) => c.length))).toBeLessThanOrEqual(1 << 20);
  }, 60_000);

  it('waits for the sink: no chunk is produced while a write is pending', async () => {
    const value = { rows: Array.from({ length: 50 }, (_, i) => new Float32Array(1000).fill(i / 7)) };
    let pending = 0;
    let maxPending = 0;
    const out: string[] = [];
    await writeJson(
      value,
      (c) => {
        pending++;
        maxPending = Math.max(maxPending, pending);
        out.push(c);
        return new Promise<void>((resolve) => setTimeout(() => (pending--, resolve()), 0));
      },
      { chunkSize: 4096 },
    );
    expect(maxPending).toBe(1);
    expect(out.length).toBeGreaterThan(10);
    expect(out.join('')).toBe(reference(value));
  });
});
