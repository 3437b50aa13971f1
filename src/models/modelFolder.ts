/**
 * Reading a Hugging Face-style model folder (`config.json`, `tokenizer.json`, an ONNX file).
 * No vscode import: used by the extension host and the CLI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DecoderParts, OpenOptions } from '../core/engine/splitEngine';
import type { ModelPartFile } from '../core/protocol/engine';
import { fitOn, tooLargeMessage } from '../core/engine/backendLimits';
import { type WeightFootprint, addFootprints } from '../core/engine/modelWeights';
import { type ExternalDataPath, readBytes, readExternalData, readModelFiles } from './modelFiles';
import { ModelFolderError } from './modelFolderError';
import { type SplitSet, splitSet, splitSetNeeds } from './splitLayout';

export { ModelFolderError };

/** What Attention Lens needs to know about a model folder before running it. */
export interface ModelInfo {
  folder: string;
  /** `config.architectures[0]`, else `model_type`, else `unknown`. */
  architecture: string;
  modelType: string;
  onnxPath: string;
  /** Largest number of tokens the model accepts in one sequence. */
  maxPositions: number;
  /** Decoder-only model whose self attention is masked to the past. */
  causal: boolean;
  /** Encoder-decoder model that takes `decoder_input_ids` (T5, BART, …). */
  encoderDecoder: boolean;
  decoderStartTokenId?: number;
  /** The ids that end a generated sequence: `generation_config.json`'s `eos_token_id`, else `config.json`'s (a number or a list); empty when neither says. */
  eosTokenIds: number[];
  layers?: number;
  heads?: number;
  /** `config.vocab_size`: token ids must stay below it. */
  vocabSize?: number;
  /** An image model (ViT and its kin): its patch size, the processor settings' file (`preprocessor_config.json`), and the tokens it puts before the patches (class, DeiT's distillation, registers); it takes images, not text. */
  vision?: { patchSize: number; preprocessor: string; specialTokens: number };
  /** A classifier's labels by class index (`config.id2label`); a model whose logits are one row of this many gives predictions. */
  labels?: string[];
  /**
   * A split encoder-decoder export (Optimum's layout): `onnxPath` is its encoder, and these its
   * decoders, the one that starts (`decoder_model.onnx`, else `decoder_model_merged.onnx`) and the
   * one that continues from a cache (`decoder_with_past_model.onnx`), with the same variant suffix.
   */
  decoders?: { decoder: string; withPast?: string };
  /** Size of the .onnx file itself (of every file, for a split model). */
  onnxBytes: number;
  /** The external data files its graph names (none for a single-file model). */
  external: ExternalDataPath[];
  /** What loading it costs: weights in all, float16 share, largest tensor. */
  footprint: WeightFootprint;
  /** The graph's operators, `domain:OpType` (`:Softmax`, `com.microsoft:GroupQueryAttention`). */
  ops: string[];
  /** The first position id the export expects (1 for Gemma 3's ONNX exports, else 0). */
  firstPosition: number;
  /** Worth saying, not stopping for (a config that disagrees with the graph). */
  notices: string[];
}

/** `config.id2label` as a list by class index (`{"0": "NEGATIVE", "1": "POSITIVE"}`), when it names every index from 0. */
function labelsOf(config: Record<string, unknown>): { labels?: string[] } {
  const map = config.id2label;
  if (!map || typeof map !== 'object') return {};
  const entries = Object.entries(map as Record<string, unknown>);
  const labels: string[] = [];
  for (const [k, v] of entries) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || typeof v !== 'string') return {};
    labels[i] = v;
  }
  return labels.length > 0 && labels.every((l) => l !== undefined) ? { labels } : {};
}

/** Image models whose tokens are a class token and patches (plus distillation or register tokens). */
const VISION_TYPES = new Set(['vit', 'deit', 'beit', 'dinov2', 'dinov2_with_registers', 'data2vec-vision', 'vit_msn', 'vit_mae', 'vit_hybrid']);
const PREPROCESSOR = 'preprocessor_config.json';

const CAUSAL_TYPES = new Set([
  'gpt2', 'gpt_neo', 'gpt_neox', 'gptj', 'llama', 'mistral', 'mixtral', 'qwen2', 'qwen2_moe', 'qwen3', 'qwen3_moe', 'phi', 'phi3',
  'gemma', 'gemma2', 'gemma3', 'gemma3_text', 'falcon', 'opt', 'bloom', 'codegen', 'starcoder2', 'olmo', 'olmo2', 'smollm3',
  'granite', 'cohere', 'helium', 'exaone', 'ernie4_5',
]);
const ENCODER_DECODER_TYPES = new Set(['t5', 'mt5', 'bart', 'mbart', 'marian', 'pegasus', 'm2m_100', 'led', 'blenderbot']);
/**
 * Models whose position ids start after the padding index (RoBERTa's `create_position_ids_from_input_ids`):
 * of `max_position_embeddings` rows, `pad_token_id + 1` are never used, so 514 gives 512 tokens.
 */
const PADDING_OFFSET_TYPES = new Set(['roberta', 'xlm-roberta', 'xlm-roberta-xl', 'camembert', 'data2vec-text', 'ibert', 'mpnet', 'markuplm', 'longformer', 'luke', 'roberta-prelayernorm', 'esm']);
const ONNX_CANDIDATES = ['onnx/model.onnx', 'model.onnx'];

/** The model's attention layers and heads, where its config gives both (what a run's weights would take is L·H·n²·4 bytes). */
export function attentionShape(info: Pick<ModelInfo, 'layers' | 'heads'>): { layers: number; heads: number } | undefined {
  return info.layers && info.heads ? { layers: info.layers, heads: info.heads } : undefined;
}

/** The split set of file `rel` in `folder` (see `splitSet`), paths relative to the folder. */
export function splitParts(folder: string, rel: string): SplitSet | undefined {
  return splitSet(rel, (f) => fs.existsSync(path.join(folder, f)));
}

/** JSON files larger than this are not configuration (a mistaken file, or a hostile one). */
const MAX_JSON_BYTES = 16 * 1024 * 1024;

function readJson(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_JSON_BYTES) throw new ModelFolderError(`${what} is ${(size / 1e6).toFixed(0)} MB, too large to be a configuration file: ${file}. Check that it is the model's ${what}.`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ModelFolderError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelFolderError(`${what} is missing: ${file} does not exist. A model folder needs config.json, tokenizer.json and onnx/model.onnx.`);
    if (code === 'ELOOP') throw new ModelFolderError(`${what} is a symbolic link that loops: ${file}. Fix the link or copy the file in.`);
    throw new ModelFolderError(`${what} could not be read: ${file} (${(e as Error).message}). Check its permissions.`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch (e) {
    throw new ModelFolderError(`${what} is not valid JSON: ${file} (${(e as Error).message}). Re-export the model or restore the file.`);
  }
}

/**
 * Throws when `file` is a symbolic link that loops or points nowhere (`existsSync` says false for
 * both, which would read as "missing"). Anything else, present or absent, passes.
 */
function checkLink(file: string, what: string): void {
  let link: fs.Stats;
  try {
    link = fs.lstatSync(file);
  } catch {
    return; // absent: the caller says so
  }
  if (!link.isSymbolicLink()) return;
  try {
    fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new ModelFolderError(`${what} is a symbolic link that loops: ${file}. Fix the link or copy the file in.`);
    if (code === 'ENOENT') throw new ModelFolderError(`${what} is a symbolic link to a file that does not exist: ${file} → ${fs.readlinkSync(file)}. Fix the link or copy the file in.`);
    throw new ModelFolderError(`${what} could not be read: ${file} (${(e as Error).message}). Check its permissions.`);
  }
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * `eos_token_id` from `generation_config.json` (what `generate` reads), else `config.json`: one id or
 * a list. An unreadable generation_config.json counts as absent: attention does not need it.
 */
function eosIds(folder: string, config: Record<string, unknown>): number[] {
  const ids = (v: unknown) => (Array.isArray(v) ? v : [v]).flatMap((x) => (num(x) === undefined ? [] : [x as number]));
  const gen = path.join(folder, 'generation_config.json');
  let fromGen: number[] = [];
  try {
    if (fs.existsSync(gen)) fromGen = ids(readJson(gen, 'generation_config.json').eos_token_id);
  } catch {
    fromGen = [];
  }
  return fromGen.length > 0 ? fromGen : ids(config.eos_token_id);
}

/** Every ONNX file of a model folder, relative to it: `onnx/*.onnx` then `model.onnx`, `onnx/model.onnx` first. */
export function findOnnxFiles(folder: string): string[] {
  const dir = path.join(folder, 'onnx');
  const inOnnx = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort().map((f) => `onnx/${f}`) : [];
  const all = [...inOnnx, ...(fs.existsSync(path.join(folder, 'model.onnx')) ? ['model.onnx'] : [])];
  // A split encoder-decoder set is one choice, named by its encoder (its decoders come with it).
  const choices = all.filter((f) => {
    const parts = splitParts(folder, f);
    return !parts || parts.encoder === f;
  });
  return choices.sort((a, b) => Number(b === ONNX_CANDIDATES[0]) - Number(a === ONNX_CANDIDATES[0]));
}

/** The ONNX file to use: `onnx/model.onnx`, then `model.onnx`, then the only `onnx/*.onnx` (a split set counts as one). */
export function findOnnxFile(folder: string): string | undefined {
  for (const rel of ONNX_CANDIDATES) {
    const p = path.join(folder, rel);
    if (fs.existsSync(p)) return p;
  }
  const onnx = findOnnxFiles(folder);
  return onnx.length === 1 ? path.join(folder, onnx[0]) : undefined;
}

/**
 * Reads and checks a model folder; throws `ModelFolderError` naming the missing or invalid file.
 * `onnxFile` (relative) picks one of several ONNX files.
 */
export function readModelFolder(folder: string, onnxFile?: string): ModelInfo {
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
    throw new ModelFolderError(`Model folder not found: ${folder}. Choose a folder with config.json, tokenizer.json and onnx/model.onnx.`);
  }
  // onnxruntime-genai's model builder writes genai_config.json (and no config.json) beside model.onnx.
  const genai = !fs.existsSync(path.join(folder, 'config.json')) && fs.existsSync(path.join(folder, GENAI_CONFIG)) ? genaiConfig(readJson(path.join(folder, GENAI_CONFIG), GENAI_CONFIG)) : undefined;
  const config = genai?.config ?? readJson(path.join(folder, 'config.json'), 'config.json');
  onnxFile ??= genai?.onnxFile;
  for (const f of ['tokenizer.json', 'tokenizer_config.json', ...ONNX_CANDIDATES, ...(onnxFile ? [onnxFile] : [])]) checkLink(path.join(folder, f), f);
  // A captioner (vision-encoder-decoder) keeps its image encoder's and text decoder's settings in sub-configs.
  const captioner = config.model_type === VISION_ENCODER_DECODER ? { encoder: subConfig(config.encoder), decoder: subConfig(config.decoder) } : undefined;
  const visionType = String((captioner?.encoder ?? config).model_type);
  const image = VISION_TYPES.has(visionType);
  if (image && !fs.existsSync(path.join(folder, PREPROCESSOR))) {
    throw new ModelFolderError(`${PREPROCESSOR} is missing in ${folder}: an image model (${String(config.model_type)}) needs its image processor's settings (save them with image_processor.save_pretrained()).`);
  }
  if (captioner && !image) throw new ModelFolderError(`${folder} is a vision-encoder-decoder model whose encoder is ${visionType}: Attention Lens reads ViT-family encoders (${[...VISION_TYPES].join(', ')}).`);
  if ((!image || captioner) && !fs.existsSync(path.join(folder, 'tokenizer.json'))) {
    throw new ModelFolderError(`tokenizer.json is missing in ${folder}. Attention Lens tokenizes with the model's own tokenizer.json (save it with tokenizer.save_pretrained()).`);
  }
  const onnxPath = onnxFile ? path.join(folder, onnxFile) : findOnnxFile(folder);
  if (onnxFile && !fs.existsSync(onnxPath!)) throw new ModelFolderError(`${onnxFile} is missing in ${folder}.`);
  if (!onnxPath) {
    const several = findOnnxFiles(folder);
    throw new ModelFolderError(several.length > 1
      ? `${folder} has several ONNX files (${several.join(', ')}) and no onnx/model.onnx: choose one with "Attention Lens: Add Model Folder…".`
      : `No ONNX file in ${folder}: expected onnx/model.onnx or model.onnx. Export the model to ONNX (see the README).`);
  }
  const encoderDecoder = config.is_encoder_decoder === true || ENCODER_DECODER_TYPES.has(String(config.model_type));
  const split = encoderDecoder ? splitOf(folder, path.relative(folder, onnxPath)) : undefined;
  const mainPath = split ? path.join(folder, split.encoder) : onnxPath;
  checkLink(mainPath, path.relative(folder, mainPath));
  const files = readModelFiles(folder, mainPath, config);
  const decoders = split ? readDecoders(folder, split, config) : undefined;
  const tokConfigPath = path.join(folder, 'tokenizer_config.json');
  const tokConfig = fs.existsSync(tokConfigPath) ? readJson(tokConfigPath, 'tokenizer_config.json') : {};

  const modelType = typeof config.model_type === 'string' ? config.model_type : 'unknown';
  const archs = Array.isArray(config.architectures) ? config.architectures : [];
  const architecture = typeof archs[0] === 'string' ? archs[0] : modelType;
  // A captioner's text settings (positions, layers, vocabulary) are its decoder's.
  const text = captioner?.decoder ?? config;
  const maxPositions = positionLimit(text, tokConfig, String(text.model_type ?? modelType));
  return {
    folder,
    architecture,
    modelType,
    onnxPath: mainPath,
    maxPositions,
    causal: !encoderDecoder && (CAUSAL_TYPES.has(modelType) || config.is_decoder === true),
    encoderDecoder,
    decoderStartTokenId: num(config.decoder_start_token_id) ?? (encoderDecoder ? num(config.pad_token_id) : undefined),
    eosTokenIds: eosIds(folder, config),
    layers: num(text.num_hidden_layers) ?? num(text.n_layer) ?? num(text.num_layers),
    heads: num(text.num_attention_heads) ?? num(text.n_head) ?? num(text.num_heads),
    vocabSize: num(text.vocab_size),
    ...(captioner ? {} : labelsOf(config)),
    ...(image ? { vision: visionOf(folder, captioner?.encoder ?? config) } : {}),
    ...(decoders ? { decoders: decoders.paths } : {}),
    onnxBytes: fs.statSync(mainPath).size + (decoders?.bytes ?? 0),
    external: files.external,
    footprint: decoders ? decoders.footprints.reduce(addFootprints, files.footprint) : files.footprint,
    ops: [...new Set([...files.scan.ops, ...(decoders?.ops ?? [])])],
    firstPosition: firstPosition(modelType, files.scan.inputs.map((i) => i.name)),
    notices: files.notices,
  };
}

/**
 * The split set of an encoder-decoder model's chosen file (any of its parts). A part without its
 * set is refused by name: a decoder cannot run without its encoder, nor an encoder generate.
 */
function splitOf(folder: string, rel: string): SplitSet | undefined {
  const parts = splitParts(folder, rel);
  const set = splitSetNeeds(rel);
  if (set && !parts) {
    throw new ModelFolderError(`${rel} is one part of a split encoder-decoder export, and ${folder} lacks the rest: it needs ${set}. Download every part of the variant.`);
  }
  return parts;
}

/** A split model's decoders: their paths, sizes, footprints and operators. They must keep their weights inside the file. */
function readDecoders(folder: string, split: SplitSet, config: Record<string, unknown>): { paths: { decoder: string; withPast?: string }; bytes: number; footprints: WeightFootprint[]; ops: string[] } {
  const rels = [split.decoder, ...(split.withPast ? [split.withPast] : [])];
  const read = rels.map((rel) => {
    const file = path.join(folder, rel);
    checkLink(file, rel);
    const files = readModelFiles(folder, file, config);
    if (files.external.length > 0) throw new ModelFolderError(`${rel} keeps its weights in external data files (${files.external.map((f) => f.location).join(', ')}), which Attention Lens does not yet read for a split model's decoders. Choose a smaller variant of the model, or export it as one model.onnx.`);
    return { bytes: fs.statSync(file).size, footprint: files.footprint, ops: files.scan.ops };
  });
  const paths = { decoder: path.join(folder, split.decoder), ...(split.withPast ? { withPast: path.join(folder, split.withPast) } : {}) };
  return { paths, bytes: read.reduce((s, r) => s + r.bytes, 0), footprints: read.map((r) => r.footprint), ops: read.flatMap((r) => r.ops) };
}
const GENAI_CONFIG = 'genai_config.json';
/** An image encoder with a text decoder (a captioner): `config.encoder` and `config.decoder` hold their settings. */
const VISION_ENCODER_DECODER = 'vision-encoder-decoder';

function subConfig(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** An image encoder's patches and special tokens, from its config. */
function visionOf(folder: string, encoder: Record<string, unknown>): NonNullable<ModelInfo['vision']> {
  const type = String(encoder.model_type);
  return { patchSize: num(encoder.patch_size) ?? 16, preprocessor: path.join(folder, PREPROCESSOR), specialTokens: 1 + (type === 'deit' ? 1 : 0) + (num(encoder.num_register_tokens) ?? 0) };
}

/**
 * What `genai_config.json` says, in config.json's terms: the model type, the decoder's shape and
 * context length, and the ONNX file (`model.decoder.filename`).
 */
function genaiConfig(g: Record<string, unknown>): { config: Record<string, unknown>; onnxFile?: string } {
  const model = (g.model && typeof g.model === 'object' ? g.model : {}) as Record<string, unknown>;
  const decoder = (model.decoder && typeof model.decoder === 'object' ? model.decoder : {}) as Record<string, unknown>;
  const filename = typeof decoder.filename === 'string' && !path.isAbsolute(decoder.filename) && !decoder.filename.split(/[\\/]/).includes('..') ? decoder.filename : undefined;
  return {
    config: {
      model_type: model.type,
      architectures: typeof model.type === 'string' ? [`${model.type} (onnxruntime-genai)`] : undefined,
      max_position_embeddings: model.context_length,
      num_hidden_layers: decoder.num_hidden_layers,
      num_attention_heads: decoder.num_attention_heads,
      vocab_size: model.vocab_size,
      bos_token_id: model.bos_token_id,
    },
    onnxFile: filename,
  };
}

/**
 * The first position id an export expects: Gemma 3's ONNX exports count from 1 (Transformers.js
 * feeds them so), every other model from 0. Only when the graph takes position ids at all.
 */
function firstPosition(modelType: string, inputs: string[]): number {
  return inputs.includes('position_ids') && GEMMA3_TYPES.has(modelType) ? 1 : 0;
}
const GEMMA3_TYPES = new Set(['gemma3', 'gemma3_text']);

/**
 * The most tokens one sequence may have: the position table (less RoBERTa-style padding offsets),
 * and `tokenizer_config.json`'s `model_max_length` when it is a real limit (tokenizers without one
 * store a huge sentinel); the smaller of the two, else 512.
 */
function positionLimit(config: Record<string, unknown>, tokConfig: Record<string, unknown>, modelType: string): number {
  let table = num(config.max_position_embeddings) ?? num(config.n_positions) ?? num(config.n_ctx);
  if (table !== undefined && PADDING_OFFSET_TYPES.has(modelType)) table -= (num(config.pad_token_id) ?? 1) + 1;
  const tokMax = num(tokConfig.model_max_length);
  const declared = tokMax !== undefined && tokMax >= 1 && tokMax < 1e6 ? tokMax : undefined;
  const limit = Math.min(table ?? Infinity, declared ?? Infinity);
  return Number.isFinite(limit) && limit >= 1 ? Math.floor(limit) : 512;
}

/**
 * What the engine needs to open a model in Node (the CLI, tests): its ONNX bytes, its external data
 * as bytes, and how to feed it. Refuses a model WebAssembly cannot hold before reading any of it.
 */
export function engineFiles(info: ModelInfo): { bytes: Uint8Array; label: string; options: Pick<OpenOptions, 'externalData' | 'firstPosition' | 'decoders'> } {
  const label = path.relative(info.folder, info.onnxPath);
  const fit = fitOn('wasm', info.footprint, undefined, info.external.map((f) => f.bytes));
  if (!fit.fits) throw new ModelFolderError(tooLargeMessage(label, info.footprint, [fit]));
  return { bytes: readOnnxBytes(info), label, options: { externalData: readExternalData(info.external), firstPosition: info.firstPosition, ...(info.decoders ? { decoders: decoderBytes(info) } : {}) } };
}

/** A split model's decoders as the panel and the native engine take them: paths, and names relative to the folder. */
export function decoderFiles(info: ModelInfo): { decoder: ModelPartFile; withPast?: ModelPartFile } | undefined {
  if (!info.decoders) return undefined;
  const part = (file: string) => ({ path: file, label: path.relative(info.folder, file) });
  return { decoder: part(info.decoders.decoder), ...(info.decoders.withPast ? { withPast: part(info.decoders.withPast) } : {}) };
}

/** A split model's decoders as the engine opens them (read here: they keep their weights inside the file). */
export function decoderBytes(info: ModelInfo): DecoderParts | undefined {
  const files = decoderFiles(info);
  if (!files) return undefined;
  const part = (f: ModelPartFile) => {
    try {
      return { bytes: readBytes(f.path), label: f.label };
    } catch (e) {
      throw new ModelFolderError(`${f.path} could not be read (${(e as Error).message}).`);
    }
  };
  return { decoder: part(files.decoder), ...(files.withPast ? { withPast: part(files.withPast) } : {}) };
}

/** Reads the ONNX bytes of a model, with a clear error when the file cannot be read. */
export function readOnnxBytes(info: ModelInfo): Uint8Array {
  try {
    return readBytes(info.onnxPath);
  } catch (e) {
    throw new ModelFolderError(`${info.onnxPath} could not be read (${(e as Error).message}).`);
  }
}
