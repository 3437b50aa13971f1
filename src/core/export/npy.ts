/**
 * NumPy's `.npy` format (version 1.0, as `numpy.lib.format` defines it): a magic string, a header
 * dict with dtype, order and shape, padded so the data starts on a 64-byte boundary, then the
 * values in C order, little-endian. Written as a list of byte chunks that view the caller's arrays
 * (no copy of hundreds of megabytes of attention). Pure.
 */

/** Float32 values made when they are written (a long input's layer, computed from its queries and keys): how many, and how. */
export interface LaterFloats {
  length: number;
  read(): Float32Array | Promise<Float32Array>;
}

/** A file's bytes, or bytes made when they are written (`byteLength` known before). */
export type Chunk = Uint8Array | { byteLength: number; read(): Uint8Array | Promise<Uint8Array> };

/** An array to write: float32 (in parts, each given or made when written), int64 or int32 numbers, or Unicode strings (`<U`, fixed width). */
export type NpyArray =
  | { dtype: 'float32'; shape: readonly number[]; data: readonly (Float32Array | LaterFloats)[] }
  | { dtype: 'int64'; shape: readonly number[]; data: BigInt64Array }
  | { dtype: 'int32'; shape: readonly number[]; data: Int32Array }
  | { dtype: 'unicode'; shape: readonly number[]; data: readonly string[] };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;

/** The `shape` tuple as Python writes it: `(3,)`, `(2, 3)`, `()`. */
function tuple(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** Code points of a string (a `<U` element holds one UTF-32 unit per code point). */
function codePoints(s: string): number[] {
  return Array.from(s, (c) => c.codePointAt(0)!);
}

/** The header: magic, version 1.0, length, the dict, spaces and a newline up to the 64-byte boundary. */
export function npyHeader(descr: string, shape: readonly number[]): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple(shape)}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1;
  const total = Math.ceil(unpadded / ALIGN) * ALIGN;
  const text = dict + ' '.repeat(total - unpadded) + '\n';
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = 1; // major version
  out[7] = 0; // minor version
  new DataView(out.buffer).setUint16(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[10 + i] = text.charCodeAt(i);
  return out;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes of a typed array's values, little-endian (a view when the machine is little-endian, as every supported one is). */
function bytesOf(a: Float32Array | BigInt64Array | Int32Array): Uint8Array {
  if (!littleEndian) throw new Error('big-endian machines are not supported for NumPy export');
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * The `.npy` file of `a`, as chunks in order; the float32 data are views of the caller's arrays,
 * or made when written (each part checked for its length then).
 */
export function npyChunks(a: NpyArray): Chunk[] {
  const count = a.shape.reduce((n, d) => n * d, 1);
  switch (a.dtype) {
    case 'float32': {
      const n = a.data.reduce((s, d) => s + d.length, 0);
      if (n !== count) throw new Error(`npy: ${n} float32 values for shape ${tuple(a.shape)}`);
      const part = (d: Float32Array | LaterFloats): Chunk => {
        if (d instanceof Float32Array) return bytesOf(d);
        return {
          byteLength: 4 * d.length,
          read: async () => {
            const values = await d.read();
            if (values.length !== d.length) throw new Error(`npy: ${values.length} float32 values made where ${d.length} were announced`);
            return bytesOf(values);
          },
        };
      };
      return [npyHeader('<f4', a.shape), ...a.data.map(part)];
    }
    case 'int64':
    case 'int32':
      if (a.data.length !== count) throw new Error(`npy: ${a.data.length} values for shape ${tuple(a.shape)}`);
      return [npyHeader(a.dtype === 'int64' ? '<i8' : '<i4', a.shape), bytesOf(a.data)];
    case 'unicode': {
      if (a.data.length !== count) throw new Error(`npy: ${a.data.length} strings for shape ${tuple(a.shape)}`);
      const points = a.data.map(codePoints);
      const width = Math.max(1, ...points.map((p) => p.length));
      const data = new Uint32Array(count * width);
      points.forEach((p, i) => data.set(p, i * width));
      return [npyHeader(`<U${width}`, a.shape), new Uint8Array(data.buffer)];
    }
  }
}
