/**
 * An ONNX model without its large weights: the main graph's initializers of at least `minBytes`
 * become external data pointing at where their bytes already are, in the model file itself, so
 * the native engine reads the graph (kilobytes) instead of the whole file, and onnxruntime reads
 * the weights from disk. Everything else is copied as it is, field by field, from the wire format.
 * Pure: reads through a `ByteSource`.
 */
import { onnx } from 'onnx-proto';
import { Writer } from 'protobufjs/minimal';
import { type ByteSource, Cursor, LENGTH_DELIMITED, ScanError } from './onnxScan';

/** ModelProto.graph, GraphProto.initializer, TensorProto.raw_data. */
const GRAPH = 7, INITIALIZER = 5, RAW_DATA = 9;

export interface Skeleton {
  /** The model's protobuf without the weights it points at. */
  bytes: Uint8Array;
  /** How many tensors point into the file, and their bytes. */
  tensors: number;
  weightBytes: number;
}

/** The skeleton of the model in `src` (the file that `location` names, relative to the folder the session reads external data from); undefined when no weight is that large. */
export function skeletonModel(src: ByteSource, location: string, minBytes = 64 * 1024): Skeleton | undefined {
  const c = new Cursor(src);
  let tensors = 0, weightBytes = 0;
  /** The bytes from `from` to `to`, the cursor left where it was. */
  const range = (from: number, to: number): Uint8Array => {
    const at = c.pos;
    c.pos = from;
    const out = c.bytes(to - from);
    c.pos = at;
    return out;
  };
  /** Copies the fields up to `end`, handing `rewrite` each length-delimited one: its new body, or undefined to copy it. */
  const message = (end: number, rewrite: (field: number, bodyEnd: number) => Uint8Array[] | undefined): Uint8Array[] => {
    const parts: Uint8Array[] = [];
    while (c.pos < end) {
      const start = c.pos;
      const tag = c.varint();
      if ((tag & 7) === LENGTH_DELIMITED) {
        const bodyEnd = c.end();
        const body = rewrite(tag >>> 3, bodyEnd);
        c.pos = bodyEnd;
        for (const part of body ?? [range(start, bodyEnd)]) parts.push(part); // a graph has tens of thousands of parts
      } else {
        c.skip(tag & 7);
        parts.push(range(start, c.pos));
      }
    }
    if (c.pos !== end) throw new ScanError(`a message overruns its length (byte ${c.pos}, expected ${end})`);
    return parts;
  };
  const tensor = (end: number): Uint8Array[] | undefined => {
    const from = c.pos;
    let raw: { offset: number; length: number } | undefined;
    const fields = message(end, (field, bodyEnd) => {
      if (field !== RAW_DATA || bodyEnd - c.pos < minBytes) return undefined;
      raw = { offset: c.pos, length: bodyEnd - c.pos };
      return [];
    });
    if (!raw) {
      c.pos = from;
      return undefined;
    }
    tensors++;
    weightBytes += raw.length;
    // Appended fields merge into the message (protobuf's rule), the data location last so that it wins.
    const external = onnx.TensorProto.encode({
      externalData: Object.entries({ location, offset: String(raw.offset), length: String(raw.length) }).map(([key, value]) => ({ key, value })),
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    }).finish();
    return [...fields, external];
  };
  const graph = () => message(src.size, (f, bodyEnd) => (f === GRAPH ? field(GRAPH, message(bodyEnd, (g, tensorEnd) => (g === INITIALIZER ? wrap(INITIALIZER, tensor(tensorEnd)) : undefined))) : undefined));
  const parts = graph();
  return tensors === 0 ? undefined : { bytes: concat(parts), tensors, weightBytes };
}

/** A length-delimited field `number` holding `body`, or undefined for no body. */
function wrap(number: number, body: Uint8Array[] | undefined): Uint8Array[] | undefined {
  return body && field(number, body);
}

function field(number: number, body: Uint8Array[]): Uint8Array[] {
  const length = body.reduce((n, b) => n + b.length, 0);
  return [Writer.create().uint32((number << 3) | LENGTH_DELIMITED).uint32(length).finish(), ...body];
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
