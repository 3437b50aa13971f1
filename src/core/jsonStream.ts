/**
 * JSON text written piece by piece: the same characters as `JSON.stringify(value)` (no replacer, no
 * indent), produced in chunks of about `chunkSize` characters so that a document of hundreds of
 * megabytes (the CLI's `--json` with full-length attention) never exists as one string. Typed
 * arrays (`Float32Array` rows of an attention tensor, viewed without copying) are written as JSON
 * arrays of their numbers, as `JSON.stringify(Array.from(a))` would, where `JSON.stringify` itself
 * would write `{"0":…}`. Pure: the caller supplies the sink and decides how to wait on it.
 */

/** Receives the text in order; a returned promise is awaited before the next chunk (backpressure). */
export type JsonSink = (chunk: string) => void | Promise<void>;

export interface JsonStreamOptions {
  /**
   * Characters (UTF-16 code units) gathered before a chunk is handed over. A chunk is at most about
   * twice this, or longer by one string: a string value or key is never split. Default 64 Ki.
   */
  chunkSize?: number;
}

const DEFAULT_CHUNK = 64 * 1024;

/** Writes `value` as JSON through `write`, awaiting it whenever it returns a promise. */
export async function writeJson(value: unknown, write: JsonSink, options: JsonStreamOptions = {}): Promise<void> {
  for (const chunk of jsonChunks(value, options)) {
    const pending = write(chunk);
    if (pending) await pending;
  }
}

/**
 * The JSON text of `value` in chunks, lazily: nothing is serialised ahead of the consumer. Throws
 * where `JSON.stringify` throws (cycles, bigint). A value `JSON.stringify` returns `undefined` for
 * (`undefined`, a function, a symbol) yields nothing.
 */
export function* jsonChunks(value: unknown, options: JsonStreamOptions = {}): Generator<string, void, undefined> {
  const out = new JsonChunker(Math.max(1, options.chunkSize ?? DEFAULT_CHUNK));
  yield* out.value(toJsonValue(value, ''));
  if (out.buf) yield out.buf;
}

/** What `JSON.stringify` would serialise for `value` held under `key`: `toJSON` applied, boxed primitives unwrapped. */
function toJsonValue(value: unknown, key: string | number): unknown {
  if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = toJSON.call(value, String(key));
  }
  if (typeof value === 'object' && value !== null) {
    if (value instanceof Number) return Number(value);
    if (value instanceof String) return String(value);
    if (value instanceof Boolean) return value.valueOf();
  }
  return value;
}

/** Values an object drops and an array writes as `null`. */
function skipped(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/** The JSON text of a primitive; `undefined` for what JSON skips (`undefined`, functions, symbols); `null` for objects. */
function primitiveText(value: unknown): string | undefined | null {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    case 'object':
      return value === null ? 'null' : null;
    default:
      return undefined;
  }
}

/** Any typed array (`Float32Array`, `Int32Array`, … ; `BigInt64Array` throws as bigints do). */
type TypedArray = Exclude<ArrayBufferView, DataView>;

/** What the fast path uses of a typed array of numbers. */
interface NumberArray {
  readonly length: number;
  readonly [index: number]: number;
  subarray(begin: number, end: number): NumberArray;
  join(separator: string): string;
}

/** The longest text of a number, e.g. `-2.2250738585072014e-308`. */
const MAX_NUMBER_TEXT = 24;

function allFinite(a: NumberArray): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

class JsonChunker {
  buf = '';
  /** Containers being written, to refuse cycles as `JSON.stringify` does. */
  private readonly open = new Set<object>();

  constructor(private readonly chunkSize: number) {}

  /** Writes a value already passed through `toJsonValue`, yielding full chunks on the way. */
  *value(value: unknown): Generator<string, void, undefined> {
    const text = primitiveText(value);
    if (text !== null) {
      this.buf += text ?? '';
      if (this.buf.length >= this.chunkSize) yield this.take();
      return;
    }
    const obj = value as object;
    if (this.open.has(obj)) throw new TypeError('Converting circular structure to JSON');
    this.open.add(obj);
    if (ArrayBuffer.isView(obj) && !(obj instanceof DataView)) yield* this.typedArray(obj as TypedArray);
    else if (Array.isArray(obj)) yield* this.array(obj);
    else yield* this.object(obj as Record<string, unknown>);
    this.open.delete(obj);
  }

  private *array(items: readonly unknown[]): Generator<string, void, undefined> {
    this.buf += '[';
    for (let i = 0; i < items.length; i++) {
      if (i > 0) this.buf += ',';
      const v = toJsonValue(items[i], i);
      if (skipped(v)) this.buf += 'null';
      else yield* this.value(v);
    }
    this.buf += ']';
  }

  /**
   * The fast path for tensors: blocks of numbers joined natively (`join` prints each number as
   * `String` does, which is JSON's text for a finite number), so a row costs one string, not one
   * per number; a chunk whenever one fills.
   */
  private *typedArray(items: TypedArray): Generator<string, void, undefined> {
    if (items instanceof BigInt64Array || items instanceof BigUint64Array) throw new TypeError('Do not know how to serialize a BigInt');
    const numbers = items as unknown as NumberArray;
    const n = numbers.length;
    const block = Math.max(1, Math.floor(this.chunkSize / MAX_NUMBER_TEXT));
    this.buf += '[';
    for (let i = 0; i < n; i += block) {
      const part = numbers.subarray(i, Math.min(n, i + block));
      if (i > 0) this.buf += ',';
      this.buf += allFinite(part) ? part.join(',') : Array.from(part, (v) => (Number.isFinite(v) ? String(v) : 'null')).join(',');
      if (this.buf.length >= this.chunkSize) yield this.take();
    }
    this.buf += ']';
  }

  private *object(obj: Record<string, unknown>): Generator<string, void, undefined> {
    this.buf += '{';
    let first = true;
    for (const key of Object.keys(obj)) {
      const v = toJsonValue(obj[key], key);
      if (skipped(v)) continue;
      this.buf += first ? `${JSON.stringify(key)}:` : `,${JSON.stringify(key)}:`;
      first = false;
      yield* this.value(v);
    }
    this.buf += '}';
  }

  private take(): string {
    const chunk = this.buf;
    this.buf = '';
    return chunk;
  }
}
