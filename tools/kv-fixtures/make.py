"""KV-cache ("with past") exports of the fixtures' architectures, for the generation tests.

The exporter the hf-tiny fixtures were made with (transformers + optimum) is not available here, so
GPT-2 and Llama are written as plain PyTorch modules that compute what Hugging Face's do (eager
attention; GPT-2: learned positions, LayerNorm, gelu_new; Llama: RoPE, RMSNorm, grouped-query
attention, SiLU-gated MLP), with seeded random weights (std 0.3, as the fixtures' initializer_range),
and exported with torch.onnx.export in Optimum's names: inputs input_ids, attention_mask,
position_ids, past_key_values.N.key/value; outputs logits, present.N.key/value, attentions.N.

reference.json holds PyTorch's own greedy generation from a prompt, computed without a cache: at
each step one full forward pass over the sequence so far, its argmax, and its attention row at the
last position ([layer][head][key]). Run with Debian's interpreter:
    /usr/bin/python3 tools/kv-fixtures/make.py
"""
import json
import math
import os
import shutil

import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'models')
VOCAB, HIDDEN, HEADS, LAYERS = 3000, 64, 4, 2
STEPS = 8


def init(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith('norm.weight') or name.endswith('ln_1.weight') or name.endswith('ln_2.weight') or name.endswith('ln_f.weight'):
                p.fill_(1.0)
            elif 'ln_' in name and name.endswith('bias'):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def causal_bias(q_len, past_len, attention_mask, dtype):
    """[1, 1, q, past + q]: 0 where query i (at past + i) may see key j, the dtype's minimum elsewhere."""
    total = past_len + q_len
    keys = torch.arange(total).unsqueeze(0)
    queries = torch.arange(q_len).unsqueeze(1) + past_len
    allowed = (keys <= queries).unsqueeze(0).unsqueeze(0) & attention_mask[:, None, None, :].bool()
    return torch.where(allowed, torch.zeros((), dtype=dtype), torch.full((), torch.finfo(dtype).min, dtype=dtype))


class Gpt2Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.c_proj = nn.Linear(HIDDEN, HIDDEN)

    def forward(self, x, past_k, past_v, bias):
        b, s, _ = x.shape
        q, k, v = self.c_attn(x).split(HIDDEN, dim=2)
        heads = lambda t: t.view(b, s, HEADS, HIDDEN // HEADS).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + bias
        probs = scores.softmax(-1)
        out = (probs @ v).transpose(1, 2).reshape(b, s, HIDDEN)
        return self.c_proj(out), k, v, probs


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Gpt2Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(HIDDEN, eps=1e-5)
        self.attn = Gpt2Attention()
        self.ln_2 = nn.LayerNorm(HIDDEN, eps=1e-5)
        self.c_fc = nn.Linear(HIDDEN, 4 * HIDDEN)
        self.c_proj = nn.Linear(4 * HIDDEN, HIDDEN)

    def forward(self, x, past_k, past_v, bias, position_ids):
        a, k, v, probs = self.attn(self.ln_1(x), past_k, past_v, bias)
        x = x + a
        x = x + self.c_proj(gelu_new(self.c_fc(self.ln_2(x))))
        return x, k, v, probs


class Gpt2(nn.Module):
    kv_heads = HEADS

    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, HIDDEN)
        self.wpe = nn.Embedding(1024, HIDDEN)
        self.h = nn.ModuleList([Gpt2Block() for _ in range(LAYERS)])
        self.ln_f = nn.LayerNorm(HIDDEN, eps=1e-5)

    def embed(self, input_ids, position_ids):
        return self.wte(input_ids) + self.wpe(position_ids)

    def head(self, x):
        return self.ln_f(x) @ self.wte.weight.t()


class RmsNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(HIDDEN))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class LlamaAttention(nn.Module):
    KV = 2

    def __init__(self):
        super().__init__()
        d = HIDDEN // HEADS
        self.q_proj = nn.Linear(HIDDEN, HEADS * d, bias=False)
        self.k_proj = nn.Linear(HIDDEN, self.KV * d, bias=False)
        self.v_proj = nn.Linear(HIDDEN, self.KV * d, bias=False)
        self.o_proj = nn.Linear(HEADS * d, HIDDEN, bias=False)

    def forward(self, x, past_k, past_v, bias, position_ids):
        b, s, _ = x.shape
        d = HIDDEN // HEADS
        q = self.q_proj(x).view(b, s, HEADS, d).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.KV, d).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.KV, d).transpose(1, 2)
        inv = 1.0 / (10000.0 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        freqs = position_ids[:, :, None].float() * inv[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        rep = HEADS // self.KV
        kr = k[:, :, None].expand(b, self.KV, rep, k.shape[2], d).reshape(b, HEADS, k.shape[2], d)
        vr = v[:, :, None].expand(b, self.KV, rep, v.shape[2], d).reshape(b, HEADS, v.shape[2], d)
        probs = (q @ kr.transpose(-1, -2) / math.sqrt(d) + bias).softmax(-1)
        out = (probs @ vr).transpose(1, 2).reshape(b, s, HIDDEN)
        return self.o_proj(out), k, v, probs


class LlamaBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = RmsNorm()
        self.self_attn = LlamaAttention()
        self.post_attention_layernorm = RmsNorm()
        self.gate_proj = nn.Linear(HIDDEN, 128, bias=False)
        self.up_proj = nn.Linear(HIDDEN, 128, bias=False)
        self.down_proj = nn.Linear(128, HIDDEN, bias=False)

    def forward(self, x, past_k, past_v, bias, position_ids):
        a, k, v, probs = self.self_attn(self.input_layernorm(x), past_k, past_v, bias, position_ids)
        x = x + a
        h = self.post_attention_layernorm(x)
        x = x + self.down_proj(nn.functional.silu(self.gate_proj(h)) * self.up_proj(h))
        return x, k, v, probs


class Llama(nn.Module):
    kv_heads = LlamaAttention.KV

    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.h = nn.ModuleList([LlamaBlock() for _ in range(LAYERS)])
        self.norm = RmsNorm()
        self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)

    def embed(self, input_ids, position_ids):
        return self.embed_tokens(input_ids)

    def head(self, x):
        return self.lm_head(self.norm(x))


class WithPast(nn.Module):
    """The export's signature: flat past inputs in, logits, flat present outputs and attentions out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past):
        x = self.model.embed(input_ids, position_ids)
        bias = causal_bias(input_ids.shape[1], past[0].shape[2], attention_mask, x.dtype)
        presents, attentions = [], []
        for i, block in enumerate(self.model.h):
            x, k, v, probs = block(x, past[2 * i], past[2 * i + 1], bias, position_ids)
            presents += [k, v]
            attentions.append(probs)
        return (self.model.head(x), *presents, *attentions)


def run(model, ids, past=None):
    """One pass over `ids` after `past` (a list of (k, v)); logits, presents, attentions."""
    w = WithPast(model)
    p = past or [torch.zeros(1, model.kv_heads, 0, HIDDEN // HEADS) for _ in range(2 * LAYERS)]
    plen = p[0].shape[2]
    ids_t = torch.tensor([ids])
    out = w(ids_t, torch.ones(1, plen + len(ids), dtype=torch.long), torch.arange(plen, plen + len(ids)).unsqueeze(0), *p)
    return out[0], list(out[1:1 + 2 * LAYERS]), list(out[1 + 2 * LAYERS:])


def make(name, model, prompt, config, tokenizer_from, seed):
    torch.manual_seed(seed)
    init(model, seed)
    model.eval()
    folder = os.path.join(FIXTURES, name)
    os.makedirs(os.path.join(folder, 'onnx'), exist_ok=True)
    for f in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copy(os.path.join(FIXTURES, tokenizer_from, f), os.path.join(folder, f))
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)

    with torch.no_grad():
        # The reference: a full pass over the sequence so far at every step, no cache.
        seq = list(prompt)
        steps = []
        for _ in range(STEPS):
            logits, _, attentions = run(model, seq)
            token = int(logits[0, -1].argmax())
            steps.append({'query': len(seq) - 1, 'token': token, 'attention': [a[0, :, -1].tolist() for a in attentions]})
            seq.append(token)
        # PyTorch's own cache path agrees (a check of the module, not of the code under test).
        logits, past, _ = run(model, list(prompt))
        cached = []
        for _ in range(STEPS):
            token = int(logits[0, -1].argmax())
            cached.append(token)
            logits, past, _ = run(model, [token], past)
        assert cached == [s['token'] for s in steps], (cached, steps)

        names_in = ['input_ids', 'attention_mask', 'position_ids'] + [f'past_key_values.{i}.{kv}' for i in range(LAYERS) for kv in ('key', 'value')]
        names_out = ['logits'] + [f'present.{i}.{kv}' for i in range(LAYERS) for kv in ('key', 'value')] + [f'attentions.{i}' for i in range(LAYERS)]
        dummy_past = [torch.randn(1, model.kv_heads, 2, HIDDEN // HEADS) for _ in range(2 * LAYERS)]
        axes = {'input_ids': {1: 'sequence'}, 'attention_mask': {1: 'total'}, 'position_ids': {1: 'sequence'}, 'logits': {1: 'sequence'}}
        for n in names_in[3:]:
            axes[n] = {2: 'past'}
        for n in names_out[1:1 + 2 * LAYERS]:
            axes[n] = {2: 'total'}
        for n in names_out[1 + 2 * LAYERS:]:
            axes[n] = {2: 'sequence', 3: 'total'}
        torch.onnx.export(WithPast(model), (torch.tensor([prompt[:3]]), torch.ones(1, 5, dtype=torch.long), torch.arange(2, 5).unsqueeze(0), *dummy_past),
                          os.path.join(folder, 'onnx', 'model.onnx'), input_names=names_in, output_names=names_out, dynamic_axes=axes, opset_version=17)
    with open(os.path.join(folder, 'reference.json'), 'w') as f:
        json.dump({'prompt': list(prompt), 'steps': steps}, f)
    print(name, [s['token'] for s in steps])


if __name__ == '__main__':
    gpt2_prompt = json.load(open(os.path.join(FIXTURES, 'gpt2-attn', 'reference.json')))[0]['ids'][:7]
    llama_prompt = json.load(open(os.path.join(FIXTURES, 'llama-attn', 'reference.json')))[0]['ids'][:7]
    make('gpt2-past', Gpt2(), gpt2_prompt, {
        'model_type': 'gpt2', 'vocab_size': VOCAB, 'n_embd': HIDDEN, 'n_head': HEADS, 'n_layer': LAYERS, 'n_positions': 1024,
        'bos_token_id': 0, 'eos_token_id': 0, 'use_cache': True}, 'gpt2-attn', 1)
    make('llama-past', Llama(), llama_prompt, {
        'model_type': 'llama', 'vocab_size': VOCAB, 'hidden_size': HIDDEN, 'num_attention_heads': HEADS, 'num_key_value_heads': LlamaAttention.KV,
        'num_hidden_layers': LAYERS, 'head_dim': HIDDEN // HEADS, 'max_position_embeddings': 2048, 'bos_token_id': 1, 'eos_token_id': 2, 'use_cache': True}, 'llama-attn', 2)
