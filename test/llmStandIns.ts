// The LLM stand-ins (tools/real-size/llm.mjs) and their PyTorch references (test/fixtures/llm), as
// the engine, surgery, Hub and e2e tests use them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(__dirname, '..');

/** The generator's functions the tests call. */
export interface LlmGenerator {
  LLM_SHAPES: Record<string, unknown>;
  LLM_VARIANTS: Record<string, { file: string }>;
  /** The folder and ONNX file (relative) of one variant of a stand-in, generated into `cacheDir` when missing. */
  ensureLlmVariant(cacheDir: string, shape: string, variant: string, opts: { tiny: boolean }): { folder: string; onnx: string };
}

/** The generator: plain JavaScript (it runs with bare node), loaded by URL so TypeScript does not look for its types. */
export function llmGenerator(): Promise<LlmGenerator> {
  return import(/* @vite-ignore */ pathToFileURL(path.join(ROOT, 'tools/real-size/llm.mjs')).href) as Promise<LlmGenerator>;
}

/** One shape's reference: the text, its ids, and per variant the files it was computed from and the attention. */
export interface LlmReference {
  text: string;
  ids: number[];
  variants: Record<string, { file: string; sha256: string; shape: number[]; attention: string }>;
}

/** The reference of the tiny `shape` (test/fixtures/llm/<shape>.json). */
export function llmReference(shape: string): LlmReference {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/llm', `${shape}.json`), 'utf8')) as LlmReference;
}

/** A variant's reference attention, [layers, heads, queries, keys] flattened. */
export function referenceAttention(variant: LlmReference['variants'][string]): Float32Array {
  return new Float32Array(Uint8Array.from(Buffer.from(variant.attention, 'base64')).buffer);
}

/** The largest |a − b| over two arrays of the same length (throws when the lengths differ). */
export function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
