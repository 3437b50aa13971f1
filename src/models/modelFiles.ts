/**
 * The files one ONNX model is made of, checked before anything loads: the .onnx file, scanned for
 * its weights (without reading them), and every external data file its graph names
 * (`model.onnx_data`, `model.onnx_data_1`, … or `model.onnx.data`), each inside the model's folder,
 * present and long enough. No vscode import: the host and the CLI both use it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ByteSource, type ModelScan, ScanError, scanModel } from '../core/engine/onnxScan';
import { type Skeleton, skeletonModel } from '../core/engine/onnxSkeleton';
import { type WeightFootprint, externalFiles, firstUnsafe, weightFootprint } from '../core/engine/modelWeights';
import { formatBytes } from '../core/units';
import { ModelFolderError } from './modelFolderError';

/** One external data file, found and checked. */
export interface ExternalDataPath {
  /** As the graph names it (what onnxruntime is told). */
  location: string;
  /** Where it is on disk. */
  path: string;
  /** Its size. */
  bytes: number;
}

/** A model's files and what loading them costs. */
export interface ModelFiles {
  onnxPath: string;
  external: ExternalDataPath[];
  footprint: WeightFootprint;
  /** Operators (`domain:OpType`), inputs and outputs of the graph. */
  scan: Pick<ModelScan, 'ops' | 'inputs' | 'outputs'>;
  /** Things worth saying that do not stop the model (a config that disagrees with the graph). */
  notices: string[];
}

/** Header reads are small: names, types and shapes; the weights between them are skipped. */
const READ_BYTES = 8 * 1024;

/** A `ByteSource` over an open file. */
function fileSource(fd: number, size: number): ByteSource {
  return {
    size,
    read(offset, length) {
      const buf = new Uint8Array(Math.min(Math.max(length, 0), READ_BYTES, size - offset));
      const n = fs.readSync(fd, buf, 0, buf.length, offset);
      return buf.subarray(0, n);
    },
  };
}

const scans = new Map<string, ModelScan>();

/** Scans an ONNX file, once per version of it (path, size, modification time). */
export function scanOnnxFile(file: string): ModelScan {
  const st = fs.statSync(file);
  const key = `${file}\0${st.size}\0${st.mtimeMs}`;
  const hit = scans.get(key);
  if (hit) return hit;
  const fd = fs.openSync(file, 'r');
  try {
    const scan = scanModel(fileSource(fd, st.size));
    scans.set(key, scan);
    return scan;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The chunks `config.json`'s `transformers.js_config.use_external_data_format` announces for
 * `onnxFile` (true: one; a number: that many; an object: its entry for the file name), or
 * undefined when it says nothing.
 */
export function announcedChunks(config: Record<string, unknown>, onnxFile: string): number | undefined {
  const tjs = config['transformers.js_config'];
  const v = tjs && typeof tjs === 'object' ? (tjs as Record<string, unknown>).use_external_data_format : undefined;
  const count = (x: unknown) => (x === true ? 1 : x === false ? 0 : typeof x === 'number' && Number.isInteger(x) && x >= 0 ? x : undefined);
  if (v && typeof v === 'object' && !Array.isArray(v)) return count((v as Record<string, unknown>)[path.basename(onnxFile)]);
  return count(v);
}

/**
 * Reads and checks the files of the model in `onnxPath` (in `folder`); throws `ModelFolderError`
 * naming the file, the sizes and what to do. `config` is the folder's config.json, for its
 * announced external data chunks.
 */
export function readModelFiles(folder: string, onnxPath: string, config: Record<string, unknown> = {}): ModelFiles {
  const rel = path.relative(folder, onnxPath) || path.basename(onnxPath);
  let scan: ModelScan;
  try {
    scan = scanOnnxFile(onnxPath);
  } catch (e) {
    if (!(e instanceof ScanError)) throw new ModelFolderError(`${rel} could not be read (${(e as Error).message}). Check its permissions.`);
    // Not a protobuf (empty, truncated, another file): the engine says what is wrong when it opens it.
    const size = fs.statSync(onnxPath).size;
    scan = { protoBytes: size, tensors: [{ name: rel, dataType: 0, dims: [], bytes: size }], ops: [], inputs: [], outputs: [], opsets: {} };
  }
  const dir = path.dirname(onnxPath);
  const named = externalFiles(scan);
  const unsafe = firstUnsafe(named);
  if (unsafe) throw new ModelFolderError(`${rel} names external data at "${unsafe.location}", which Attention Lens refuses: ${unsafe.reason}. A model may only read files in its own folder; re-export it with its data beside it.`);
  const external = named.map((f): ExternalDataPath => {
    const file = path.resolve(dir, f.location);
    if (!file.startsWith(path.resolve(dir) + path.sep)) throw new ModelFolderError(`${rel} names external data at "${f.location}", outside its folder. A model may only read files in its own folder; re-export it with its data beside it.`);
    let bytes: number;
    try {
      bytes = fs.statSync(file).size;
    } catch {
      throw new ModelFolderError(`${rel} keeps ${formatBytes(f.needed)} of its weights (${f.tensors} tensors) in ${f.location}, which is missing from ${dir}. Download every data file of the model with it (${rel}_data, ${rel}_data_1, …) or re-export it.`);
    }
    if (bytes < f.needed) {
      throw new ModelFolderError(`${f.location} is ${formatBytes(bytes)} (${bytes} bytes), but ${rel} reads ${formatBytes(f.needed)} (${f.needed} bytes) from it: the file is truncated, perhaps by an interrupted download. Download it again.`);
    }
    return { location: f.location, path: file, bytes };
  });
  const notices: string[] = [];
  const announced = announcedChunks(config, onnxPath);
  if (announced !== undefined && announced !== external.length) {
    notices.push(`config.json's transformers.js_config announces ${announced} external data file${announced === 1 ? '' : 's'} for ${path.basename(onnxPath)}, but its graph names ${external.length}${external.length ? ` (${external.map((e) => e.location).join(', ')})` : ''}: Attention Lens loads what the graph names.`);
  }
  return { onnxPath, external, footprint: weightFootprint(scan), scan: { ops: scan.ops, inputs: scan.inputs, outputs: scan.outputs }, notices };
}

/** Reads every external data file of a model into memory (the webview and onnxruntime-web take bytes). */
export function readExternalData(files: readonly ExternalDataPath[]): Array<{ path: string; data: Uint8Array }> {
  return files.map((f) => {
    try {
      return { path: f.location, data: readBytes(f.path) };
    } catch (e) {
      throw new ModelFolderError(`${f.path} could not be read (${(e as Error).message}).`);
    }
  });
}

/**
 * The model in `file` without its large weights, which point back into the file under `location`
 * (`skeletonModel`), with the file as it was read (so that a change after is seen); undefined when
 * it has none that large. Reads the graph, not the weights.
 */
export function readSkeleton(file: string, location: string): (Skeleton & { read: Pick<fs.Stats, 'size' | 'mtimeMs' | 'ino'> }) | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const { size, mtimeMs, ino } = fs.fstatSync(fd);
    const skeleton = skeletonModel(fileSource(fd, size), location);
    return skeleton && { ...skeleton, read: { size, mtimeMs, ino } };
  } finally {
    fs.closeSync(fd);
  }
}

/** A file's bytes as a Uint8Array viewing the Buffer read (no second copy: 440 MB took 2.5 s to copy). */
export function readBytes(file: string): Uint8Array {
  const b = fs.readFileSync(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
