#!/usr/bin/env node
// Real-size models for measuring: BERT-base-shaped and GPT-2-small-shaped ONNX models with random
// weights (and a narrow BERT with BERT-base's layers and heads), in the Hugging Face folder layout, built directly as ONNX protobuf (nothing downloaded).
//
//   node tools/real-size/generate.mjs bert-base gpt2-small   # prints one folder per line
//   node tools/real-size/generate.mjs qwen2.5-0.5b:q4,genai   # LLM stand-ins (llm.mjs): their ONNX files
//   import { ensureRealSizeModel } from './tools/real-size/generate.mjs'
//
// Generated on demand into `${ATTENTION_LENS_CACHE ?? ~/.cache/attention-lens}/real-size/<shape>-v1/`
// (never committed): written into a temporary folder beside it, then renamed, so the cache never
// holds a half-written model; reused when present.
//
// The graphs are eager attention as Hugging Face's TorchScript exports write it (MatMul Q·Kᵀ, scale,
// mask, Softmax, MatMul with V) and output only `last_hidden_state`: the engine's graph surgery has
// to find every attention Softmax itself, as for most Hub exports. Weights are deterministic
// (xorshift, one seed per tensor) and normal-ish with std 0.02 like Hugging Face's initialisation;
// they are generated and written one tensor at a time, so memory stays at the largest tensor.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LLM_SHAPES, LLM_VARIANTS, ensureLlmVariant } from './llm.mjs';
import { Graph as BaseGraph, T, ai, af, aints, asBytes, fillNormal, hash, valueInfo, writeModel as writeOnnx } from './onnxBuild.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VERSION = 'v1';
/** torch.finfo(torch.float32).min, what Hugging Face's exports add for masked positions. */
const FLOAT_MIN = -3.4028234663852886e38;

/** The shapes this script builds. */
export const SHAPES = {
  'bert-base': {
    kind: 'bert', layers: 12, heads: 12, hidden: 768, intermediate: 3072, positions: 512, vocab: 30522, typeVocab: 2, eps: 1e-12, about: 'the shape of BERT-base',
  },
  // BERT-base's 12 layers × 12 heads and 512 positions at a few MB (8 dimensions per head): for what
  // depends on the number of heads and tokens only, such as the head explorer's grid.
  'bert-base-narrow': {
    kind: 'bert', layers: 12, heads: 12, hidden: 96, intermediate: 192, positions: 512, vocab: 8000, typeVocab: 2, eps: 1e-12, about: 'BERT-base’s 12 layers × 12 heads and 512 positions, 96 wide',
  },
  'gpt2-small': {
    kind: 'gpt2', layers: 12, heads: 12, hidden: 768, intermediate: 3072, positions: 1024, vocab: 50257, eps: 1e-5, about: 'the shape of GPT-2 small',
  },
};

/** The cache folder of real-size models (not created). */
export function realSizeCacheDir(opts = {}) {
  const base = opts.cacheDir ?? process.env.ATTENTION_LENS_CACHE ?? path.join(os.homedir(), '.cache', 'attention-lens');
  return path.join(base, 'real-size');
}

/**
 * The folder of a generated model of `shape` ('bert-base' | 'gpt2-small'), generating it first
 * when the cache does not hold it. `opts.cacheDir` overrides the cache root, `opts.log` receives
 * progress lines (default: none).
 */
export async function ensureRealSizeModel(shape, opts = {}) {
  const spec = SHAPES[shape];
  if (!spec) throw new Error(`Unknown shape "${shape}": expected one of ${Object.keys(SHAPES).join(', ')}.`);
  const log = opts.log ?? (() => {});
  const dir = realSizeCacheDir(opts);
  const final = path.join(dir, `${shape}-${VERSION}`);
  if (isComplete(final)) return final;
  fs.mkdirSync(dir, { recursive: true });
  removeStale(dir, shape);
  // Only a rename creates this folder, so an incomplete one was damaged by hand: replace it.
  if (fs.existsSync(final)) fs.rmSync(final, { recursive: true, force: true });
  const tmp = fs.mkdtempSync(path.join(dir, `.tmp-${shape}-${VERSION}-`));
  fs.chmodSync(tmp, 0o755); // mkdtemp makes it private; the model folder is an ordinary one
  try {
    const t0 = Date.now();
    log(`generating ${shape} into ${final} …`);
    writeFolder(tmp, shape, spec);
    try {
      fs.renameSync(tmp, final);
    } catch (e) {
      // Another process finished first (rename onto a non-empty folder fails): use its copy.
      if (!isComplete(final)) throw e;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    log(`${shape}: ${(fs.statSync(path.join(final, 'onnx/model.onnx')).size / 1e6).toFixed(0)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return final;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

function isComplete(folder) {
  return ['config.json', 'tokenizer.json', 'onnx/model.onnx'].every((f) => fs.existsSync(path.join(folder, f)));
}

/** Temporary folders of `shape` left by a killed run more than an hour ago. */
function removeStale(dir, shape) {
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(`.tmp-${shape}-`)) continue;
    const p = path.join(dir, name);
    try {
      if (Date.now() - fs.statSync(p).mtimeMs > 3600_000) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // raced with another cleaner
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The folder: config.json, tokenizer.json (+ tokenizer_config.json) from a bundled model, onnx/model.onnx.

/** A bundled model's folder: the default for causal shapes, a masked one for BERT (its [CLS] … [SEP] tokenizer). */
function bundledTokenizerFolder(causal) {
  const dir = path.join(ROOT, 'media', 'models');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'models.json'), 'utf8'));
  const isDecoder = (m) => JSON.parse(fs.readFileSync(path.join(dir, m.folder, 'config.json'), 'utf8')).is_decoder === true;
  const pick = (causal ? undefined : manifest.find((m) => !isDecoder(m))) ?? manifest.find((m) => m.default) ?? manifest[0];
  return path.join(dir, pick.folder);
}

function writeFolder(folder, shape, spec) {
  const causal = spec.kind === 'gpt2';
  const tokFolder = bundledTokenizerFolder(causal);
  const tokenizer = JSON.parse(fs.readFileSync(path.join(tokFolder, 'tokenizer.json'), 'utf8'));
  const tokVocab = Math.max(Object.keys(tokenizer.model?.vocab ?? {}).length, ...(tokenizer.added_tokens ?? []).map((t) => t.id + 1));
  if (tokVocab > spec.vocab) throw new Error(`The bundled tokenizer has ${tokVocab} tokens, more than ${shape}'s ${spec.vocab}.`);
  fs.copyFileSync(path.join(tokFolder, 'tokenizer.json'), path.join(folder, 'tokenizer.json'));
  const tokConfigFile = path.join(tokFolder, 'tokenizer_config.json');
  const tokConfig = fs.existsSync(tokConfigFile) ? JSON.parse(fs.readFileSync(tokConfigFile, 'utf8')) : {};
  fs.writeFileSync(path.join(folder, 'tokenizer_config.json'), `${JSON.stringify({ ...tokConfig, model_max_length: spec.positions }, null, 1)}\n`);
  fs.writeFileSync(path.join(folder, 'config.json'), `${JSON.stringify(configJson(spec, tokenizer), null, 1)}\n`);
  fs.writeFileSync(path.join(folder, 'README.md'), `# ${shape} (random weights)\n\nGenerated by tools/real-size/generate.mjs (${VERSION}) for measuring Attention Lens: ${spec.about}, random weights (std 0.02), the tokenizer of the bundled ${path.basename(tokFolder)} model. Not a trained model.\n`);
  fs.mkdirSync(path.join(folder, 'onnx'));
  writeModel(path.join(folder, 'onnx', 'model.onnx'), shape, spec);
}

function configJson(spec, tokenizer) {
  const id = (content) => (tokenizer.added_tokens ?? []).find((t) => t.content === content)?.id;
  const generator = { attention_lens_generator: `tools/real-size/generate.mjs ${VERSION}, random weights` };
  if (spec.kind === 'bert') {
    return {
      architectures: ['BertModel'], model_type: 'bert', vocab_size: spec.vocab, hidden_size: spec.hidden,
      num_hidden_layers: spec.layers, num_attention_heads: spec.heads, intermediate_size: spec.intermediate,
      hidden_act: 'gelu', hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
      max_position_embeddings: spec.positions, type_vocab_size: spec.typeVocab, initializer_range: 0.02,
      layer_norm_eps: spec.eps, pad_token_id: id('[PAD]') ?? 0, position_embedding_type: 'absolute',
      torch_dtype: 'float32', ...generator,
    };
  }
  const eos = id('<|endoftext|>') ?? 0;
  return {
    architectures: ['GPT2Model'], model_type: 'gpt2', vocab_size: spec.vocab, n_positions: spec.positions, n_ctx: spec.positions,
    n_embd: spec.hidden, n_layer: spec.layers, n_head: spec.heads, n_inner: spec.intermediate, activation_function: 'gelu_new',
    layer_norm_epsilon: spec.eps, initializer_range: 0.02, bos_token_id: eos, eos_token_id: eos,
    torch_dtype: 'float32', ...generator,
  };
}

// ---------------------------------------------------------------------------------------------
// Graph construction.

/** The shared graph builder, with weights named after the model's parameters and seeded by their names. */
class Graph extends BaseGraph {
  constructor(seedBase) {
    super();
    this.seedBase = seedBase;
  }

  /** A float32 weight of `dims` filled by `fill`: 'normal' (std 0.02), 'zeros' or 'ones'. */
  weight(name, dims, fill = 'normal') {
    const seed = hash(`${this.seedBase}/${name}`);
    return super.weight(name, dims, T.FLOAT, (emit) => writeFilled(emit, dims, fill, seed));
  }

  scalar(v) {
    return this.constant(T.FLOAT, [], [v]);
  }
}

function linear(g, x, w, inDim, outDim) {
  const m = g.node('MatMul', [x, g.weight(`${w}.weight`, [inDim, outDim])], [], { name: `/${w}/MatMul` });
  return g.node('Add', [m, g.weight(`${w}.bias`, [outDim], 'zeros')], [], { name: `/${w}/Add` });
}

function layerNorm(g, x, prefix, hidden, eps, out) {
  return g.node('LayerNormalization', [x, g.weight(`${prefix}.weight`, [hidden], 'ones'), g.weight(`${prefix}.bias`, [hidden], 'zeros')], [ai('axis', -1), af('epsilon', eps)], { name: `/${prefix}/LayerNormalization`, out });
}

/** [b, s, hidden] → [b, heads, s, d] (or [b, heads, d, s] for keys). */
function splitHeads(g, x, spec, keys, prefix) {
  const d = spec.hidden / spec.heads;
  const r = g.node('Reshape', [x, g.ints([0, 0, spec.heads, d])], [], { name: `${prefix}/Reshape` });
  return g.node('Transpose', [r], [aints('perm', keys ? [0, 2, 3, 1] : [0, 2, 1, 3])], { name: `${prefix}/Transpose` });
}

/**
 * Eager attention as Hugging Face exports it: scores = Q·Kᵀ scaled, (causal Where), + mask, Softmax,
 * × V, heads merged. BERT divides by √d (its export), GPT-2 here multiplies by 1/√d (the other form).
 */
function attention(g, q, k, v, spec, mask, prefix, causalMask) {
  const d = spec.hidden / spec.heads;
  let s = g.node('MatMul', [splitHeads(g, q, spec, false, `${prefix}/query`), splitHeads(g, k, spec, true, `${prefix}/key`)], [], { name: `${prefix}/MatMul` });
  s = causalMask
    ? g.node('Mul', [s, g.scalar(1 / Math.sqrt(d))], [], { name: `${prefix}/Mul` })
    : g.node('Div', [s, g.scalar(Math.sqrt(d))], [], { name: `${prefix}/Div` });
  if (causalMask) s = g.node('Where', [causalMask, s, g.scalar(FLOAT_MIN)], [], { name: `${prefix}/Where` });
  s = g.node('Add', [s, mask], [], { name: `${prefix}/Add_mask` });
  const p = g.node('Softmax', [s], [ai('axis', -1)], { name: `${prefix}/Softmax` });
  const c = g.node('MatMul', [p, splitHeads(g, v, spec, false, `${prefix}/value`)], [], { name: `${prefix}/MatMul_1` });
  const t = g.node('Transpose', [c], [aints('perm', [0, 2, 1, 3])], { name: `${prefix}/Transpose_out` });
  return g.node('Reshape', [t, g.ints([0, 0, spec.hidden])], [], { name: `${prefix}/Reshape_out` });
}

/** (1 − mask) · finfo.min as [b, 1, 1, s], added to the scores. */
function extendedMask(g) {
  const m = g.node('Unsqueeze', ['attention_mask', g.ints([1, 2])], [], { name: '/mask/Unsqueeze' });
  const f = g.node('Cast', [m], [ai('to', T.FLOAT)], { name: '/mask/Cast' });
  const inv = g.node('Sub', [g.scalar(1), f], [], { name: '/mask/Sub' });
  return g.node('Mul', [inv, g.scalar(FLOAT_MIN)], [], { name: '/mask/Mul' });
}

/** Rows 0..seq of a [positions, hidden] table. */
function positions(g, table, seqLen) {
  return g.node('Slice', [table, g.ints([0]), seqLen, g.ints([0])], [], { name: '/embeddings/position/Slice' });
}

function geluErf(g, x, prefix) {
  const a = g.node('Div', [x, g.scalar(Math.SQRT2)], [], { name: `${prefix}/Div` });
  const e = g.node('Erf', [a], [], { name: `${prefix}/Erf` });
  const b = g.node('Add', [e, g.scalar(1)], [], { name: `${prefix}/Add` });
  const c = g.node('Mul', [x, b], [], { name: `${prefix}/Mul` });
  return g.node('Mul', [c, g.scalar(0.5)], [], { name: `${prefix}/Mul_1` });
}

function geluTanh(g, x, prefix) {
  const x3 = g.node('Pow', [x, g.scalar(3)], [], { name: `${prefix}/Pow` });
  const a = g.node('Mul', [x3, g.scalar(0.044715)], [], { name: `${prefix}/Mul` });
  const b = g.node('Add', [x, a], [], { name: `${prefix}/Add` });
  const c = g.node('Mul', [b, g.scalar(Math.sqrt(2 / Math.PI))], [], { name: `${prefix}/Mul_1` });
  const t = g.node('Tanh', [c], [], { name: `${prefix}/Tanh` });
  const d = g.node('Add', [t, g.scalar(1)], [], { name: `${prefix}/Add_1` });
  const e = g.node('Mul', [x, d], [], { name: `${prefix}/Mul_2` });
  return g.node('Mul', [e, g.scalar(0.5)], [], { name: `${prefix}/Mul_3` });
}

function bertGraph(spec) {
  const g = new Graph('bert-base');
  const H = spec.hidden;
  const seqLen = g.node('Shape', ['input_ids'], [ai('start', 1), ai('end', 2)], { name: '/embeddings/Shape' });
  const words = g.node('Gather', [g.weight('embeddings.word_embeddings.weight', [spec.vocab, H]), 'input_ids'], [], { name: '/embeddings/word/Gather' });
  const pos = positions(g, g.weight('embeddings.position_embeddings.weight', [spec.positions, H]), seqLen);
  const types = g.node('Gather', [g.weight('embeddings.token_type_embeddings.weight', [spec.typeVocab, H]), 'token_type_ids'], [], { name: '/embeddings/token_type/Gather' });
  const sum = g.node('Add', [g.node('Add', [words, types], [], { name: '/embeddings/Add' }), pos], [], { name: '/embeddings/Add_1' });
  let x = layerNorm(g, sum, 'embeddings.LayerNorm', H, spec.eps);
  const mask = extendedMask(g);
  for (let l = 0; l < spec.layers; l++) {
    const p = `encoder.layer.${l}`;
    const q = linear(g, x, `${p}.attention.self.query`, H, H);
    const k = linear(g, x, `${p}.attention.self.key`, H, H);
    const v = linear(g, x, `${p}.attention.self.value`, H, H);
    const ctx = attention(g, q, k, v, spec, mask, `/${p}/attention/self`);
    const o = linear(g, ctx, `${p}.attention.output.dense`, H, H);
    const a = layerNorm(g, g.node('Add', [o, x], [], { name: `/${p}/attention/output/Add` }), `${p}.attention.output.LayerNorm`, H, spec.eps);
    const i = geluErf(g, linear(g, a, `${p}.intermediate.dense`, H, spec.intermediate), `/${p}/intermediate/gelu`);
    const f = linear(g, i, `${p}.output.dense`, spec.intermediate, H);
    x = layerNorm(g, g.node('Add', [f, a], [], { name: `/${p}/output/Add` }), `${p}.output.LayerNorm`, H, spec.eps, l === spec.layers - 1 ? 'last_hidden_state' : undefined);
  }
  return { g, inputs: ['input_ids', 'attention_mask', 'token_type_ids'] };
}

function gpt2Graph(spec) {
  const g = new Graph('gpt2-small');
  const H = spec.hidden;
  const seqLen = g.node('Shape', ['input_ids'], [ai('start', 1), ai('end', 2)], { name: '/embeddings/Shape' });
  const words = g.node('Gather', [g.weight('wte.weight', [spec.vocab, H]), 'input_ids'], [], { name: '/wte/Gather' });
  let h = g.node('Add', [words, positions(g, g.weight('wpe.weight', [spec.positions, H]), seqLen)], [], { name: '/embeddings/Add' });
  // The causal mask: the top-left [s, s] of a lower-triangular [positions, positions] buffer (GPT-2's `bias`).
  const tri = new Uint8Array(spec.positions * spec.positions);
  for (let r = 0; r < spec.positions; r++) tri.fill(1, r * spec.positions, r * spec.positions + r + 1);
  const bias = 'h.attn.bias';
  g.inits.push({ name: bias, dims: [spec.positions, spec.positions], dataType: T.BOOL, bytes: tri, byteLength: tri.length });
  const ends = g.node('Concat', [seqLen, seqLen], [ai('axis', 0)], { name: '/causal/Concat' });
  const causal = g.node('Slice', [bias, g.ints([0, 0]), ends, g.ints([0, 1])], [], { name: '/causal/Slice' });
  const mask = extendedMask(g);
  for (let l = 0; l < spec.layers; l++) {
    const p = `h.${l}`;
    const a = layerNorm(g, h, `${p}.ln_1`, H, spec.eps);
    const qkv = linear(g, a, `${p}.attn.c_attn`, H, 3 * H);
    const [q, k, v] = g.node('Split', [qkv, g.ints([H, H, H])], [ai('axis', 2)], { name: `/${p}/attn/Split`, outputs: 3 });
    const ctx = attention(g, q, k, v, spec, mask, `/${p}/attn`, causal);
    h = g.node('Add', [h, linear(g, ctx, `${p}.attn.c_proj`, H, H)], [], { name: `/${p}/Add` });
    const m = layerNorm(g, h, `${p}.ln_2`, H, spec.eps);
    const f = geluTanh(g, linear(g, m, `${p}.mlp.c_fc`, H, spec.intermediate), `/${p}/mlp/act`);
    h = g.node('Add', [h, linear(g, f, `${p}.mlp.c_proj`, spec.intermediate, H)], [], { name: `/${p}/Add_1` });
  }
  layerNorm(g, h, 'ln_f', H, spec.eps, 'last_hidden_state');
  return { g, inputs: ['input_ids', 'attention_mask'] };
}

// ---------------------------------------------------------------------------------------------
// Writing: streamed by onnxBuild's writer, one tensor at a time.

function writeModel(file, shape, spec) {
  const { g, inputs } = spec.kind === 'bert' ? bertGraph(spec) : gpt2Graph(spec);
  writeOnnx(file, {
    graph: {
      name: `attention-lens-${shape}`,
      nodes: g.nodes,
      inputs: inputs.map((n) => valueInfo(n, T.INT64, ['batch_size', 'sequence_length'])),
      outputs: [valueInfo('last_hidden_state', T.FLOAT, ['batch_size', 'sequence_length', spec.hidden])],
      docString: `${shape}-shaped model with random weights, generated by Attention Lens (tools/real-size/generate.mjs ${VERSION}).`,
    },
    inits: g.inits,
    opsets: [['', 17]],
    producer: 'attention-lens/tools/real-size',
    producerVersion: VERSION,
  });
}

/** Streams a float tensor's values in chunks of 1 M floats. */
function writeFilled(emit, dims, fill, seed) {
  const total = dims.reduce((a, b) => a * b, 1);
  const chunk = new Float32Array(Math.min(total, 1 << 20));
  const rng = { state: seed || 1 };
  for (let done = 0; done < total; done += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, total - done));
    if (fill === 'zeros') part.fill(0);
    else if (fill === 'ones') part.fill(1);
    else fillNormal(part, rng);
    emit(asBytes(part));
  }
}

// ---------------------------------------------------------------------------------------------

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const tiny = args.includes('--tiny');
  const shapes = args.filter((a) => a !== '--tiny');
  if (shapes.length === 0 || shapes.some((s) => s === '-h' || s === '--help')) {
    process.stderr.write([
      `usage: node tools/real-size/generate.mjs <shape>…  (shapes: ${Object.keys(SHAPES).join(', ')})`,
      `       node tools/real-size/generate.mjs [--tiny] <llm>[:<variant>,…]…  (llm: ${Object.keys(LLM_SHAPES).join(', ')}; variants: ${Object.keys(LLM_VARIANTS).join(', ')}, default all)`,
      `Prints one model folder per line (an LLM stand-in: its ONNX file, for --onnx); generates into ${realSizeCacheDir()} when missing.`,
      '',
    ].join('\n'));
    process.exit(shapes.length === 0 ? 1 : 0);
  }
  const log = (m) => process.stderr.write(`${m}\n`);
  try {
    for (const s of shapes) {
      const [name, variants] = s.split(':');
      if (!LLM_SHAPES[name]) {
        process.stdout.write(`${await ensureRealSizeModel(s, { log })}\n`);
        continue;
      }
      for (const v of variants ? variants.split(',') : Object.keys(LLM_VARIANTS)) {
        const { folder, onnx } = ensureLlmVariant(realSizeCacheDir(), name, v, { tiny, log });
        process.stdout.write(`${path.join(folder, onnx)}\n`);
      }
    }
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  }
}
