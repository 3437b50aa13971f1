/**
 * Where the panel's runner runs a model: the native engine in the extension host, WebGPU or
 * WebAssembly in the page, from the setting, the machine, the model's size and what failed before.
 * No DOM; runs under tests with fake dependencies.
 */
import { type Backend, type BackendSetting, backendLabel, isNative } from '../../src/core/backend';
import { EngineError } from '../../src/core/engine/attentionEngine';
import { placeModel } from '../../src/core/engine/backendLimits';
import type { NativeAvailability } from '../../src/core/protocol/engine';
import type { ModelDescriptor } from '../../src/core/protocol/panel';
import type { BackendChoice, MachineChoice, RunnerDeps } from './runner';

/**
 * Whether a run that failed on `used` should be retried on WASM: only in `auto` mode, only after
 * WebGPU, and never for problems of the model itself (no attention found, inputs it cannot
 * fill): they would fail the same way on the CPU. A session WebGPU cannot create is retried. A
 * model whose attention only WebAssembly returns (GroupQueryAttention) goes there whatever the setting.
 */
export function shouldFallBack(error: unknown, used: Backend, setting: BackendSetting): boolean {
  if (used === 'webgpu' && error instanceof EngineError && error.code === 'wasm-only') return true;
  // The native binary would not load here: the webview's engines still can.
  if (isNative(used)) return error instanceof EngineError && error.code === 'native-unavailable';
  return used === 'webgpu' && setting === 'auto' && !isModelProblem(error);
}

/** A problem of the model itself (no attention found, inputs it cannot fill): every backend fails alike. */
export function isModelProblem(error: unknown): boolean {
  return error instanceof EngineError && (error.code === 'no-attention' || error.code === 'unknown-input');
}

/** Sizes of a model's external data files. */
export function externalSizes(model: ModelDescriptor): number[] {
  return (model.externalData ?? []).map((f) => f.bytes);
}

/** The placement of models in one panel, and what it learned from failures. */
export class Placement {
  /** Models whose WebGPU run failed: `auto` goes straight to WASM for them. */
  private readonly gpuFailures = new Map<string, string>();
  /** Why the native engine could not load, once it failed to: the webview's engines run everything after. */
  private nativeFailure: string | undefined;

  constructor(private readonly deps: Pick<RunnerDeps, 'chooseBackend' | 'native'>) {}

  /** `file`'s WebGPU run failed (`reason`): `auto` runs it on WebAssembly from now on. */
  gpuFailed(file: string, reason: string): void {
    this.gpuFailures.set(file, reason);
  }

  /** onnxruntime-node failed to load (`message`): the webview's engines run everything from now on. */
  nativeFailed(message: string): void {
    this.nativeFailure = message.replace(/\.$/, '').replace(/^The /, 'the ');
  }

  /**
   * The backend for `model`: the native engine when the setting names it and it runs here;
   * otherwise WebAssembly for a model only it can run (whatever the setting), the one the setting
   * and the machine suggest when the model fits it, else the other one when only that fits
   * (`auto`); in `auto`, the native engine instead of WebAssembly, and for a model that fits
   * neither. A model nothing here holds fails before a byte of it is read.
   */
  async backendFor(model: ModelDescriptor, setting: BackendSetting): Promise<BackendChoice> {
    const native = this.nativeAvailability();
    if (isNative(setting)) {
      if (native.available) return { backend: setting, reason: `attentionLens.backend is "${setting}"` };
      const web = await this.webBackendFor(model, 'auto');
      return { ...web, reason: `attentionLens.backend is "${setting}", but ${native.reason}, so ${backendLabel(web.backend)} runs it (${web.reason})` };
    }
    let web: BackendChoice;
    try {
      web = await this.webBackendFor(model, setting);
    } catch (e) {
      // Too large for the webview: the extension host's native engine has no 4 GiB ceiling.
      if (setting !== 'auto' || !native.available || !(e instanceof EngineError) || e.code !== 'too-large') throw e;
      return { backend: 'native', reason: `${model.onnxLabel} is too large for WebAssembly and WebGPU in the webview, so ${backendLabel('native')} runs it in the extension host` };
    }
    // No hardware GPU here: the native engine draws a window's first picture 2–5× sooner than
    // WebAssembly (no runtime to compile, no weights to copy into the page) and later ones within
    // about 20 % (npm run bench:native: cold 0.56× and 0.20×, warm 1.14× and 1.18× in code-server).
    if (setting === 'auto' && web.backend === 'wasm' && native.available) {
      return { backend: 'native', reason: `${backendLabel('native')} runs it: faster than WebAssembly, which the webview would use (${web.reason})` };
    }
    // The native engine failed to load here: say so with the backend that runs instead.
    return this.nativeFailure && setting === 'auto' ? { ...web, reason: `${web.reason}; ${this.nativeFailure}` } : web;
  }

  /** Whether the host's native engine can run models here, and if not, why. */
  private nativeAvailability(): NativeAvailability {
    if (this.nativeFailure) return { available: false, reason: this.nativeFailure };
    return this.deps.native?.availability() ?? { available: false, reason: 'the native engine is not offered here' };
  }

  /** The webview's backend for `model`, as `backendFor` describes. */
  private async webBackendFor(model: ModelDescriptor, setting: BackendSetting): Promise<BackendChoice> {
    if (model.wasmOnly) return placeModel(model.onnxLabel, model.footprint, externalSizes(model), 'wasm', { backend: 'wasm', reason: model.wasmOnly });
    const failed = setting === 'auto' ? this.gpuFailures.get(model.onnxFile) : undefined;
    const choice: MachineChoice = failed ? { backend: 'wasm', reason: failed } : await this.deps.chooseBackend(setting);
    return placeModel(model.onnxLabel, model.footprint, externalSizes(model), failed ? 'wasm' : setting, choice);
  }
}
