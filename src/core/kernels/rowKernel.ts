/**
 * The WebAssembly kernel behind `weightRows` (rows.wat): dot products and softmax in float64 SIMD,
 * about twice the speed of the JavaScript it replaced (3.4–3.7 times the plain loop against
 * 1.6–1.7, `npm run bench:rows`). One instance per thread (the page, each worker, the extension
 * host, the CLI), compiled on first use; the module is under 4 KB, so it compiles synchronously
 * even on a browser's main thread. Its memory holds one key head in float64 (2 MB at 4,096 tokens
 * of head size 64), one query head's position bias where the layer has one, two queries, their dot
 * products and an output row. Pure: no DOM, no Node.
 */
import { ROWS_WASM } from './rowsWasm';

interface Exports {
  memory: WebAssembly.Memory;
  dots(q0: number, q1: number, k: number, dp: number, start: number, end: number, s0: number, s1: number): void;
  softmax(s: number, first: number, last: number, scale: number, bias: number, out: number): number;
}

const PAGE = 65536;
let kernel: RowKernel | undefined;

/** This thread's kernel (one module instance, whose memory it lays out). */
export function rowKernel(): RowKernel {
  kernel ??= new RowKernel(new WebAssembly.Instance(new WebAssembly.Module(ROWS_WASM), {}).exports as unknown as Exports);
  return kernel;
}

/**
 * Rows of one key head: load its keys (`load`), then per two queries `dots` and `softmax`. The
 * keys stay loaded while the same array and head are asked for again (a layer's heads that share a
 * key head, a hover's rows one after another).
 */
class RowKernel {
  private keysFrom: Float32Array | undefined;
  private keyHead = -1;
  private keys = 0;
  private biasFrom: Float32Array | undefined;
  private biasHead = -1;
  /** Where the position bias lies: `[2 · keys − 1]` for one query head, by relative position. */
  private bias = 0;
  /** Head size rounded up to even (two lanes), zero-padded. */
  private dp = 0;
  private q0 = 0;
  private q1 = 0;
  private s0 = 0;
  private s1 = 0;
  private out = 0;
  private f64 = new Float64Array(0);
  private f32 = new Float32Array(0);

  constructor(private readonly x: Exports) {}

  /** Keys `[kvHeads][keys][d]`, head `head`, loaded (unless they already are). */
  load(k: Float32Array, head: number, keys: number, d: number): void {
    if (k === this.keysFrom && head === this.keyHead && keys === this.keys) return;
    const dp = d + (d & 1);
    const kBytes = keys * dp * 8;
    this.layout(kBytes, dp, keys);
    const f = this.f64;
    const base = head * keys * d;
    for (let j = 0; j < keys; j++) {
      const at = j * dp;
      for (let x = 0; x < d; x++) f[at + x] = k[base + j * d + x];
      if (dp !== d) f[at + d] = 0;
    }
    this.keysFrom = k;
    this.keyHead = head;
    this.keys = keys;
    this.biasFrom = undefined;
  }

  /** Query head `head`'s position bias of `bias` (`[heads][2 · keys − 1]`), loaded after its keys (unless it already is). */
  loadBias(bias: Float32Array, head: number): void {
    if (bias === this.biasFrom && head === this.biasHead) return;
    const n = 2 * this.keys - 1;
    this.f64.set(bias.subarray(head * n, (head + 1) * n), this.bias / 8);
    this.biasFrom = bias;
    this.biasHead = head;
  }

  /** Dot products of queries `q[a…a + d]` and `q[b…b + d]` with keys `start`…`end − 1` of the loaded head. */
  dots(q: Float32Array, a: number, b: number, d: number, start: number, end: number): void {
    const f = this.f64;
    const q0 = this.q0 / 8, q1 = this.q1 / 8;
    for (let x = 0; x < d; x++) {
      f[q0 + x] = q[a + x];
      f[q1 + x] = q[b + x];
    }
    if (this.dp !== d) f[q0 + d] = f[q1 + d] = 0;
    this.x.dots(this.q0, this.q1, 0, this.dp, start, end, this.s0, this.s1);
  }

  /**
   * Softmax of the first (`which` 0) or second query's scores `scale · dot` over keys
   * `first`…`last`, keys with `keyMask` 0 left out, into `out` at `row`, zeros elsewhere in the
   * row (left as they are when `zeroed`: the row holds zeros already). `bias`: where the loaded
   * position bias of key 0 lies for this query (its scores gain `bias[at + j]`).
   */
  softmax(which: 0 | 1, first: number, last: number, scale: number, keyMask: Uint8Array | undefined, out: Float32Array, row: number, zeroed = false, bias?: number): void {
    const s = which === 0 ? this.s0 : this.s1;
    if (keyMask) {
      const f = this.f64, at = s / 8;
      for (let j = first; j <= last; j++) if (keyMask[j] === 0) f[at + j] = -Infinity;
    }
    if (!zeroed) out.fill(0, row, row + this.keys);
    const max = this.x.softmax(s, first, last, scale, bias === undefined ? -1 : this.bias + bias * 8, this.out);
    if (max === -Infinity) return; // every key masked, or none seen (first > last)
    out.set(this.f32.subarray(this.out / 4 + first, this.out / 4 + last + 1), row + first);
  }

  /** Keys first, then a position bias, two queries, two rows of dot products and one output row; memory grown to fit. */
  private layout(kBytes: number, dp: number, keys: number): void {
    this.dp = dp;
    this.bias = kBytes;
    this.q0 = this.bias + 2 * keys * 8;
    this.q1 = this.q0 + dp * 8;
    this.s0 = this.q1 + dp * 8;
    this.s1 = this.s0 + keys * 8;
    this.out = this.s1 + keys * 8;
    const need = this.out + keys * 4 + 16;
    const memory = this.x.memory;
    if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / PAGE));
    this.f64 = new Float64Array(memory.buffer);
    this.f32 = new Float32Array(memory.buffer);
  }
}
