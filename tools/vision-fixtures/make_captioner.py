"""A tiny image captioner as Hugging Face's VisionEncoderDecoderModel computes it (a ViT encoder and
a GPT-2 decoder with cross attention, as nlpconnect/vit-gpt2-image-captioning is built), for the
captioning tests: plain PyTorch modules (transformers is not installed here) with seeded random
weights, exported with torch.onnx.export in Optimum's split layout, as the Hub ships captioners:
onnx/encoder_model.onnx (pixel_values -> last_hidden_state), onnx/decoder_model.onnx (input_ids,
encoder_hidden_states -> logits, present.N.decoder/encoder.key/value) and
onnx/decoder_with_past_model.onnx (input_ids, past_key_values.N.decoder/encoder.key/value ->
logits, present.N.decoder.key/value), without attention outputs (Attention Lens finds them), and
onnx/decoder_model_merged.onnx made from the two by tools/kv-fixtures/merge_decoders.py (run it
after this script).

The encoder is the vit-attn fixture's ViT (tools/vision-fixtures/make_vit.py: its layers, its
processor) with the final layer norm ViTModel applies; the decoder is GPT-2 (learned positions,
LayerNorm, gelu_new, scaled scores) whose blocks add cross attention over the encoder's output
(ln_cross_attn, q_attn for the queries, c_attn for the keys and values), its head tied to the
token embeddings. Tokenizer: the gpt2-attn fixture's.

reference.json: for the landscape and photo images, the pixel values (as the vit-attn fixture's
processor makes them), PyTorch's greedy caption computed without a cache (at each step one full
decoder pass over the caption so far: its argmax, the decoder's self and cross attention rows at
the last position [layer][head][key]), and one full pass over the final caption (every layer's
weights, encoder included). Run with Debian's interpreter:
    /usr/bin/python3 tools/vision-fixtures/make_captioner.py
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
import make_vit  # noqa: E402  (the encoder's layers, sizes and processor)

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'models')
FOLDER = os.path.join(FIXTURES, 'vit-gpt2-captioner')
HIDDEN, HEADS, LAYERS, VOCAB, POSITIONS = make_vit.HIDDEN, make_vit.HEADS, 2, 3000, 64
BOS = EOS = 0
STEPS = 6
IMAGES = ['landscape.png', 'photo.jpg']


class Encoder(nn.Module):
    """ViTModel: patches and class token, the vit-attn fixture's layers, a final layer norm."""

    def __init__(self):
        super().__init__()
        grid = make_vit.IMAGE // make_vit.PATCH
        self.patch = nn.Conv2d(3, HIDDEN, make_vit.PATCH, stride=make_vit.PATCH)
        self.cls = nn.Parameter(torch.zeros(1, 1, HIDDEN))
        self.pos = nn.Parameter(torch.zeros(1, grid * grid + 1, HIDDEN))
        self.layers = nn.ModuleList([make_vit.Layer() for _ in range(LAYERS)])
        self.layernorm = nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, pixel_values):
        x = self.patch(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        probs = []
        for layer in self.layers:
            x, p = layer(x)
            probs.append(p)
        return self.layernorm(x), probs


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def heads(t):
    return t.view(t.shape[0], t.shape[1], HEADS, HIDDEN // HEADS).transpose(1, 2)


def attend(q, k, v, bias=None):
    scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS)
    if bias is not None:
        scores = scores + bias
    probs = scores.softmax(-1)
    return (probs @ v).transpose(1, 2).reshape(q.shape[0], q.shape[2], HIDDEN), probs


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(HIDDEN, eps=1e-5)
        self.c_attn = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.c_proj = nn.Linear(HIDDEN, HIDDEN)
        self.ln_cross_attn = nn.LayerNorm(HIDDEN, eps=1e-5)
        self.q_attn = nn.Linear(HIDDEN, HIDDEN)
        self.cross_c_attn = nn.Linear(HIDDEN, 2 * HIDDEN)
        self.cross_c_proj = nn.Linear(HIDDEN, HIDDEN)
        self.ln_2 = nn.LayerNorm(HIDDEN, eps=1e-5)
        self.c_fc = nn.Linear(HIDDEN, 4 * HIDDEN)
        self.mlp_proj = nn.Linear(4 * HIDDEN, HIDDEN)

    def forward(self, x, bias, enc, past):
        """past: (self k, self v, cross k, cross v) of earlier runs, or None."""
        q, k, v = self.c_attn(self.ln_1(x)).split(HIDDEN, dim=2)
        q, k, v = heads(q), heads(k), heads(v)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        a, self_probs = attend(q, k, v, bias)
        x = x + self.c_proj(a)
        cq = heads(self.q_attn(self.ln_cross_attn(x)))
        if past is not None:
            ck, cv = past[2], past[3]
        else:
            ck, cv = self.cross_c_attn(enc).split(HIDDEN, dim=2)
            ck, cv = heads(ck), heads(cv)
        c, cross_probs = attend(cq, ck, cv)
        x = x + self.cross_c_proj(c)
        x = x + self.mlp_proj(gelu_new(self.c_fc(self.ln_2(x))))
        return x, (k, v, ck, cv), self_probs, cross_probs


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, HIDDEN)
        self.wpe = nn.Embedding(POSITIONS, HIDDEN)
        self.h = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.ln_f = nn.LayerNorm(HIDDEN, eps=1e-5)

    def forward(self, input_ids, enc, past=None):
        n = input_ids.shape[1]
        offset = 0 if past is None else past[0][0].shape[2]
        total = offset + n
        x = self.wte(input_ids) + self.wpe(torch.arange(offset, total).unsqueeze(0))
        causal = torch.arange(total)[None, :] <= (torch.arange(n)[:, None] + offset)
        bias = torch.where(causal, torch.zeros((), dtype=torch.float32), torch.full((), torch.finfo(torch.float32).min))[None, None]
        presents, self_probs, cross_probs = [], [], []
        for i, block in enumerate(self.h):
            x, present, sp, cp = block(x, bias, enc, None if past is None else past[i])
            presents.append(present)
            self_probs.append(sp)
            cross_probs.append(cp)
        return self.ln_f(x) @ self.wte.weight.t(), presents, self_probs, cross_probs


class EncoderExport(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, pixel_values):
        return self.encoder(pixel_values)[0]


class DecoderExport(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, input_ids, encoder_hidden_states):
        logits, presents, _, _ = self.decoder(input_ids, encoder_hidden_states)
        return (logits, *[t for p in presents for t in p])


class DecoderWithPastExport(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, input_ids, *past):
        logits, presents, _, _ = self.decoder(input_ids, None, [past[4 * i:4 * i + 4] for i in range(LAYERS)])
        return (logits, *[t for p in presents for t in p[:2]])


def init(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'layernorm' in name or 'ln_' in name:
                p.fill_(1.0 if name.endswith('weight') else 0.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def main():
    torch.manual_seed(7)
    encoder, decoder = Encoder().eval(), Decoder().eval()
    init(encoder, 7)
    init(decoder, 8)
    os.makedirs(os.path.join(FOLDER, 'onnx'), exist_ok=True)
    for f in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copy(os.path.join(FIXTURES, 'gpt2-attn', f), os.path.join(FOLDER, f))
    shutil.copy(os.path.join(FIXTURES, 'vit-attn', 'preprocessor_config.json'), os.path.join(FOLDER, 'preprocessor_config.json'))
    vit = json.load(open(os.path.join(FIXTURES, 'vit-attn', 'config.json')))
    vit = {k: v for k, v in vit.items() if k not in ('id2label', 'label2id', 'architectures')}
    with open(os.path.join(FOLDER, 'config.json'), 'w') as f:
        json.dump({'architectures': ['VisionEncoderDecoderModel'], 'model_type': 'vision-encoder-decoder', 'is_encoder_decoder': True,
                   'decoder_start_token_id': BOS, 'eos_token_id': EOS, 'pad_token_id': EOS,
                   'encoder': {**vit, 'num_hidden_layers': LAYERS},
                   'decoder': {'model_type': 'gpt2', 'vocab_size': VOCAB, 'n_embd': HIDDEN, 'n_head': HEADS, 'n_layer': LAYERS, 'n_positions': POSITIONS,
                               'add_cross_attention': True, 'is_decoder': True, 'bos_token_id': BOS, 'eos_token_id': EOS}}, f, indent=2)

    refs = []
    with torch.no_grad():
        for name in IMAGES:
            shutil.copy(os.path.join(FIXTURES, 'vit-attn', name), os.path.join(FOLDER, name))
            pixels = make_vit.processed(Image.open(os.path.join(FOLDER, name)))
            enc, enc_probs = encoder(torch.from_numpy(pixels[None]))
            seq, steps = [BOS], []
            for _ in range(STEPS):
                logits, _, sp, cp = decoder(torch.tensor([seq]), enc)
                token = int(logits[0, -1].argmax())
                steps.append({'query': len(seq) - 1, 'token': token, 'decoder': [p[0, :, -1].tolist() for p in sp], 'cross': [p[0, :, -1].tolist() for p in cp]})
                seq.append(token)
            final = seq[:-1]
            _, _, sp, cp = decoder(torch.tensor([final]), enc)
            # PyTorch's own cache path agrees (a check of the module, not of the code under test).
            logits, presents, _, _ = decoder(torch.tensor([[BOS]]), enc)
            cached = []
            for _ in range(STEPS):
                token = int(logits[0, -1].argmax())
                cached.append(token)
                logits, new, _, _ = decoder(torch.tensor([[token]]), None, presents)
                presents = new
            assert cached == [s['token'] for s in steps], (cached, steps)
            refs.append({'image': name, 'pixelValues': make_vit.b64(pixels), 'steps': steps,
                         'full': {'decoderIds': final, 'encoder': [p[0].tolist() for p in enc_probs], 'decoder': [p[0].tolist() for p in sp], 'cross': [p[0].tolist() for p in cp]}})
            print(name, [s['token'] for s in steps])

        onnx_dir = os.path.join(FOLDER, 'onnx')
        pixels = torch.from_numpy(make_vit.processed(Image.open(os.path.join(FOLDER, IMAGES[0])))[None])
        enc = encoder(pixels)[0]
        torch.onnx.export(EncoderExport(encoder), (pixels,), os.path.join(onnx_dir, 'encoder_model.onnx'),
                          input_names=['pixel_values'], output_names=['last_hidden_state'], dynamic_axes={'pixel_values': {0: 'batch'}, 'last_hidden_state': {0: 'batch'}}, opset_version=17)
        kinds = [f'{i}.{part}.{kv}' for i in range(LAYERS) for part, kv in (('decoder', 'key'), ('decoder', 'value'), ('encoder', 'key'), ('encoder', 'value'))]
        axes = {'input_ids': {1: 'decoder_sequence'}, 'logits': {1: 'decoder_sequence'}}
        for k in kinds:
            if '.decoder.' in k:
                axes[f'present.{k}'] = {2: 'decoder_sequence'}
        torch.onnx.export(DecoderExport(decoder), (torch.tensor([[BOS, 5, 6]]), enc), os.path.join(onnx_dir, 'decoder_model.onnx'),
                          input_names=['input_ids', 'encoder_hidden_states'], output_names=['logits'] + [f'present.{k}' for k in kinds], dynamic_axes=axes, opset_version=17)
        _, presents, _, _ = decoder(torch.tensor([[BOS, 5]]), enc)
        self_kinds = [k for k in kinds if '.decoder.' in k]
        axes = {'input_ids': {1: 'decoder_sequence'}, 'logits': {1: 'decoder_sequence'}}
        for k in self_kinds:
            axes[f'past_key_values.{k}'] = {2: 'past_decoder_sequence'}
            axes[f'present.{k}'] = {2: 'past_decoder_sequence + 1'}
        torch.onnx.export(DecoderWithPastExport(decoder), (torch.tensor([[7]]), *[t for p in presents for t in p]), os.path.join(onnx_dir, 'decoder_with_past_model.onnx'),
                          input_names=['input_ids'] + [f'past_key_values.{k}' for k in kinds], output_names=['logits'] + [f'present.{k}' for k in self_kinds], dynamic_axes=axes, opset_version=17)
    with open(os.path.join(FOLDER, 'reference.json'), 'w') as f:
        json.dump(refs, f)


if __name__ == '__main__':
    main()
