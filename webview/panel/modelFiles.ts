/**
 * What a panel's runs load once and share: onnxruntime per backend (its binary read, then
 * compiled) and the current model's bytes (the ONNX file and its external data, with progress),
 * until a session has taken them. No DOM; runs under tests with fake dependencies.
 */
import { EngineError, type ExternalDataFile, type OrtModule } from '../../src/core/engine/attentionEngine';
import type { DecoderParts, OpenOptions } from '../../src/core/engine/splitEngine';
import { type WebBackend, backendLabel } from '../../src/core/backend';
import type { ModelDescriptor, ModelPart, RunStage } from '../../src/core/protocol/panel';
import type { TimingStage } from '../../src/core/timing';
import { formatBytes } from '../../src/core/units';
import type { RunnerDeps } from './runner';

/** A model's bytes as the engine takes them: the ONNX file and its external data files (and a split model's decoders). */
export interface ModelBytes {
  model: Uint8Array;
  externalData: ExternalDataFile[];
  decoders?: DecoderParts;
}

/** How the engine opens `model`: its external data, where its positions start, a split model's decoders. */
export function engineOptions(model: ModelDescriptor, bytes: ModelBytes): OpenOptions {
  return { externalData: bytes.externalData, firstPosition: model.firstPosition, ...(bytes.decoders ? { decoders: bytes.decoders } : {}) };
}

export class ModelFiles {
  private readonly runtimes = new Map<WebBackend, Promise<OrtModule>>();
  private read: { file: string; promise: Promise<ModelBytes> } | undefined;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly timed: <T>(stage: TimingStage, f: () => Promise<T>) => Promise<T>,
    private readonly progress: (stage: RunStage, message: string, fraction?: number) => void,
  ) {}

  /** The runtime for `backend`: its binary read, then compiled, once; failures are not kept. */
  runtime(backend: WebBackend): Promise<OrtModule> {
    let p = this.runtimes.get(backend);
    if (!p) {
      this.progress('runtime', `Loading onnxruntime for ${backendLabel(backend)}…`);
      p = this.timed('runtime', () => this.deps.readRuntime(backend)).then((binary) => this.timed('compile', () => this.deps.loadOrt(backend, binary)));
      const made = p;
      made.catch(() => {
        if (this.runtimes.get(backend) === made) this.runtimes.delete(backend);
      });
      this.runtimes.set(backend, made);
    }
    return p;
  }

  /**
   * The model's bytes (the ONNX file, then each external data file), read once per model until a
   * session has them, with progress over all of them; failures are not kept.
   */
  bytes(model: ModelDescriptor): Promise<ModelBytes> {
    const { onnxFile, onnxLabel } = model;
    if (this.read?.file !== onnxFile) {
      const external = model.externalData ?? [];
      const parts = [model.decoders?.decoder, model.decoders?.withPast].filter((p) => p !== undefined);
      const externalTotal = [...external, ...parts].reduce((s, f) => s + f.bytes, 0);
      const promise = this.timed('model', async () => {
        let done = 0;
        let onnxTotal = 0;
        const read = (fileId: string, label: string, progress: (loaded: number, total: number) => void) => this.deps.readModel(fileId, label, progress);
        const report = (label: string) => (loaded: number, total: number) => {
          if (done === 0) onnxTotal = total;
          const all = onnxTotal + externalTotal;
          this.progress('model', `Loading ${label}: ${formatBytes(loaded)}${total ? ` of ${formatBytes(total)}` : ''}${external.length > 0 ? ` (${formatBytes(done + loaded)} of ${formatBytes(all)} in all)` : ''}`, all ? (done + loaded) / all : undefined);
        };
        const bytes = await read(onnxFile, onnxLabel, report(onnxLabel));
        done = bytes.byteLength;
        const externalData: ExternalDataFile[] = [];
        for (const f of external) {
          const data = await read(f.fileId, f.path, report(f.path));
          if (data.byteLength !== f.bytes) throw new EngineError(`${f.path} changed while it was read (${data.byteLength} bytes, expected ${f.bytes}); run again.`, 'corrupt-model');
          externalData.push({ path: f.path, data });
          done += data.byteLength;
        }
        // A split model's decoders, read like the encoder.
        const part = async (p: ModelPart) => {
          const data = await read(p.fileId, p.label, report(p.label));
          done += data.byteLength;
          return { bytes: data, label: p.label };
        };
        const decoders = model.decoders && { decoder: await part(model.decoders.decoder), ...(model.decoders.withPast ? { withPast: await part(model.decoders.withPast) } : {}) };
        return { model: bytes, externalData, ...(decoders ? { decoders } : {}) };
      });
      this.read = { file: onnxFile, promise };
      promise.catch(() => {
        if (this.read?.promise === promise) this.read = undefined;
      });
    }
    return this.read.promise;
  }

  /** A session has model `file` now (onnxruntime's worker even took the buffer): no second copy is kept; another backend reads it again. */
  release(file: string): void {
    if (this.read?.file === file) this.read = undefined;
  }
}
