/**
 * A model's weights as the backends will hold them, from a scan of its ONNX file: how many bytes in
 * all and of which kind, the largest tensor, and the external data files the graph reads (each
 * location checked: a model may name only files beside it, never elsewhere on disk). Pure.
 */
import type { ModelScan } from './onnxScan';

/** What loading a model costs: the figures the backends' limits are checked against. */
export interface WeightFootprint {
  /** Bytes of the .onnx protobuf (weights inside it included). */
  protoBytes: number;
  /** Bytes of every tensor, in the protobuf or in external files. */
  weightBytes: number;
  /** Of those, float16 and bfloat16 tensors (the WebAssembly CPU kernels make float32 copies of them). */
  halfBytes: number;
  /** The largest single tensor. */
  largest: { name: string; bytes: number };
  /** Bytes in external data files. */
  externalBytes: number;
  /** Quantized weights: 4-bit (MatMulNBits and the like) or 8-bit (MatMulInteger, QLinear…) operators. */
  quantization?: '4-bit' | '8-bit';
}

/** One external data file the graph reads. */
export interface ExternalFile {
  /** As the graph names it, relative to the .onnx file's folder. */
  location: string;
  /** Bytes the graph reads from it: the end of its last tensor. */
  needed: number;
  tensors: number;
}

/** The footprint of a scanned model. */
export function weightFootprint(scan: ModelScan): WeightFootprint {
  let weightBytes = 0;
  let halfBytes = 0;
  let externalBytes = 0;
  let largest = { name: '', bytes: 0 };
  for (const t of scan.tensors) {
    weightBytes += t.bytes;
    if (t.dataType === 10 || t.dataType === 16) halfBytes += t.bytes;
    if (t.external) externalBytes += t.bytes;
    if (t.bytes > largest.bytes) largest = { name: t.name, bytes: t.bytes };
  }
  const has = (ops: string[]) => ops.some((o) => scan.ops.includes(o));
  const quantization = has(['com.microsoft:MatMulNBits', 'com.microsoft:GatherBlockQuantized', 'com.microsoft:MatMulBnb4'])
    ? '4-bit'
    : has([':MatMulInteger', ':DynamicQuantizeLinear', 'com.microsoft:DynamicQuantizeMatMul', ':QLinearMatMul', 'com.microsoft:MatMulIntegerToFloat'])
      ? '8-bit'
      : undefined;
  return { protoBytes: scan.protoBytes, weightBytes, halfBytes, largest, externalBytes, ...(quantization ? { quantization } : {}) };
}

/** The footprint of two graphs loaded together (a split model's encoder and decoders): sums, the larger largest tensor. */
export function addFootprints(a: WeightFootprint, b: WeightFootprint): WeightFootprint {
  const quantization = a.quantization === '4-bit' || b.quantization === '4-bit' ? '4-bit' : a.quantization ?? b.quantization;
  return {
    protoBytes: a.protoBytes + b.protoBytes,
    weightBytes: a.weightBytes + b.weightBytes,
    halfBytes: a.halfBytes + b.halfBytes,
    largest: b.largest.bytes > a.largest.bytes ? b.largest : a.largest,
    externalBytes: a.externalBytes + b.externalBytes,
    ...(quantization ? { quantization } : {}),
  };
}

/** Every external data file of a scanned model, in the order the graph first names them. */
export function externalFiles(scan: ModelScan): ExternalFile[] {
  const byLocation = new Map<string, ExternalFile>();
  for (const t of scan.tensors) {
    if (!t.external) continue;
    const f = byLocation.get(t.external.location) ?? { location: t.external.location, needed: 0, tensors: 0 };
    f.needed = Math.max(f.needed, t.external.offset + t.external.length);
    f.tensors++;
    byLocation.set(t.external.location, f);
  }
  return [...byLocation.values()];
}

/** The first external data file a model may not read, and why; undefined when every one is beside the model. */
export function firstUnsafe(files: readonly ExternalFile[]): { location: string; reason: string } | undefined {
  for (const f of files) {
    const reason = unsafeLocation(f.location);
    if (reason) return { location: f.location, reason };
  }
  return undefined;
}

/**
 * Why an external data location may not be read, or undefined when it names a file in the model's
 * folder: relative, not empty, no `..`, no drive letter or stream name, no control characters.
 * Checked on the text itself (lexically), so a symbolic link in the folder (as in the Hugging Face
 * cache) still works while no text can reach outside.
 */
export function unsafeLocation(location: string): string | undefined {
  if (location.trim() === '') return 'it is empty';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(location)) return 'it holds control characters';
  if (/^[\\/]/.test(location) || /^[A-Za-z]:/.test(location)) return 'it is an absolute path';
  if (location.includes(':')) return 'it names a drive or a stream';
  if (location.split(/[\\/]+/).some((part) => part === '..')) return 'it climbs out of the folder with ".."';
  return undefined;
}
