"""A T5 export in Optimum's split layout, for encoder-decoder generation with a key/value cache.

The Hub ships encoder-decoder models (T5, BART, Marian, captioners) as separate graphs, as
Optimum writes them: onnx/encoder_model.onnx (input_ids, attention_mask -> last_hidden_state),
onnx/decoder_model.onnx (input_ids, encoder_attention_mask, encoder_hidden_states -> logits and
present.N.decoder/encoder.key/value) and onnx/decoder_with_past_model.onnx (input_ids,
encoder_attention_mask, past_key_values.N.decoder/encoder.key/value -> logits and
present.N.decoder.key/value: the cross-attention keys and values are computed once, by the first
decoder run). Like the Hub's, these graphs have no attention outputs: Attention Lens finds the
softmaxes itself.

The exporter the hf-tiny fixtures were made with (transformers + optimum) is not available here, so
T5 is written as a plain PyTorch module that computes what Hugging Face's T5 does (RMS layer norm
without mean or bias, unscaled scores, a relative position bias from the first layer shared by the
others: bidirectional buckets in the encoder, causal ones in the decoder; ReLU feed-forward; tied
embeddings with the decoder output scaled by d_model^-0.5), with the t5-attn fixture's shape and
tokenizer and seeded random weights.

reference.json holds PyTorch's greedy generation from a prompt, computed without a cache: at each
step one full pass of encoder and decoder over the decoder sequence so far, its argmax, and the
decoder's self and cross attention rows at the last position ([layer][head][key]); and one full
pass over the final sequence (every layer's weights, encoder included). Run with Debian's
interpreter:
    /usr/bin/python3 tools/kv-fixtures/make_t5.py
"""
import json
import math
import os
import shutil

import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'models')
NAME = 't5-split'
CONFIG = json.load(open(os.path.join(FIXTURES, 't5-attn', 'config.json')))
VOCAB, D, DKV, HEADS, LAYERS, FF = CONFIG['vocab_size'], CONFIG['d_model'], CONFIG['d_kv'], CONFIG['num_heads'], CONFIG['num_layers'], CONFIG['d_ff']
BUCKETS, MAX_DISTANCE = CONFIG['relative_attention_num_buckets'], CONFIG['relative_attention_max_distance']
START = CONFIG['decoder_start_token_id']
STEPS = 6
# Weights' standard deviation: T5's scores are not scaled by 1/sqrt(d), so 0.3 (the other fixtures') made softmaxes sharp enough that float32 rows differed from PyTorch's by 2.5e-5.
SEED = int(os.environ.get('SEED', 6))
SCALE = float(os.environ.get('SCALE', 0.15))







def bucket(relative, bidirectional):
    """Hugging Face's T5 relative position bucket."""
    n = BUCKETS
    out = torch.zeros_like(relative)
    if bidirectional:
        n //= 2
        out = out + (relative > 0).to(torch.long) * n
        relative = torch.abs(relative)
    else:
        relative = -torch.min(relative, torch.zeros_like(relative))
    exact = n // 2
    small = relative < exact
    large = exact + (torch.log(relative.float().clamp(min=1) / exact) / math.log(MAX_DISTANCE / exact) * (n - exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, n - 1))
    return out + torch.where(small, relative, large)


class Norm(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(D))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


class Attention(nn.Module):
    def __init__(self, relative=False, bidirectional=True):
        super().__init__()
        self.q = nn.Linear(D, HEADS * DKV, bias=False)
        self.k = nn.Linear(D, HEADS * DKV, bias=False)
        self.v = nn.Linear(D, HEADS * DKV, bias=False)
        self.o = nn.Linear(HEADS * DKV, D, bias=False)
        self.bidirectional = bidirectional
        if relative:
            self.relative_attention_bias = nn.Embedding(BUCKETS, HEADS)

    def bias(self, first_query, queries, keys):
        """[1, heads, queries, keys]: the relative position bias of queries first_query… over keys 0…"""
        context = torch.arange(queries)[:, None] + first_query
        memory = torch.arange(keys)[None, :]
        return self.relative_attention_bias(bucket(memory - context, self.bidirectional)).permute(2, 0, 1).unsqueeze(0)

    def split(self, t):
        return t.view(t.shape[0], t.shape[1], HEADS, DKV).transpose(1, 2)

    def forward(self, x, bias, kv=None, past=None, cross=False):
        """Self attention over x (after past keys and values), or cross attention over kv (or the keys and values of an earlier run)."""
        q = self.split(self.q(x))
        if cross and past is not None:
            k, v = past
        else:
            src = x if kv is None else kv
            k, v = self.split(self.k(src)), self.split(self.v(src))
            if past is not None:
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        scores = q @ k.transpose(-1, -2)
        if bias is not None:
            scores = scores + bias
        probs = scores.softmax(-1)
        out = (probs @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], HEADS * DKV)
        return self.o(out), k, v, probs


class FeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.wi = nn.Linear(D, FF, bias=False)
        self.wo = nn.Linear(FF, D, bias=False)

    def forward(self, x):
        return self.wo(torch.relu(self.wi(x)))


class EncoderBlock(nn.Module):
    def __init__(self, first):
        super().__init__()
        self.norm1, self.attn, self.norm2, self.ff = Norm(), Attention(relative=first), Norm(), FeedForward()

    def forward(self, x, bias):
        a, _, _, probs = self.attn(self.norm1(x), bias)
        x = x + a
        return x + self.ff(self.norm2(x)), probs


class DecoderBlock(nn.Module):
    def __init__(self, first):
        super().__init__()
        self.norm1, self.attn = Norm(), Attention(relative=first, bidirectional=False)
        self.norm2, self.cross = Norm(), Attention()
        self.norm3, self.ff = Norm(), FeedForward()

    def forward(self, x, self_bias, cross_bias, enc, past_self, past_cross):
        a, k, v, self_probs = self.attn(self.norm1(x), self_bias, past=past_self)
        x = x + a
        c, ck, cv, cross_probs = self.cross(self.norm2(x), cross_bias, kv=enc, past=past_cross, cross=True)
        x = x + c
        return x + self.ff(self.norm3(x)), (k, v, ck, cv), self_probs, cross_probs


def mask_bias(mask):
    """[1, 1, 1, keys]: 0 where the mask is 1, the float minimum where 0."""
    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


class T5(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Embedding(VOCAB, D)
        self.encoder = nn.ModuleList([EncoderBlock(i == 0) for i in range(LAYERS)])
        self.encoder_norm = Norm()
        self.decoder = nn.ModuleList([DecoderBlock(i == 0) for i in range(LAYERS)])
        self.decoder_norm = Norm()

    def encode(self, input_ids, attention_mask):
        x = self.shared(input_ids)
        n = input_ids.shape[1]
        bias = self.encoder[0].attn.bias(0, n, n) + mask_bias(attention_mask)
        probs = []
        for block in self.encoder:
            x, p = block(x, bias)
            probs.append(p)
        return self.encoder_norm(x), probs

    def decode(self, input_ids, encoder_attention_mask, encoder_hidden_states, past=None):
        """past: per layer (self k, self v, cross k, cross v), or None for the first run."""
        x = self.shared(input_ids)
        n = input_ids.shape[1]
        offset = 0 if past is None else past[0][0].shape[2]
        total = offset + n
        causal = torch.arange(total)[None, :] <= (torch.arange(n)[:, None] + offset)
        self_bias = self.decoder[0].attn.bias(offset, n, total) + torch.where(causal, torch.zeros((), dtype=torch.float32), torch.full((), torch.finfo(torch.float32).min))[None, None]
        cross_bias = mask_bias(encoder_attention_mask)
        presents, self_probs, cross_probs = [], [], []
        for i, block in enumerate(self.decoder):
            layer_past = None if past is None else past[i]
            x, present, sp, cp = block(x, self_bias, cross_bias, encoder_hidden_states,
                                       None if layer_past is None else layer_past[:2], None if layer_past is None else layer_past[2:])
            presents.append(present)
            self_probs.append(sp)
            cross_probs.append(cp)
        logits = (self.decoder_norm(x) * D ** -0.5) @ self.shared.weight.t()
        return logits, presents, self_probs, cross_probs


class Encoder(nn.Module):
    def __init__(self, t5):
        super().__init__()
        self.t5 = t5

    def forward(self, input_ids, attention_mask):
        return self.t5.encode(input_ids, attention_mask)[0]


class Decoder(nn.Module):
    def __init__(self, t5):
        super().__init__()
        self.t5 = t5

    def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states):
        logits, presents, _, _ = self.t5.decode(input_ids, encoder_attention_mask, encoder_hidden_states)
        return (logits, *[t for p in presents for t in p])


class DecoderWithPast(nn.Module):
    def __init__(self, t5):
        super().__init__()
        self.t5 = t5

    def forward(self, input_ids, encoder_attention_mask, *past):
        layers = [past[4 * i:4 * i + 4] for i in range(LAYERS)]
        logits, presents, _, _ = self.t5.decode(input_ids, encoder_attention_mask, None, layers)
        return (logits, *[t for p in presents for t in p[:2]])


def init(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('weight') and 'norm' in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * SCALE)


def main():
    torch.manual_seed(SEED)
    model = T5()
    init(model, SEED)
    model.eval()
    folder = os.path.join(FIXTURES, NAME)
    os.makedirs(os.path.join(folder, 'onnx'), exist_ok=True)
    for f in ('tokenizer.json', 'tokenizer_config.json', 'config.json'):
        shutil.copy(os.path.join(FIXTURES, 't5-attn', f), os.path.join(folder, f))
    prompt = json.load(open(os.path.join(FIXTURES, 't5-attn', 'reference.json')))[0]['ids'][:7]
    ids = torch.tensor([prompt])
    mask = torch.ones_like(ids)

    with torch.no_grad():
        enc, enc_probs = model.encode(ids, mask)
        # The reference: the whole decoder sequence so far at every step, no cache.
        seq, steps = [START], []
        for _ in range(STEPS):
            logits, _, sp, cp = model.decode(torch.tensor([seq]), mask, enc)
            token = int(logits[0, -1].argmax())
            steps.append({'query': len(seq) - 1, 'token': token,
                          'decoder': [p[0, :, -1].tolist() for p in sp], 'cross': [p[0, :, -1].tolist() for p in cp]})
            seq.append(token)
        final = seq[:-1]
        _, _, sp, cp = model.decode(torch.tensor([final]), mask, enc)
        full = {'decoderIds': final, 'encoder': [p[0].tolist() for p in enc_probs], 'decoder': [p[0].tolist() for p in sp], 'cross': [p[0].tolist() for p in cp]}
        # PyTorch's own cache path agrees (a check of the module, not of the code under test).
        logits, presents, _, _ = model.decode(torch.tensor([[START]]), mask, enc)
        cached = []
        for _ in range(STEPS):
            token = int(logits[0, -1].argmax())
            cached.append(token)
            logits, new, _, _ = model.decode(torch.tensor([[token]]), mask, None, [list(p) for p in presents])
            presents = [n[:2] + p[2:] for n, p in zip(new, presents)]
        assert cached == [s['token'] for s in steps], (cached, steps)

        onnx_dir = os.path.join(folder, 'onnx')
        torch.onnx.export(Encoder(model), (ids, mask), os.path.join(onnx_dir, 'encoder_model.onnx'),
                          input_names=['input_ids', 'attention_mask'], output_names=['last_hidden_state'],
                          dynamic_axes={'input_ids': {1: 'encoder_sequence'}, 'attention_mask': {1: 'encoder_sequence'}, 'last_hidden_state': {1: 'encoder_sequence'}},
                          opset_version=17)
        kinds = [f'{i}.{part}.{kv}' for i in range(LAYERS) for part, kv in (('decoder', 'key'), ('decoder', 'value'), ('encoder', 'key'), ('encoder', 'value'))]
        axes = {'input_ids': {1: 'decoder_sequence'}, 'encoder_attention_mask': {1: 'encoder_sequence'}, 'encoder_hidden_states': {1: 'encoder_sequence'}, 'logits': {1: 'decoder_sequence'}}
        for k in kinds:
            axes[f'present.{k}'] = {2: 'decoder_sequence' if '.decoder.' in k else 'encoder_sequence'}
        torch.onnx.export(Decoder(model), (torch.tensor([[START, 5, 6]]), mask, enc), os.path.join(onnx_dir, 'decoder_model.onnx'),
                          input_names=['input_ids', 'encoder_attention_mask', 'encoder_hidden_states'], output_names=['logits'] + [f'present.{k}' for k in kinds],
                          dynamic_axes=axes, opset_version=17)
        past = [t for p in presents for t in p]
        self_kinds = [k for k in kinds if '.decoder.' in k]
        axes = {'input_ids': {1: 'decoder_sequence'}, 'encoder_attention_mask': {1: 'encoder_sequence'}, 'logits': {1: 'decoder_sequence'}}
        for k in kinds:
            axes[f'past_key_values.{k}'] = {2: 'past_decoder_sequence' if '.decoder.' in k else 'encoder_sequence'}
        for k in self_kinds:
            axes[f'present.{k}'] = {2: 'past_decoder_sequence + 1'}
        torch.onnx.export(DecoderWithPast(model), (torch.tensor([[7]]), mask, *past), os.path.join(onnx_dir, 'decoder_with_past_model.onnx'),
                          input_names=['input_ids', 'encoder_attention_mask'] + [f'past_key_values.{k}' for k in kinds], output_names=['logits'] + [f'present.{k}' for k in self_kinds],
                          dynamic_axes=axes, opset_version=17)
    with open(os.path.join(folder, 'reference.json'), 'w') as f:
        json.dump({'prompt': prompt, 'decoderStart': START, 'steps': steps, 'full': full}, f)
    print(NAME, [s['token'] for s in steps])


if __name__ == '__main__':
    main()
