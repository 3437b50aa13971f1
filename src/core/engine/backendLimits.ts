/**
 * What each backend can hold, checked before a model is read: onnxruntime-web is 32-bit
 * WebAssembly (one 4 GiB memory for weights, activations and the runtime), WebGPU takes weights
 * into GPU buffers no larger than the adapter's `maxBufferSize`, and no protobuf may pass 2 GB.
 * One home for these limits; the panel, the host's question before a large model and the CLI
 * all ask here. Pure.
 */
import { type Backend, type BackendSetting, backendLabel } from '../backend';
import { EngineError } from './engineError';
import { formatBytes } from '../units';
import type { WeightFootprint } from './modelWeights';

const GiB = 2 ** 30;

/**
 * The limits, measured with onnxruntime-web 1.30: 3.5 GiB of weights across files loads in the
 * 4 GiB WebAssembly memory, one 2.5 GiB tensor fails, one 4 GiB data file fails (TESTING.md,
 * 2026-12-05); the Gemma-3-1B stand-in's 4.0 GB of float32 weights fail after 49 s of loading
 * (npm run bench:llm). A protobuf cannot pass 2 GiB − 1 bytes.
 */
export const LIMITS = {
  /** Weights in WebAssembly memory, float32 copies of float16 weights included. */
  wasmWeights: 3.5 * GiB,
  /** One tensor, and one external data file, on WebAssembly. */
  wasmTensor: 2 * GiB,
  /** One protobuf (the .onnx file), on every backend. */
  protobuf: 2 * GiB - 1,
} as const;

/** What the panel's WebGPU adapter allows, when it has one. */
export interface GpuCaps {
  /** `adapter.limits.maxBufferSize`: the largest GPU buffer, so the largest tensor. */
  maxBufferSize: number;
  /** A hardware adapter (not SwiftShader or another software renderer). */
  hardware: boolean;
}

/** Whether a model fits a backend, and if not, why (one reason per limit it passes). */
export interface Fit {
  backend: Backend;
  fits: boolean;
  reasons: string[];
}

/**
 * Bytes WebAssembly holds for these weights: the float16 ones twice more (their float32 copies,
 * made by the CPU kernels), external files copied in too.
 */
export function wasmBytes(f: WeightFootprint): number {
  return f.weightBytes + 2 * f.halfBytes;
}

/** Whether `f` fits `backend` (WebGPU: on an adapter with `gpu`'s limits, when known). */
export function fitOn(backend: Backend, f: WeightFootprint, gpu?: GpuCaps, files: number[] = []): Fit {
  const reasons: string[] = [];
  if (f.protoBytes > LIMITS.protobuf) reasons.push(`its .onnx file is ${formatBytes(f.protoBytes)}, past the 2 GB every protobuf is limited to (export the weights as external data)`);
  if (backend === 'wasm') {
    const held = wasmBytes(f);
    if (held > LIMITS.wasmWeights) reasons.push(`WebAssembly would hold ${formatBytes(held)}${f.halfBytes > 0 ? ` (${formatBytes(f.halfBytes)} of float16 weights become float32 copies)` : ''}, past the ${formatBytes(LIMITS.wasmWeights)} its 32-bit memory leaves for weights`);
    if (f.largest.bytes > LIMITS.wasmTensor) reasons.push(`its largest tensor (${f.largest.name || 'unnamed'}, ${formatBytes(f.largest.bytes)}) is past the ${formatBytes(LIMITS.wasmTensor)} WebAssembly takes in one piece`);
    const bigFile = Math.max(0, ...files);
    if (bigFile > LIMITS.wasmTensor) reasons.push(`one external data file is ${formatBytes(bigFile)}, past the ${formatBytes(LIMITS.wasmTensor)} WebAssembly takes in one piece (split the data into chunks)`);
  } else if (gpu && f.largest.bytes > gpu.maxBufferSize) {
    reasons.push(`its largest tensor (${f.largest.name || 'unnamed'}, ${formatBytes(f.largest.bytes)}) is past this GPU's largest buffer (${formatBytes(gpu.maxBufferSize)})`);
  }
  return { backend, fits: reasons.length === 0, reasons };
}

/** "1.2 GB of weights (4-bit), of which 0.6 GB float16; largest tensor embed 544 MB" */
export function describeFootprint(f: WeightFootprint): string {
  const parts = [`${formatBytes(f.weightBytes)} of weights${f.quantization ? ` (${f.quantization} quantized)` : ''}`];
  if (f.halfBytes > 0) parts.push(`${formatBytes(f.halfBytes)} of them float16`);
  if (f.externalBytes > 0) parts.push(`${formatBytes(f.externalBytes)} in external data`);
  return `${parts.join(', ')}; largest tensor ${formatBytes(f.largest.bytes)}`;
}

/** A message for a model no backend available can hold: its size, each backend's limit, the way forward. */
export function tooLargeMessage(fileLabel: string, f: WeightFootprint, fits: Fit[]): string {
  const why = fits.map((fit) => `${backendLabel(fit.backend)}: ${fit.reasons.join('; ')}`).join('. ');
  return `${fileLabel} is too large to load here (${describeFootprint(f)}). ${why}. Choose a smaller variant of the model (model_q4.onnx, model_quantized.onnx, or model_fp16.onnx on WebGPU) with "Attention Lens: Select Model…", or a smaller model.`;
}

/**
 * Why only WebAssembly can return this model's attention, from its operators (`domain:OpType`):
 * onnxruntime's GroupQueryAttention returns its softmax weights on the WebAssembly CPU kernels
 * only (the WebGPU backends reject or ignore `qk_output`). Undefined for every other model.
 */
export function wasmOnlyReason(ops: readonly string[]): string | undefined {
  return ops.includes('com.microsoft:GroupQueryAttention')
    ? 'the model computes attention in com.microsoft GroupQueryAttention, whose weights only the WebAssembly kernels return'
    : undefined;
}

/** A backend chosen for a run, and why (for the status line). */
export interface Placement {
  backend: Backend;
  reason: string;
}

/**
 * Where a model runs, given the backend the setting and the machine suggest (`choice`, with the
 * WebGPU adapter's limits when there is one): that backend when the model fits it; in `auto`, the
 * other one when only that one fits (WebGPU only on a hardware adapter); else an `EngineError`
 * (too-large) naming the model's size, what each backend holds, and the way forward. A model of
 * unknown footprint goes where the choice says.
 */
export function placeModel(label: string, f: WeightFootprint | undefined, files: number[], setting: BackendSetting, choice: Placement & { gpu?: GpuCaps }): Placement {
  if (!f) return choice;
  const fit = fitOn(choice.backend, f, choice.gpu, files);
  if (fit.fits) return { backend: choice.backend, reason: choice.reason };
  const other: Backend = choice.backend === 'webgpu' ? 'wasm' : 'webgpu';
  const otherFit = fitOn(other, f, choice.gpu, files);
  const available = other === 'wasm' || choice.gpu?.hardware === true;
  if (setting === 'auto' && available && otherFit.fits) {
    return { backend: other, reason: `${label} is too large for ${backendLabel(choice.backend)} (${fit.reasons.join('; ')}), so ${backendLabel(other)} runs it` };
  }
  const gpuNote = other === 'webgpu' && !available ? ` WebGPU: ${choice.gpu ? 'this machine has only a software adapter' : 'no WebGPU adapter is available'}.` : '';
  const switchTo = setting !== 'auto' && otherFit.fits && available ? ` Set attentionLens.backend to "auto" or "${other}".` : '';
  throw new EngineError(`${tooLargeMessage(label, f, available ? [fit, otherFit] : [fit])}${gpuNote}${switchTo}`, 'too-large');
}
