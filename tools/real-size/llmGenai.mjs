// onnxruntime-genai's int4 CPU layout of the LLM stand-ins (tools/real-size/llm.mjs), as its model
// builder writes it: packed QKV MatMulNBits (accuracy_level 4), GroupQueryAttention with the
// rotary inside, SimplifiedLayerNormalization and SkipSimplifiedLayerNormalization, a quantized
// lm_head, and every tensor in model.onnx.data.
import { Graph, T, af, ai, asBytes, valueInfo } from './onnxBuild.mjs';
import { Ctx, geluTanh, inverseFrequencies } from './llmGraph.mjs';
import { base, floatWeight, quantize4, streamBase } from './llmWeights.mjs';

/** The genai model of `spec` (`variant`: the genai entry of LLM_VARIANTS). */
export function genaiModel(spec, variant) {
  const g = new Graph();
  const c = new Ctx(g, spec, variant);
  const H = spec.hidden;
  const gemma = spec.family === 'gemma3';
  const inputs = [valueInfo('input_ids', T.INT64, ['batch_size', 'sequence_length']), valueInfo('attention_mask', T.INT64, ['batch_size', 'total_sequence_length'])];
  const outputs = [valueInfo('logits', T.FLOAT, ['batch_size', 'sequence_length', spec.vocab])];
  for (let l = 0; l < spec.layers; l++) {
    for (const kv of ['key', 'value']) {
      inputs.push(valueInfo(`past_key_values.${l}.${kv}`, T.FLOAT, ['batch_size', spec.kvHeads, 'past_sequence_length', spec.headDim]));
      outputs.push(valueInfo(`present.${l}.${kv}`, T.FLOAT, ['batch_size', spec.kvHeads, 'total_sequence_length', spec.headDim]));
    }
  }
  // seqlens_k = sum(mask) − 1 and total_sequence_length, as the builder computes them.
  const sub = '/model/attn_mask_reformat/attn_mask_subgraph';
  const sum = g.node('ReduceSum', ['attention_mask', g.ints([1])], [ai('keepdims', 0)], { name: `${sub}/ReduceSum` });
  const seqlens = g.node('Cast', [g.node('Sub', [sum, g.constant(T.INT64, [], [1])], [], { name: `${sub}/Sub` })], [ai('to', T.INT32)], { name: `${sub}/Sub/Cast` });
  const total = g.node('Cast', [g.node('Gather', [g.node('Shape', ['attention_mask'], [], { name: `${sub}/Shape` }), g.constant(T.INT64, [], [1])], [ai('axis', 0)], { name: `${sub}/Gather` })], [ai('to', T.INT32)], { name: `${sub}/Gather/Cast` });
  const caches = (theta, suffix) => {
    const inv = inverseFrequencies(spec.headDim, theta, spec.family === 'llama' ? spec.ropeScaling : undefined);
    const make = (f) => (emit) => {
      const row = new Float32Array(spec.headDim / 2);
      for (let t = 0; t < spec.positions; t++) {
        for (let i = 0; i < row.length; i++) row[i] = f(t * inv[i]);
        emit(asBytes(row));
      }
    };
    return {
      cos: g.weight(`cos_cache${suffix}`, [spec.positions, spec.headDim / 2], T.FLOAT, make(Math.cos)),
      sin: g.weight(`sin_cache${suffix}`, [spec.positions, spec.headDim / 2], T.FLOAT, make(Math.sin)),
    };
  };
  const global = caches(spec.ropeTheta, gemma ? '_global' : '');
  const local = gemma ? caches(spec.localRopeTheta, '_local') : undefined;
  // Norm weights as the builder stores them: Gemma's (1 + w) already added.
  const normWeight = (name) => {
    if (!gemma) return floatWeight(g, spec, name, [H], 'norm', T.FLOAT);
    return g.weight(name, [H], T.FLOAT, (emit) => streamBase(spec, name, H, 'offset-norm', (part) => emit(asBytes(part.map((x) => x + 1)))));
  };
  const simplified = (x, name, prefix) => g.node('SimplifiedLayerNormalization', [x, normWeight(name)], [ai('axis', -1), af('epsilon', spec.eps), ai('stash_type', 1)], { name: `${prefix}/LayerNorm` });
  /** SkipSimplifiedLayerNormalization: [normalized, residual sum]. */
  const skip = (root, skipIn, name, prefix) => {
    const [y, , , s] = g.node('SkipSimplifiedLayerNormalization', [root, skipIn, normWeight(name)], [af('epsilon', spec.eps)], { name: `${prefix}/SkipLayerNorm`, domain: 'com.microsoft', out: [`${prefix}/SkipLayerNorm/output_0`, '', '', `${prefix}/SkipLayerNorm/output_3`] });
    return [y, s];
  };
  /** A projection stored under genai's name, with the values of the base weight `name`. */
  const linear = (x, name, stored, inDim, outDim, prefix, matrix) => c.linear(x, name, inDim, outDim, { prefix, stored, matrix });

  let residual = g.node('Gather', [floatWeight(g, spec, 'model.embed_tokens.weight', [spec.vocab, H], 'matrix', T.FLOAT), 'input_ids'], [], { name: '/model/embed_tokens/Gather' });
  if (gemma) residual = g.node('Mul', [residual, g.constant(T.FLOAT, [], [Math.round(Math.sqrt(H) * 100) / 100])], [], { name: '/model/embed_tokens/Mul' });
  let pending; // the last sublayer's output, added to the residual by the next skip norm
  const qd = spec.heads * spec.headDim;
  const kvd = spec.kvHeads * spec.headDim;
  for (let l = 0; l < spec.layers; l++) {
    const p = `/model/layers.${l}`;
    const w = `model.layers.${l}`;
    let h;
    if (l === 0) h = simplified(residual, `${w}.input_layernorm.weight`, `${p}/input_layernorm`);
    else [h, residual] = skip(residual, pending, `${w}.input_layernorm.weight`, `${p}/input_layernorm`);
    const isLocal = gemma && (l + 1) % spec.slidingPattern !== 0;
    let q, k, v;
    if (!gemma) {
      // One packed MatMulNBits for Q, K and V (their weights concatenated along the output).
      const packed = () => {
        // W_qkv [H, qd + 2·kvd]: each row the row of W_q, then W_k, then W_v.
        const parts = [['q', qd], ['k', kvd], ['v', kvd]].map(([n, d]) => [base(spec, `${w}.self_attn.${n}_proj.weight`, H * d), d]);
        const out = new Float32Array(H * (qd + 2 * kvd));
        for (let i = 0; i < H; i++) {
          let at = i * (qd + 2 * kvd);
          for (const [m, d] of parts) {
            out.set(m.subarray(i * d, (i + 1) * d), at);
            at += d;
          }
        }
        return out;
      };
      q = linear(h, `${w}.self_attn.qkv_proj.weight`, `${w}.attn.qkv_proj.MatMul.weight`, H, qd + 2 * kvd, `${p}/attn/qkv_proj`, packed);
      if (spec.qkvBias) q = g.node('Add', [q, g.weight(`${w}.attn.qkv_proj.Add.bias`, [qd + 2 * kvd], T.FLOAT, (emit) => {
        for (const part of ['q', 'k', 'v']) streamBase(spec, `${w}.self_attn.${part}_proj.bias`, part === 'q' ? qd : kvd, 'bias', (x) => emit(asBytes(x)));
      })], [], { name: `${p}/attn/qkv_proj/Add` });
      k = '';
      v = '';
    } else {
      // Gemma's per-head q/k norms sit between the projections and the rotary: Reshape → norm → Reshape.
      const normHeads = (x, n, name, prefix) => {
        const r = g.node('Reshape', [x, g.ints([0, 0, n, spec.headDim])], [], { name: `${prefix}/Reshape` });
        const y = g.node('SimplifiedLayerNormalization', [r, g.weight(name, [spec.headDim], T.FLOAT, (emit) => streamBase(spec, name, spec.headDim, 'offset-norm', (part) => emit(asBytes(part.map((x) => x + 1)))))], [ai('axis', -1), af('epsilon', spec.eps), ai('stash_type', 1)], { name: `${prefix}/LayerNorm` });
        return g.node('Reshape', [y, g.ints([0, 0, n * spec.headDim])], [], { name: `${prefix}/Reshape_1` });
      };
      q = normHeads(linear(h, `${w}.self_attn.q_proj.weight`, `${w}.attn.q_proj.MatMul.weight`, H, qd, `${p}/attn/q_proj`), spec.heads, `${w}.self_attn.q_norm.weight`, `${p}/attn/q_norm`);
      k = normHeads(linear(h, `${w}.self_attn.k_proj.weight`, `${w}.attn.k_proj.MatMul.weight`, H, kvd, `${p}/attn/k_proj`), spec.kvHeads, `${w}.self_attn.k_norm.weight`, `${p}/attn/k_norm`);
      v = linear(h, `${w}.self_attn.v_proj.weight`, `${w}.attn.v_proj.MatMul.weight`, H, kvd, `${p}/attn/v_proj`);
    }
    const r = isLocal ? local : global;
    const attrs = [ai('num_heads', spec.heads), ai('kv_num_heads', spec.kvHeads), ai('do_rotary', 1), ai('rotary_interleaved', 0), ai('local_window_size', isLocal ? spec.slidingWindow : -1), af('softcap', 0)];
    if (gemma) attrs.push(af('scale', spec.queryPreAttnScalar ** -0.5));
    const [attn] = g.node('GroupQueryAttention', [q, k, v, `past_key_values.${l}.key`, `past_key_values.${l}.value`, seqlens, total, r.cos, r.sin], attrs, {
      name: `${p}/attn/GroupQueryAttention`, domain: 'com.microsoft', out: [`${p}/attn/GroupQueryAttention/output_0`, `present.${l}.key`, `present.${l}.value`],
    });
    let a = linear(attn, `${w}.self_attn.o_proj.weight`, `${w}.attn.o_proj.MatMul.weight`, qd, H, `${p}/attn/o_proj`);
    let h2;
    if (gemma) {
      a = simplified(a, `${w}.post_attention_layernorm.weight`, `${p}/post_attention_layernorm`);
      [h2, residual] = skip(residual, a, `${w}.pre_feedforward_layernorm.weight`, `${p}/pre_feedforward_layernorm`);
    } else {
      [h2, residual] = skip(residual, a, `${w}.post_attention_layernorm.weight`, `${p}/post_attention_layernorm`);
    }
    const gate = linear(h2, `${w}.mlp.gate_proj.weight`, `${w}.mlp.gate_proj.MatMul.weight`, H, spec.intermediate, `${p}/mlp/gate_proj`);
    const up = linear(h2, `${w}.mlp.up_proj.weight`, `${w}.mlp.up_proj.MatMul.weight`, H, spec.intermediate, `${p}/mlp/up_proj`);
    const act = gemma ? geluTanh(c, gate, `${p}/mlp/act`) : g.node('Mul', [gate, g.node('Sigmoid', [gate], [], { name: `${p}/mlp/act/Sigmoid` })], [], { name: `${p}/mlp/act/Mul` });
    pending = linear(g.node('Mul', [act, up], [], { name: `${p}/mlp/Mul` }), `${w}.mlp.down_proj.weight`, `${w}.mlp.down_proj.MatMul.weight`, spec.intermediate, H, `${p}/mlp/down_proj`);
    if (gemma) pending = simplified(pending, `${w}.post_feedforward_layernorm.weight`, `${p}/post_feedforward_layernorm`);
  }
  const [final] = skip(residual, pending, 'model.norm.weight', '/model/norm');
  // The lm_head is a MatMulNBits of its own (the tied embedding, transposed and quantized).
  g.node('MatMulNBits', [final, lmHeadQ4(g, spec), 'lm_head.MatMul.weight_scales'], [ai('K', H), ai('N', spec.vocab), ai('bits', 4), ai('block_size', 32), ai('accuracy_level', 4)], { name: '/lm_head/MatMul_Q4', domain: 'com.microsoft', out: 'logits' });
  return { g, inputs, outputs };
}

/** lm_head's 4-bit weights from the embedding's rows (output n's K weights are row n of the embedding), streamed. */
function lmHeadQ4(g, spec) {
  const H = spec.hidden;
  const blocks = Math.ceil(H / 32);
  const rows = 4096;
  const produce = (which) => (emit) => {
    let row = 0;
    const all = new Float32Array(Math.min(rows, spec.vocab) * H);
    let filled = 0;
    const flush = () => {
      const n = filled / H;
      const { packed, scales } = quantize4(H, n, (i, col) => col.set(all.subarray(i * H, (i + 1) * H)), T.FLOAT);
      emit(which === 'codes' ? packed : scales);
      row += n;
      filled = 0;
    };
    streamBase(spec, 'model.embed_tokens.weight', spec.vocab * H, 'matrix', (part) => {
      let at = 0;
      while (at < part.length) {
        const take = Math.min(part.length - at, all.length - filled);
        all.set(part.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === all.length) flush();
      }
    });
    if (filled > 0) flush();
    if (row !== spec.vocab) throw new Error(`lm_head: ${row} rows of ${spec.vocab}`);
  };
  g.weight('lm_head.MatMul.weight_scales', [spec.vocab * blocks], T.FLOAT, produce('scales'), spec.vocab * blocks * 4);
  return g.weight('lm_head.MatMul.weight_Q4', [spec.vocab, blocks, 16], T.UINT8, produce('codes'), spec.vocab * blocks * 16);
}
