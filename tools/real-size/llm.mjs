// Stand-ins for today's LLM files as the Hub ships them: random-weight decoders with the exact
// architectures, shapes, graph layouts and input/output names of Qwen2.5-0.5B, Llama-3.2-1B,
// SmolLM2-135M and Gemma-3-1B, in each variant people download:
//
//   fp32       onnx/model.onnx, Optimum-style (past inputs, SDPA form), weights in external data chunks
//              (model.onnx_data, model.onnx_data_1, …) as transformers.js_config announces
//   fp16       onnx/model_fp16.onnx, float16 throughout (inputs and outputs too)
//   q4         onnx/model_q4.onnx, MatMulNBits (4-bit, block 32, symmetric) on the projection weights only
//   q4f16      onnx/model_q4f16.onnx, q4 in float16 with float32 inputs and outputs (keep_io_types)
//   quantized  onnx/model_quantized.onnx, 8-bit dynamic quantization (DynamicQuantizeLinear, MatMulInteger; int8 weights)
//   uint8      onnx/model_uint8.onnx, the same with asymmetric uint8 weights
//   bnb4       onnx/model_bnb4.onnx, MatMulBnb4 (NF4, blocks of 64) on the projections, as MatMulBnb4Quantizer writes it
//   merged     onnx/decoder_model_merged.onnx, the legacy merged decoder: every layer inside an If on use_cache_branch
//   genai      <arch>-genai/model.onnx + model.onnx.data + genai_config.json, as onnxruntime-genai's model
//              builder writes int4 CPU models: packed QKV MatMulNBits, GroupQueryAttention with fused rotary,
//              SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization
//
// Every variant of one architecture is made from the same float32 weights (deterministic, by tensor
// name), so one reference computation serves them all once the variant's own weights are read back
// (dequantized). `tiny` shapes keep each architecture's peculiarities (grouped-query ratios, head
// sizes that differ from hidden/heads, biases, rotary scaling, sliding windows, norms) at a few MB.
// This module: the shapes, the variants and the folders; llmWeights.mjs makes the weights,
// llmGraph.mjs the Optimum-style graphs, llmGenai.mjs onnxruntime-genai's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { genaiModel } from './llmGenai.mjs';
import { optimumModel } from './llmGraph.mjs';
import { T, writeModel } from './onnxBuild.mjs';

export const LLM_VERSION = 'v1';

/** The real shapes (config.json values of the Hub models). */
export const LLM_SHAPES = {
  'qwen2.5-0.5b': {
    family: 'qwen2', layers: 24, hidden: 896, heads: 14, kvHeads: 2, headDim: 64, intermediate: 4864, vocab: 151936,
    positions: 32768, ropeTheta: 1e6, eps: 1e-6, qkvBias: true, bos: 151643, eos: 151643,
  },
  'llama-3.2-1b': {
    family: 'llama', layers: 16, hidden: 2048, heads: 32, kvHeads: 8, headDim: 64, intermediate: 8192, vocab: 128256,
    positions: 131072, ropeTheta: 500000, eps: 1e-5, bos: 128000, eos: 128001,
    ropeScaling: { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  },
  'smollm2-135m': {
    family: 'llama', layers: 30, hidden: 576, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536, vocab: 49152,
    positions: 8192, ropeTheta: 100000, eps: 1e-5, bos: 0, eos: 0,
  },
  'gemma-3-1b': {
    family: 'gemma3', layers: 26, hidden: 1152, heads: 4, kvHeads: 1, headDim: 256, intermediate: 6912, vocab: 262144,
    positions: 32768, ropeTheta: 1e6, localRopeTheta: 10000, eps: 1e-6, slidingWindow: 512, slidingPattern: 6,
    queryPreAttnScalar: 256, bos: 2, eos: 1,
  },
};

/**
 * The tiny version of a shape: the same family and ratios at a few MB. Vocabulary 3000 (the test
 * tokenizer's), weights large enough that attention is far from uniform, and a sliding window
 * short enough to matter on a sentence.
 */
export function tinyShape(name) {
  const s = LLM_SHAPES[name];
  const tiny = {
    'qwen2.5-0.5b': { hidden: 64, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128 },
    'llama-3.2-1b': { hidden: 64, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128 },
    'smollm2-135m': { hidden: 96, heads: 6, kvHeads: 2, headDim: 16, intermediate: 192 },
    'gemma-3-1b': { hidden: 64, heads: 4, kvHeads: 1, headDim: 32, intermediate: 128, slidingWindow: 4, slidingPattern: 2, queryPreAttnScalar: 32 },
  }[name];
  return { ...s, ...tiny, layers: 2, vocab: 3000, positions: 2048, bos: 1, eos: 2, tiny: true };
}

/** The variants, their files and how their weights and arithmetic are stored. */
export const LLM_VARIANTS = {
  fp32: { file: 'onnx/model.onnx', external: true },
  fp16: { file: 'onnx/model_fp16.onnx', float: T.FLOAT16, io: T.FLOAT16 },
  q4: { file: 'onnx/model_q4.onnx', linear: 'q4' },
  q4f16: { file: 'onnx/model_q4f16.onnx', linear: 'q4', float: T.FLOAT16, io: T.FLOAT },
  quantized: { file: 'onnx/model_quantized.onnx', linear: 'int8' },
  uint8: { file: 'onnx/model_uint8.onnx', linear: 'uint8' },
  bnb4: { file: 'onnx/model_bnb4.onnx', linear: 'bnb4' },
  merged: { file: 'onnx/decoder_model_merged.onnx', merged: true },
  genai: { file: 'model.onnx', genai: true },
};

/** Bytes per data file (below Chrome's 2 GB ArrayBuffer and onnxruntime-web's 2 GiB per piece). */
const CHUNK_BYTES = 1.9e9;
/** Protobufs larger than this keep their weights in external data (protobuf's limit is 2 GB). */
const INLINE_LIMIT = 1.9e9;

// ---------------------------------------------------------------------------------------------
// Folders.

/** The config.json of `spec` as the Hub model's, with the variants' external data announced. */
export function configJson(name, spec, external) {
  const common = {
    vocab_size: spec.vocab, hidden_size: spec.hidden, intermediate_size: spec.intermediate, num_hidden_layers: spec.layers,
    num_attention_heads: spec.heads, num_key_value_heads: spec.kvHeads, head_dim: spec.headDim, max_position_embeddings: spec.positions,
    rms_norm_eps: spec.eps, rope_theta: spec.ropeTheta, tie_word_embeddings: true, bos_token_id: spec.bos, eos_token_id: spec.eos,
    torch_dtype: 'bfloat16', use_cache: true,
  };
  const family = {
    qwen2: { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_act: 'silu', sliding_window: spec.positions, use_sliding_window: false, max_window_layers: spec.layers },
    llama: { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', attention_bias: false, mlp_bias: false, rope_scaling: spec.ropeScaling ?? null },
    gemma3: {
      architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', hidden_activation: 'gelu_pytorch_tanh', query_pre_attn_scalar: spec.queryPreAttnScalar,
      sliding_window: spec.slidingWindow, sliding_window_pattern: spec.slidingPattern, rope_local_base_freq: spec.localRopeTheta,
      layer_types: Array.from({ length: spec.layers }, (_, l) => ((l + 1) % spec.slidingPattern === 0 ? 'full_attention' : 'sliding_attention')),
      attn_logit_softcapping: null, final_logit_softcapping: null,
    },
  }[spec.family];
  return {
    ...family,
    ...common,
    attention_lens_generator: `tools/real-size/llm.mjs ${LLM_VERSION}, random weights in the shape of ${name}`,
    'transformers.js_config': { kv_cache_dtype: { fp16: 'float16' }, use_external_data_format: external },
  };
}

/** genai_config.json as the model builder writes it. */
export function genaiConfigJson(spec) {
  return {
    model: {
      bos_token_id: spec.bos, context_length: spec.positions, eos_token_id: spec.eos, pad_token_id: spec.eos,
      type: spec.family === 'gemma3' ? 'gemma3_text' : spec.family, vocab_size: spec.vocab,
      decoder: {
        session_options: { log_id: 'onnxruntime-genai', provider_options: [] }, filename: 'model.onnx', head_size: spec.headDim, hidden_size: spec.hidden,
        inputs: { input_ids: 'input_ids', attention_mask: 'attention_mask', past_key_names: 'past_key_values.%d.key', past_value_names: 'past_key_values.%d.value' },
        outputs: { logits: 'logits', present_key_names: 'present.%d.key', present_value_names: 'present.%d.value' },
        num_attention_heads: spec.heads, num_hidden_layers: spec.layers, num_key_value_heads: spec.kvHeads,
      },
    },
    search: { do_sample: false, max_length: spec.positions, num_beams: 1, past_present_share_buffer: true },
  };
}

/**
 * Writes `variant` of `spec` into `folder` (which holds or will hold the model's other files);
 * returns its ONNX file and data files. `chunkBytes` overrides the data file size (tests split tiny
 * models into several chunks).
 */
export function writeVariant(folder, spec, variantName, { chunkBytes } = {}) {
  const variant = LLM_VARIANTS[variantName];
  if (!variant) throw new Error(`Unknown variant "${variantName}": expected one of ${Object.keys(LLM_VARIANTS).join(', ')}.`);
  const { g, inputs, outputs } = variant.genai ? genaiModel(spec, variant) : optimumModel(spec, variant);
  const file = path.join(folder, variant.file);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const weightBytes = g.inits.reduce((s, i) => s + i.byteLength, 0);
  const external = variant.genai
    ? { location: 'model.onnx.data', chunkBytes: Infinity, threshold: 0 }
    : variant.external || weightBytes > INLINE_LIMIT ? { location: `${path.basename(variant.file)}_data`, chunkBytes: chunkBytes ?? CHUNK_BYTES } : undefined;
  const data = writeModel(file, {
    graph: { name: `attention-lens-${variantName}`, nodes: g.nodes, inputs, outputs, docString: `Random weights in a real model's shape (tools/real-size/llm.mjs ${LLM_VERSION}), variant ${variantName}.` },
    inits: g.inits,
    opsets: [['', 17], ['com.microsoft', 1]],
    producer: `attention-lens/tools/real-size ${LLM_VERSION}`,
  }, external);
  return { onnx: variant.file, data };
}

/** The tokenizer every stand-in uses: the Llama-style test tokenizer (SentencePiece BPE with byte fallback, 3000 tokens). */
const TOKENIZER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/tokenizers/llama');

/** The shape called `name`, real or tiny, with the seed its weights come from. */
export function llmShape(name, tiny = false) {
  if (!LLM_SHAPES[name]) throw new Error(`Unknown LLM shape "${name}": expected one of ${Object.keys(LLM_SHAPES).join(', ')}.`);
  return { ...(tiny ? tinyShape(name) : LLM_SHAPES[name]), seed: `${name}${tiny ? '-tiny' : ''}` };
}

/** The folder of `name`'s stand-in in the cache (`-genai` for the genai layout), not created. */
export function llmFolder(cacheDir, name, { tiny = false, genai = false } = {}) {
  return path.join(cacheDir, 'llm', `${name}${tiny ? '-tiny' : ''}${genai ? '-genai' : ''}-${LLM_VERSION}`);
}

/**
 * The folder holding `variant` of `name`'s stand-in (tiny or real size), writing it first when the
 * cache does not hold it; returns { folder, onnx } (the ONNX file relative to the folder). Each
 * variant's files are written under temporary names and renamed into place data first, the .onnx
 * last, so a model whose .onnx is there is whole; config.json then announces its external data.
 */
export function ensureLlmVariant(cacheDir, name, variantName, { tiny = false, log = () => {} } = {}) {
  const variant = LLM_VARIANTS[variantName];
  if (!variant) throw new Error(`Unknown variant "${variantName}": expected one of ${Object.keys(LLM_VARIANTS).join(', ')}.`);
  const spec = llmShape(name, tiny);
  const folder = llmFolder(cacheDir, name, { tiny, genai: variant.genai });
  if (fs.existsSync(path.join(folder, variant.file)) && fs.existsSync(path.join(folder, 'tokenizer.json'))) return { folder, onnx: variant.file };
  fs.mkdirSync(folder, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(folder, `.tmp-${variantName}-`));
  try {
    const t0 = Date.now();
    log(`generating ${name}${tiny ? ' (tiny)' : ''} ${variantName} into ${folder} …`);
    const { data } = writeVariant(tmp, spec, variantName, { chunkBytes: tiny ? 512 * 1024 : undefined });
    const dir = path.dirname(variant.file);
    fs.mkdirSync(path.join(folder, dir), { recursive: true });
    for (const d of data) fs.renameSync(path.join(tmp, dir, d.location), path.join(folder, dir, d.location));
    writeFolderFiles(folder, name, spec, variant, data);
    fs.renameSync(path.join(tmp, variant.file), path.join(folder, variant.file));
    const bytes = [variant.file, ...data.map((d) => path.join(path.dirname(variant.file), d.location))].reduce((s, f) => s + fs.statSync(path.join(folder, f)).size, 0);
    log(`${name} ${variantName}: ${(bytes / 1e6).toFixed(0)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { folder, onnx: variant.file };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The tokenizer files, and config.json (merged with the external data of the variant just written) or genai_config.json. */
function writeFolderFiles(folder, name, spec, variant, data) {
  const write = (file, text) => {
    const part = path.join(folder, `.${file}.part`);
    fs.writeFileSync(part, text);
    fs.renameSync(part, path.join(folder, file));
  };
  fs.copyFileSync(path.join(TOKENIZER, 'tokenizer.json'), path.join(folder, 'tokenizer.json'));
  const tokConfig = JSON.parse(fs.readFileSync(path.join(TOKENIZER, 'tokenizer_config.json'), 'utf8'));
  write('tokenizer_config.json', `${JSON.stringify({ ...tokConfig, model_max_length: spec.positions }, null, 1)}\n`);
  if (variant.genai) {
    write('genai_config.json', `${JSON.stringify(genaiConfigJson(spec), null, 1)}\n`);
    return;
  }
  const configFile = path.join(folder, 'config.json');
  const previous = fs.existsSync(configFile) ? JSON.parse(fs.readFileSync(configFile, 'utf8'))['transformers.js_config']?.use_external_data_format ?? {} : {};
  const external = { ...previous };
  if (data.length > 0) external[path.basename(variant.file)] = data.length;
  else delete external[path.basename(variant.file)];
  write('config.json', `${JSON.stringify(configJson(name, spec, external), null, 1)}\n`);
}
