/**
 * What an ONNX file holds, read from the protobuf wire format without loading its weights: every
 * tensor (initializers, Constant values, sparse initializers, in subgraphs too) with its type,
 * shape, size and, for external data, where its bytes are; the operators; the graph's inputs and
 * outputs. Reads through a random-access `ByteSource`, so the host can scan a 2 GB file by reading
 * a few kilobytes of headers and skipping every weight. Pure: no file system here.
 */

/** Random access to a file's bytes (a buffer in memory, or a file descriptor on the host). */
export interface ByteSource {
  readonly size: number;
  /** `length` bytes from `offset` (fewer only at the end of the source). */
  read(offset: number, length: number): Uint8Array;
}

/** A source over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.byteLength, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/** Where an external tensor's bytes are: a file relative to the model's folder, and a byte range in it. */
export interface ExternalRef {
  location: string;
  offset: number;
  /** Bytes of the tensor in that file. */
  length: number;
}

/** One tensor of the model. */
export interface ScannedTensor {
  name: string;
  /** `TensorProto.DataType` (1 float32, 10 float16, 22 int4, …). */
  dataType: number;
  dims: number[];
  /** Bytes the tensor's data takes (in the protobuf or in its external file). */
  bytes: number;
  external?: ExternalRef;
}

/** A graph input or output: name, element type and declared dimensions (numbers, or names for symbolic ones). */
export interface ScannedValue {
  name: string;
  elemType: number;
  dims: Array<number | string>;
}

/** What `scanModel` found. */
export interface ModelScan {
  /** Bytes of the protobuf itself (the .onnx file). */
  protoBytes: number;
  tensors: ScannedTensor[];
  /** Each operator once, as `domain:OpType` (the ONNX domain is empty: `:Softmax`). */
  ops: string[];
  /** The main graph's inputs and outputs. */
  inputs: ScannedValue[];
  outputs: ScannedValue[];
  /** Operator set versions by domain (`''` for ONNX). */
  opsets: Record<string, number>;
}

/** A file that is not a readable ONNX protobuf; the message says where it broke. */
export class ScanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScanError';
  }
}

/** Bytes per element of each `TensorProto.DataType` (4-bit types count half a byte). */
const ELEMENT_BYTES: Record<number, number> = {
  1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
  17: 1, 18: 1, 19: 1, 20: 1, 21: 0.5, 22: 0.5, 23: 0.5,
};

/** Bytes of `count` elements of `dataType` (0 for strings and unknown types). */
export function elementBytes(dataType: number, count: number): number {
  return Math.ceil((ELEMENT_BYTES[dataType] ?? 0) * count);
}

const WINDOW = 64 * 1024;
const VARINT = 0;
const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** A read position over a `ByteSource`, buffering a window so that headers cost one read each. */
export class Cursor {
  pos = 0;
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;

  constructor(private readonly src: ByteSource) {}

  private byte(): number {
    const i = this.pos - this.windowStart;
    if (i < 0 || i >= this.window.length) {
      if (this.pos >= this.src.size) throw new ScanError(`the protobuf ends early (at byte ${this.pos} of ${this.src.size})`);
      this.window = this.src.read(this.pos, Math.min(WINDOW, this.src.size - this.pos));
      this.windowStart = this.pos;
      if (this.window.length === 0) throw new ScanError(`the protobuf ends early (at byte ${this.pos} of ${this.src.size})`);
      this.pos++;
      return this.window[0];
    }
    this.pos++;
    return this.window[i];
  }

  /** A varint as a number (exact below 2⁵³, which covers every size and dimension). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new ScanError(`a malformed varint at byte ${this.pos}`);
  }

  /** A signed int64 varint (negative dimensions such as -1 come as ten bytes). */
  int64(): number {
    const v = this.varint();
    return v >= 2 ** 63 ? v - 2 ** 64 : v;
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.src.size) throw new ScanError(`a field runs past the end of the file (${this.pos + n} > ${this.src.size} bytes)`);
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const part = this.src.read(this.pos + done, n - done);
      if (part.length === 0) throw new ScanError('the file ended while reading it');
      out.set(part, done);
      done += part.length;
    }
    this.pos += n;
    return out;
  }

  string(): string {
    return new TextDecoder().decode(this.bytes(this.varint()));
  }

  /** The end of a length-delimited field whose length comes next. */
  end(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.src.size) throw new ScanError(`a field of ${len} bytes runs past the end of the file at byte ${this.pos}`);
    return end;
  }

  skip(wire: number): void {
    switch (wire) {
      case VARINT: this.varint(); break;
      case FIXED64: this.pos += 8; break;
      case LENGTH_DELIMITED: this.pos = this.end(); break;
      case FIXED32: this.pos += 4; break;
      default: throw new ScanError(`an unknown wire type ${wire} at byte ${this.pos}`);
    }
  }

  /** Visits the fields up to `end`; fields `visit` does not take (returns false) are skipped. */
  fields(end: number, visit: (field: number, wire: number) => boolean): void {
    while (this.pos < end) {
      const tag = this.varint();
      if (!visit(tag >>> 3, tag & 7)) this.skip(tag & 7);
    }
    if (this.pos !== end) throw new ScanError(`a message overruns its length (byte ${this.pos}, expected ${end})`);
  }
}

/**
 * Scans an ONNX model. Throws `ScanError` when the bytes are not a protobuf; a protobuf that is not
 * a model simply has no tensors and no operators.
 */
export function scanModel(src: ByteSource): ModelScan {
  const c = new Cursor(src);
  const tensors: ScannedTensor[] = [];
  const ops = new Set<string>();
  const opsets: Record<string, number> = {};
  let main: { inputs: ScannedValue[]; outputs: ScannedValue[] } | undefined;

  const tensor = (end: number, fallbackName = ''): void => {
    const t: ScannedTensor = { name: fallbackName, dataType: 0, dims: [], bytes: 0 };
    let inline = 0;
    let typedCount = 0;
    let externalLocation = false;
    const entries: Record<string, string> = {};
    c.fields(end, (f, w) => {
      if (f === 1 && w === VARINT) t.dims.push(c.int64());
      else if (f === 1 && w === LENGTH_DELIMITED) {
        const e = c.end();
        while (c.pos < e) t.dims.push(c.int64());
      } else if (f === 2 && w === VARINT) t.dataType = c.varint();
      else if (f === 8 && w === LENGTH_DELIMITED) t.name = c.string();
      else if (f === 9 && w === LENGTH_DELIMITED) {
        const e = c.end();
        inline = e - c.pos;
        c.pos = e;
      } else if ((f === 4 || f === 5 || f === 7 || f === 10 || f === 11) && w === LENGTH_DELIMITED) {
        // Packed typed data: the element count is what matters (float_data, int32_data, int64_data, double_data, uint64_data).
        const e = c.end();
        if (f === 4 || f === 10) {
          typedCount += (e - c.pos) / (f === 4 ? 4 : 8);
          c.pos = e;
        } else {
          while (c.pos < e) {
            c.varint();
            typedCount++;
          }
        }
      } else if ((f === 4 || f === 5 || f === 7 || f === 10 || f === 11) && w !== LENGTH_DELIMITED) {
        c.skip(w);
        typedCount++;
      } else if (f === 13 && w === LENGTH_DELIMITED) {
        let key = '';
        let value = '';
        c.fields(c.end(), (g, x) => {
          if (g === 1 && x === LENGTH_DELIMITED) key = c.string();
          else if (g === 2 && x === LENGTH_DELIMITED) value = c.string();
          else return false;
          return true;
        });
        entries[key] = value;
      } else if (f === 14 && w === VARINT) externalLocation = c.varint() === 1;
      else return false;
      return true;
    });
    const count = t.dims.reduce((a, b) => a * Math.max(0, b), 1);
    if (externalLocation || entries.location !== undefined) {
      const length = entries.length !== undefined ? Number(entries.length) : elementBytes(t.dataType, count);
      t.external = { location: entries.location ?? '', offset: Number(entries.offset ?? 0), length };
      t.bytes = length;
    } else {
      t.bytes = inline > 0 ? inline : typedCount > 0 ? elementBytes(t.dataType, count) : 0;
    }
    tensors.push(t);
  };

  const valueInfo = (end: number): ScannedValue => {
    const v: ScannedValue = { name: '', elemType: 0, dims: [] };
    c.fields(end, (f, w) => {
      if (f === 1 && w === LENGTH_DELIMITED) v.name = c.string();
      else if (f === 2 && w === LENGTH_DELIMITED) {
        c.fields(c.end(), (g, x) => {
          if (g !== 1 || x !== LENGTH_DELIMITED) return false; // TypeProto.tensor_type
          c.fields(c.end(), (h, y) => {
            if (h === 1 && y === VARINT) v.elemType = c.varint();
            else if (h === 2 && y === LENGTH_DELIMITED) {
              c.fields(c.end(), (i, z) => {
                if (i !== 1 || z !== LENGTH_DELIMITED) return false; // TensorShapeProto.dim
                let d: number | string = '?';
                c.fields(c.end(), (j, u) => {
                  if (j === 1 && u === VARINT) d = c.int64();
                  else if (j === 2 && u === LENGTH_DELIMITED) d = c.string();
                  else return false;
                  return true;
                });
                v.dims.push(d);
                return true;
              });
            } else return false;
            return true;
          });
          return true;
        });
      } else return false;
      return true;
    });
    return v;
  };

  const graph = (end: number, isMain: boolean): void => {
    const inputs: ScannedValue[] = [];
    const outputs: ScannedValue[] = [];
    c.fields(end, (f, w) => {
      if (w !== LENGTH_DELIMITED) return false;
      if (f === 1) node(c.end());
      else if (f === 5) tensor(c.end());
      else if (f === 11 && isMain) inputs.push(valueInfo(c.end()));
      else if (f === 12 && isMain) outputs.push(valueInfo(c.end()));
      else if (f === 15) {
        // SparseTensorProto: values (1) and indices (2) are tensors.
        c.fields(c.end(), (g, x) => {
          if ((g === 1 || g === 2) && x === LENGTH_DELIMITED) tensor(c.end());
          else return false;
          return true;
        });
      } else return false;
      return true;
    });
    if (isMain) main = { inputs, outputs };
  };

  const node = (end: number): void => {
    let opType = '';
    let domain = '';
    let firstOutput = '';
    c.fields(end, (f, w) => {
      if (w !== LENGTH_DELIMITED) return false;
      if (f === 2 && !firstOutput) firstOutput = c.string();
      else if (f === 4) opType = c.string();
      else if (f === 7) domain = c.string();
      else if (f === 5) {
        // AttributeProto: a tensor (5), a graph (6), tensors (10) and graphs (11) hold data and operators.
        c.fields(c.end(), (g, x) => {
          if (x !== LENGTH_DELIMITED) return false;
          if (g === 5 || g === 10) tensor(c.end(), firstOutput);
          else if (g === 6 || g === 11) graph(c.end(), false);
          else return false;
          return true;
        });
      } else return false;
      return true;
    });
    ops.add(`${domain === 'ai.onnx' ? '' : domain}:${opType}`);
  };

  c.fields(src.size, (f, w) => {
    if (f === 7 && w === LENGTH_DELIMITED) graph(c.end(), true);
    else if (f === 8 && w === LENGTH_DELIMITED) {
      let domain = '';
      let version = 0;
      c.fields(c.end(), (g, x) => {
        if (g === 1 && x === LENGTH_DELIMITED) domain = c.string();
        else if (g === 2 && x === VARINT) version = c.varint();
        else return false;
        return true;
      });
      opsets[domain === 'ai.onnx' ? '' : domain] = version;
    } else return false;
    return true;
  });
  return { protoBytes: src.size, tensors, ops: [...ops].sort(), inputs: main?.inputs ?? [], outputs: main?.outputs ?? [], opsets };
}
