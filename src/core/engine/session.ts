/**
 * Opening onnxruntime sessions: the options (backend, external data, outputs kept on the GPU) and
 * onnxruntime's failures worded for people. Pure: the ort module (onnxruntime-web or
 * onnxruntime-node) is passed in.
 */
import type * as Ort from 'onnxruntime-web';
import type { Backend } from '../backend';
import type { ExternalDataFile, OrtModule } from './attentionEngine';
import { EngineError } from './engineError';

/** Where a session finds the model's external data: bytes in memory, or (onnxruntime-node only) a folder it memory-maps them from. */
export type ExternalSource = readonly ExternalDataFile[] | { folder: string };

/** The execution provider of each backend, as onnxruntime names it. */
const PROVIDER: Record<Backend, string> = { webgpu: 'webgpu', wasm: 'wasm', native: 'cpu', 'native-cuda': 'cuda' };

/**
 * A session on `backend`. On WebGPU the attention outputs (`gpuOutputs`) stay in GPU buffers, read
 * back layer by layer when the views need them.
 */
export async function openSession(
  ort: OrtModule,
  bytes: Uint8Array,
  backend: Backend,
  fileLabel: string,
  externalData: ExternalSource,
  gpuOutputs: string[] = [],
  graphOptimizationLevel: 'all' | 'basic' = 'all',
): Promise<Ort.InferenceSession> {
  const onGpu = backend === 'webgpu' && gpuOutputs.length > 0 ? { preferredOutputLocation: Object.fromEntries(gpuOutputs.map((n) => [n, 'gpu-buffer' as const])) } : {};
  const external = 'folder' in externalData
    // onnxruntime-node resolves the graph's locations in this folder and memory-maps the files (no copy, no 4 GiB ceiling).
    ? { extra: { session: { model_external_initializers_file_folder_path: externalData.folder } } }
    : externalData.length > 0 ? { externalData: externalData.map((f) => ({ path: f.path, data: f.data })) } : {};
  try {
    // Severity 4 (fatal only): onnxruntime's own log lines never reach the user; failures arrive as exceptions.
    return await ort.InferenceSession.create(bytes, { executionProviders: [PROVIDER[backend]], graphOptimizationLevel, logSeverityLevel: 4, ...onGpu, ...external } as Ort.InferenceSession.SessionOptions);
  } catch (e) {
    throw sessionError(e, fileLabel, backend);
  }
}

const WHERE: Record<Backend, string> = { wasm: "onnxruntime's WebAssembly build", webgpu: "onnxruntime's WebGPU backend", native: "onnxruntime-node's CPU provider", 'native-cuda': "onnxruntime-node's CUDA provider" };

/** The memory a backend ran out of, for messages. */
export const MEMORY: Record<Backend, string> = {
  wasm: 'WebAssembly memory (4 GB at most, weights and activations together)',
  webgpu: 'GPU memory',
  native: "this machine's memory",
  'native-cuda': 'GPU memory',
};

/** Why onnxruntime could not open a model, for people: an operator it lacks, memory, or a broken file. */
function sessionError(e: unknown, fileLabel: string, backend: Backend): EngineError {
  const detail = firstLine(e);
  if (backend === 'native-cuda' && /shared librar|cuda|cudnn|cublas|no CUDA-capable device|driver/i.test(detail)) {
    return new EngineError(`CUDA is not available here (${detail}): onnxruntime-node's CUDA provider needs its libonnxruntime_providers_cuda.so (linux-x64: node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12), CUDA 12 with cuDNN 9, and an NVIDIA GPU with its driver`, 'native-unavailable');
  }
  const where = WHERE[backend];
  // "Could not find an implementation for MatMulNBits(1) node with name '…'", "com.microsoft:Foo(-1) is not a registered function/op".
  const missing = /implementation for (\w+)\((\d+)\)(?: node with name '([^']*)')?/.exec(detail) ?? /(?:([\w.]+):)?(\w+)\((-?\d+)\) is not a registered function\/op/.exec(detail);
  if (missing) {
    const op = missing[0].startsWith('implementation') ? missing[1] : `${missing[1] ? `${missing[1]} ` : ''}${missing[2]}`;
    return new EngineError(`${fileLabel} uses the operator ${op}, which ${where} does not have (${detail}). Choose another variant of the model (model.onnx, model_fp16.onnx or model_q4.onnx load on every backend Attention Lens uses)${backend === 'wasm' || backend === 'native' ? '' : ', or set attentionLens.backend to "wasm"'}.`, 'unsupported-op');
  }
  if (/out of memory|allocation failed|Array buffer allocation|RangeError|memory access out of bounds|bad_alloc/i.test(detail)) {
    return new EngineError(`${fileLabel} did not fit in ${MEMORY[backend]} (${detail}). Choose a smaller (quantized) variant of the model.`, 'too-large');
  }
  if (/external data|external_data|\.onnx_data|\.onnx\.data|not found in external data|Failed to load external data/i.test(detail)) {
    return new EngineError(`${fileLabel}'s external data could not be loaded (${detail}). Check that every data file the model names is beside it and complete (re-download it).`, 'corrupt-model');
  }
  return new EngineError(
    `${fileLabel} could not be loaded by onnxruntime (${detail}). The file may be truncated, corrupt or not an ONNX model: re-download or re-export it.`,
    'corrupt-model',
  );
}

/** The first line of an error's message, at most 300 characters. */
export function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0].slice(0, 300);
}
