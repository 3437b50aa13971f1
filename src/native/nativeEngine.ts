/**
 * The native engine: onnxruntime-node behind the same `AttentionEngine` (surgery, mechanism,
 * fused-op weights unchanged), opening models by path. External data is memory-mapped from the
 * model's folder by onnxruntime (no copy, no 4 GiB ceiling), and so are a single-file model's
 * large weights (its graph names them as external data in the file itself); only the graph and
 * the few small tensors the graph surgery reads are read here. Node only (the CLI, the extension
 * host's worker, tests); no vscode.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as OrtNode from 'onnxruntime-node';
import { type NativeBackend, backendLabel } from '../core/backend';
import { EngineError, type EngineOptions, type OrtModule } from '../core/engine/attentionEngine';
import { type ModelEngine, type OpenOptions, openEngine } from '../core/engine/splitEngine';
import type { ExternalBytes } from '../core/engine/mechanismGraph';
import { firstLine } from '../core/engine/session';
import type { ModelPartFile, NativeModel, NativeOpen, NativeOpened } from '../core/protocol/engine';
import { formatBytes } from '../core/units';
import { readBytes, readExternalData, readSkeleton } from '../models/modelFiles';
import { type ModelInfo, decoderFiles } from '../models/modelFolder';

let ort: OrtModule | undefined;

/** A model folder as the native engine opens it (the CLI, tests). */
export function nativeModel(info: ModelInfo): NativeModel {
  const decoders = decoderFiles(info);
  return { onnxPath: info.onnxPath, label: path.relative(info.folder, info.onnxPath), external: info.external, firstPosition: info.firstPosition, ...(decoders ? { decoders } : {}) };
}

/**
 * onnxruntime-node, loaded once. Throws `EngineError` (`native-unavailable`) when its binary is
 * missing for this platform (darwin-x64 has none; a VSIX for another platform carries another
 * one) or fails to load.
 */
export function loadNativeOrt(): OrtModule {
  if (ort) return ort;
  try {
    // A plain require of an external module: the binary is found next to the package, never bundled.
    const m = require('onnxruntime-node') as typeof OrtNode;
    m.env.logLevel = 'fatal';
    // Every core unless told otherwise: onnxruntime's own default ran one thread on this 2-core
    // machine (the Qwen2.5-0.5B shape at 1,024 tokens: 10.1 s, against 5.7 s on two).
    const threads = os.availableParallelism();
    const create = m.InferenceSession.create.bind(m.InferenceSession) as (model: Uint8Array | string, options?: OrtNode.InferenceSession.SessionOptions) => Promise<OrtNode.InferenceSession>;
    const InferenceSession = { create: (model: Uint8Array | string, options: OrtNode.InferenceSession.SessionOptions = {}) => create(model, { intraOpNumThreads: threads, ...options }) };
    ort = { ...m, InferenceSession } as unknown as OrtModule;
    return ort;
  } catch (e) {
    throw new EngineError(
      `The native engine (onnxruntime-node) is not available on ${process.platform}-${process.arch} (${firstLine(e)}).`,
      'native-unavailable',
    );
  }
}

/**
 * Reads `length` bytes at `offset` of the external data files the host checked (`model.external`),
 * by their location in the graph: any other location is not read.
 */
export function externalReader(model: NativeModel): ExternalBytes {
  const byLocation = new Map(model.external.map((f) => [f.location, f.path]));
  return (location, offset, length) => {
    const file = byLocation.get(location);
    if (!file) return undefined;
    const fd = fs.openSync(file, 'r');
    try {
      const out = new Uint8Array(length);
      return fs.readSync(fd, out, 0, length, offset) === length ? out : undefined;
    } finally {
      fs.closeSync(fd);
    }
  };
}

/** Node reads no file past 2 GiB into one Buffer. */
const MAX_READ = 2 ** 31 - 1;

/**
 * Where onnxruntime-node takes `model`'s external data from: the folder, memory-mapped, when every
 * data file is really in it. The Hugging Face cache links each file to a blob elsewhere, which
 * onnxruntime refuses (data that resolves outside the folder): the blobs are hard-linked under
 * their locations in a private folder (`links`, removed once the session has them mapped) and
 * mapped from there; where no link can be made (another file system), files up to 2 GiB are read.
 */
function externalOptions(model: NativeModel): { options: Pick<EngineOptions, 'externalData' | 'externalFolder'>; links?: string } {
  // A single-file model read whole (no weight large enough to leave in the file): nothing to map,
  // and the surgery may point the rewritten graph into the original bytes.
  if (model.external.length === 0) return { options: {} };
  const folder = path.dirname(model.onnxPath);
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p; // missing: onnxruntime says which file, as for any other
    }
  };
  const root = real(folder) + path.sep;
  const read = externalReader(model);
  if (model.external.every((f) => real(f.path).startsWith(root))) return { options: { externalFolder: { folder, read } } };
  const links = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-data-'));
  try {
    for (const f of model.external) {
      const to = path.join(links, f.location);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.linkSync(real(f.path), to);
    }
    return { options: { externalFolder: { folder: links, read } }, links };
  } catch (e) {
    fs.rmSync(links, { recursive: true, force: true });
    const large = model.external.find((f) => f.bytes > MAX_READ);
    if (large) throw new EngineError(`${path.basename(large.path)} (${formatBytes(large.bytes)}) lives outside the model's folder (a Hugging Face cache link), onnxruntime-node maps only files inside it, and no link to it could be made here (${firstLine(e)}). Copy the model's files into a folder of their own and open that.`, 'corrupt-model');
  }
  return { options: { externalData: readExternalData(model.external) } };
}

/**
 * `file` without its large weights, which it names as external data in itself; undefined when it
 * has none that large, or cannot be read so (reading it whole then says why). A link (the Hugging
 * Face cache links each file to a blob) is followed: the weights are mapped from the blob's own
 * folder, with no link of ours (one across file systems, as to a tmpfs, could not be made).
 */
function skeletonOf(file: string): { bytes: Uint8Array; file: NativeModel['external'][number]; state: FileState } | undefined {
  try {
    const real = fs.realpathSync(file);
    const location = path.basename(real);
    const s = readSkeleton(real, location);
    return s && { bytes: s.bytes, file: { location, path: real, bytes: s.read.size }, state: { path: real, ...s.read } };
  } catch {
    return undefined;
  }
}

/** A file as it was when a session mapped it. */
interface FileState {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** `file` as it is now; undefined when it cannot be read (onnxruntime then says which file is missing). */
function fileState(file: string): FileState | undefined {
  try {
    const st = fs.statSync(file);
    return { path: file, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
  } catch {
    return undefined;
  }
}

/**
 * `engine`, refusing to run once a file it maps has changed on disk: onnxruntime reads weights
 * from the mapping, and a file rewritten in place under it (a copy over it) ends the whole process
 * at the first read past its new end (SIGBUS), the extension host included. Checked before each
 * run; a change during a run is not caught.
 */
function guarded(engine: ModelEngine, files: FileState[]): ModelEngine {
  if (files.length === 0) return engine;
  return {
    get backend() { return engine.backend; },
    get attentionOutputs() { return engine.attentionOutputs; },
    get exposed() { return engine.exposed; },
    get hasLogits() { return engine.hasLogits; },
    get hasPast() { return engine.hasPast; },
    run: (input, options) => {
      const changed = files.find((f) => {
        const now = fileState(f.path); // undefined: gone
        return now?.size !== f.size || now.mtimeMs !== f.mtimeMs || now.ino !== f.ino;
      });
      if (changed) return Promise.reject(new EngineError(`${path.basename(changed.path)} changed on disk since the model was opened (its weights are read from the file while it runs), so the model was not run on it. Run again: the model is opened afresh.`, 'run-failed'));
      return engine.run(input, options);
    },
    dispose: () => engine.dispose(),
  };
}

/** Whether a failure on CUDA is the provider's (missing libraries, no device) rather than the model's. */
function isProviderFailure(e: unknown): boolean {
  if (!(e instanceof EngineError)) return true;
  return e.code !== 'no-attention' && e.code !== 'unknown-input' && e.code !== 'no-mechanism';
}

/**
 * Opens `open.model` on `open.backend`. CUDA that cannot be used (its libraries are not installed,
 * no device, or a model whose attention only the CPU kernels return) falls back to the CPU, and
 * says so once in `notice`.
 */
export async function openNativeEngine(open: NativeOpen): Promise<{ engine: ModelEngine; opened: NativeOpened }> {
  const ortNode = loadNativeOrt();
  const { model } = open;
  const read = (file: string) => {
    try {
      return readBytes(file);
    } catch (e) {
      throw new EngineError(`${file} could not be read (${firstLine(e)}).`, 'corrupt-model');
    }
  };
  // A single-file model: only its graph is read here, and onnxruntime maps the weights from the
  // file, as it does a model's external data. Measured on the Qwen2.5-0.5B-shaped q4 stand-in
  // (769 MB, one file): the peak while opening fell from 2.21 to 0.33 GB, and a run's at 1,024
  // tokens from 2.22 to 0.88 GB.
  const skeleton = model.external.length === 0 && !model.decoders ? skeletonOf(model.onnxPath) : undefined;
  const bytes = skeleton?.bytes ?? read(model.onnxPath);
  const part = (f: ModelPartFile) => ({ bytes: read(f.path), label: f.label });
  const decoders = model.decoders && { decoder: part(model.decoders.decoder), ...(model.decoders.withPast ? { withPast: part(model.decoders.withPast) } : {}) };
  const external = externalOptions(skeleton ? { ...model, onnxPath: skeleton.file.path, external: [skeleton.file] } : model);
  const options: OpenOptions = { ...external.options, firstPosition: model.firstPosition, mechanism: open.mechanism, queryKeys: open.queryKeys, ...(decoders ? { decoders } : {}) };
  // The files onnxruntime maps: each run first checks they are as they were when it opened (the
  // model's own file as the graph was read from it).
  const mapped = !external.options.externalFolder ? [] : skeleton ? [skeleton.state] : model.external.flatMap((f) => fileState(f.path) ?? []);
  const create = async (backend: NativeBackend) => guarded(await openEngine(ortNode, bytes, backend, model.label, options), mapped);
  const opened = (engine: ModelEngine, backend: NativeBackend, notice?: string) => ({ engine, opened: { backend, hasLogits: engine.hasLogits, hasPast: engine.hasPast, ...(notice ? { notice } : {}) } });
  try {
    if (open.backend === 'native') return opened(await create('native'), 'native');
    try {
      return opened(await create('native-cuda'), 'native-cuda');
    } catch (e) {
      if (!isProviderFailure(e)) throw e;
      const why = e instanceof EngineError && e.code === 'wasm-only' ? e.message.replace(/ It runs on the CPU\.$/, '')
        : e instanceof EngineError && e.code === 'native-unavailable' ? e.message
          : `CUDA could not be used (${firstLine(e)})`;
      const notice = `${why}; ${backendLabel('native')} runs ${model.label} instead.`;
      return opened(await create('native'), 'native', notice);
    }
  } finally {
    // The session has the files mapped: the links can go (where the system lets mapped files be unlinked).
    try {
      if (external.links) fs.rmSync(external.links, { recursive: true, force: true });
    } catch {
      /* Windows keeps mapped files: the temporary folder stays until the system cleans it */
    }
  }
}
