/**
 * A long input's first layer, made ready while the model opens and runs. The first picture
 * computes that layer from queries and keys into a new array of heads × n² floats (940 MB at
 * 4,096 tokens on 14 heads), and first touching new memory is slow on some machines (about 3 ms
 * per MB on the benches' 2-core machine: the rows' first writes took longer than their
 * arithmetic). Meanwhile, tens of seconds at that length, the page is idle: it touches the pages
 * the layer's rows will be written to (a causal layer's lower half), a few megabytes per task, and
 * the first layer the page computes from queries and keys with that shape takes the array (its
 * first draw at 4,096 tokens: 3.4 s instead of 6.7–7.7 s). One at a time; dropped when a newer
 * run starts, when its run ends without a picture, or a minute after. Plain JS (tasks and arrays):
 * the unit tests run it in Node.
 */
import type { RunRequest } from '../../src/core/protocol/panel';
import type { QueryKeyLayer } from '../../src/core/queryKeys';

/** Bytes touched per task: a few ms of page faults, so the page stays responsive. */
const TOUCH_BYTES_PER_TASK = 8 << 20;
/** Floats per memory page (4 KB): one write in each page backs it. */
const PAGE_FLOATS = 1024;
/** An untaken array goes this long after its run ended. */
const UNTAKEN_MS = 60_000;

interface Spare {
  data: Float32Array;
  heads: number;
  n: number;
  causal: boolean;
  /** Rows touched so far, of heads × n. */
  rows: number;
}

let spare: Spare | undefined;

/**
 * Starts readying an array for a layer of `heads` × `n` × `n` weights, `causal` or not, while
 * `still()` holds; returns what to call once the run has ended (`drawn`: a picture will take it).
 */
export function prepareSpareLayer(heads: number, n: number, causal: boolean, still: () => boolean): (drawn: boolean) => void {
  spare = undefined;
  let me: Spare;
  try {
    me = { data: new Float32Array(heads * n * n), heads, n, causal, rows: 0 };
  } catch {
    return () => undefined; // too large to allocate now: the picture allocates it then, or fails as before
  }
  spare = me;
  const step = () => {
    if (spare !== me) return;
    if (!still()) return void (spare = undefined);
    touchRows(me, TOUCH_BYTES_PER_TASK / 4);
    if (me.rows < heads * n) setTimeout(step, 0);
  };
  setTimeout(step, 0);
  return (drawn) => {
    if (!drawn) return void (spare === me && (spare = undefined));
    const timer = setTimeout(() => void (spare === me && (spare = undefined)), UNTAKEN_MS) as unknown as { unref?: () => void };
    timer.unref?.(); // in Node (the tests), it keeps nothing alive
  };
}

/**
 * `run()`, with an array readied meanwhile for the first layer of `req` when it is kept as queries
 * and keys (`queryKeys`: and its first picture is computed on the page) and that layer is
 * self-attention over its tokens; dropped unless the run ends with something to draw (undefined:
 * superseded).
 */
export async function withSpareLayer<T>(req: RunRequest, queryKeys: boolean, stale: () => boolean, run: () => Promise<T | undefined>): Promise<T | undefined> {
  spare = undefined; // an earlier run's, untaken, goes whether or not this one readies one
  const a = req.model.attention;
  const ended = queryKeys && a && !req.image && !req.decoderIds && !req.compare ? prepareSpareLayer(a.heads, req.ids.length, req.model.causal, () => !stale()) : () => undefined;
  let drawn = false;
  try {
    const out = await run();
    drawn = out !== undefined && !stale();
    return out;
  } finally {
    ended(drawn);
  }
}

/** Writes a zero into every page of the next rows that a row's keys reach, about `floats` of them. */
function touchRows(s: Spare, floats: number): void {
  const { data, n, causal } = s, total = s.heads * n;
  while (s.rows < total && floats > 0) {
    const i = s.rows % n, at = s.rows * n, last = causal ? i : n - 1;
    for (let j = 0; j <= last; j += PAGE_FLOATS) data[at + j] = 0;
    data[at + last] = 0;
    floats -= last + 1;
    s.rows++;
  }
}

/** The readied array for layer `l`'s weights when it has that shape (zeroed; taken once), else undefined (and it stays for its own run's layer). */
export function takeSpareLayer(l: Pick<QueryKeyLayer, 'heads' | 'queries' | 'keys' | 'causal' | 'window'>): Float32Array | undefined {
  const s = spare;
  // A sliding window's rows reach fewer keys than were touched: a fresh array backs only what is written.
  if (!s || s.heads !== l.heads || s.n !== l.queries || l.queries !== l.keys || s.causal !== l.causal || l.window) return undefined;
  spare = undefined;
  return s.data;
}
