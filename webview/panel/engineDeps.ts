/**
 * What the panel's runner runs models with: onnxruntime-web's shipped bundles, their WebAssembly
 * binaries and the model files read from the host by message, and the host's native engine.
 * Browser only (DecompressionStream, dynamic import); the runner itself has no DOM.
 */
import type { WebBackend } from '../../src/core/backend';
import { openEngine } from '../../src/core/engine/splitEngine';
import type { NativeAvailability } from '../../src/core/protocol/engine';
import type { FromPanel, RuntimeFiles, ToPanel } from '../../src/core/protocol/panel';
import { HostEngines } from './hostEngine';
import { HostFileReader } from './hostFiles';
import { chooseBackend, loadOrt, type OrtBundle } from './ortRuntime';
import type { RunnerDeps } from './runner';

/** Inflates a gzipped file with the browser's own DecompressionStream. */
async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The page's engines: filled in by the host's `ready/reply`, answering its file and engine messages. */
export class PanelEngines {
  readonly files: HostFileReader;
  private readonly host: HostEngines;
  /** Host ids of the runtime binaries, and whether the host's native engine runs here. */
  private ready: { runtime: RuntimeFiles; native: NativeAvailability } | undefined;
  /** The shipped onnxruntime bundles: WASM-only for WebAssembly runs, the larger one only for WebGPU. */
  private readonly bundles: Record<WebBackend, OrtBundle>;

  constructor(post: (m: FromPanel) => void, data: DOMStringMap) {
    this.files = new HostFileReader((fileId) => post({ type: 'file/read', fileId }));
    this.host = new HostEngines(post);
    this.bundles = {
      wasm: { bundle: data.ortWasmBundle!, mjs: data.ortWasmMjs! },
      webgpu: { bundle: data.ortWebgpuBundle!, mjs: data.ortWebgpuMjs! },
    };
  }

  /** The host's `ready/reply`: where the runtimes are, and whether the native engine runs. */
  setReady(runtime: RuntimeFiles, native: NativeAvailability): void {
    this.ready = { runtime, native };
  }

  /** Takes the host's file and engine messages; false for any other. */
  receive(m: ToPanel): boolean {
    if (m.type === 'file/chunk') this.files.chunk(m.fileId, m.offset, m.total, m.data);
    else if (m.type === 'file/didFail') this.files.fail(m.fileId, m.message);
    else return this.host.receive(m);
    return true;
  }

  /** Request `runId` starts: runs the host began ahead for another are dropped (`HostEngines.startingRun`). */
  startingRun(runId: number): void {
    this.host.startingRun(runId);
  }

  /** The runner's dependencies. */
  deps(): RunnerDeps {
    return {
      readRuntime: async (backend) => {
        if (!this.ready) throw new Error('the host has not said where the runtime is');
        return gunzip(await this.files.read(this.ready.runtime[backend], `onnxruntime's WebAssembly for ${backend}`));
      },
      loadOrt: (backend, binary) => loadOrt(this.bundles[backend], binary, backend),
      chooseBackend,
      readModel: (fileId, label, onProgress) => this.files.read(fileId, label, onProgress),
      createEngine: openEngine,
      native: { availability: () => this.ready?.native, open: (model, backend, mechanism, queryKeys) => this.host.open(model, backend, mechanism, queryKeys) },
    };
  }
}
