"""A tiny ViT image classifier as Hugging Face's ViTForImageClassification computes it, for the
vision tests: written as a plain PyTorch module (transformers is not installed here) with seeded
random weights (std 0.3, so attention is far from uniform), exported with torch.onnx.export in
the Optimum names (input pixel_values [batch, 3, height, width]; outputs logits and
attentions.N [batch, heads, tokens, tokens], eager attention), in the Hugging Face folder layout:
config.json (model_type vit, id2label), preprocessor_config.json (ViTImageProcessor),
onnx/model.onnx.

reference.json: for test images made here (non-square RGB, grayscale, RGBA, a 4:2:0 JPEG), the pixel values
as transformers' ViTImageProcessor makes them (Pillow's convert and resize, then numpy's rescale
and normalisation, as in transformers.image_transforms), PyTorch's attentions [layer][head][q][k]
and logits. Run with Debian's interpreter:
    /usr/bin/python3 tools/vision-fixtures/make_vit.py
"""
import base64
import json
import math
import os

import numpy as np
import torch
from PIL import Image
from torch import nn

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
FOLDER = os.path.join(ROOT, 'test', 'fixtures', 'models', 'vit-attn')
IMAGE, PATCH, HIDDEN, HEADS, LAYERS, LABELS = 32, 8, 64, 4, 2, 5
MEAN, STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)
        self.output = nn.Linear(HIDDEN, HIDDEN)
        self.layernorm_after = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.intermediate = nn.Linear(HIDDEN, 4 * HIDDEN)
        self.out = nn.Linear(4 * HIDDEN, HIDDEN)

    def forward(self, x):
        b, n, _ = x.shape
        h = self.layernorm_before(x)
        d = HIDDEN // HEADS
        heads = lambda t: t.view(b, n, HEADS, d).transpose(1, 2)
        q, k, v = heads(self.query(h)), heads(self.key(h)), heads(self.value(h))
        probs = (q @ k.transpose(-1, -2) / math.sqrt(d)).softmax(-1)
        x = x + self.output((probs @ v).transpose(1, 2).reshape(b, n, HIDDEN))
        x = x + self.out(nn.functional.gelu(self.intermediate(self.layernorm_after(x))))
        return x, probs


class Vit(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, HIDDEN, PATCH, stride=PATCH)
        self.cls = nn.Parameter(torch.zeros(1, 1, HIDDEN))
        self.pos = nn.Parameter(torch.zeros(1, (IMAGE // PATCH) ** 2 + 1, HIDDEN))
        self.layers = nn.ModuleList([Layer() for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.classifier = nn.Linear(HIDDEN, LABELS)

    def forward(self, pixel_values):
        x = self.patch(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        attentions = []
        for layer in self.layers:
            x, probs = layer(x)
            attentions.append(probs)
        return (self.classifier(self.norm(x)[:, 0]), *attentions)


def processed(image):
    """ViTImageProcessor: convert('RGB'), resize to IMAGE×IMAGE bilinear, rescale 1/255, normalise; [3, H, W] float32."""
    rgb = image.convert('RGB').resize((IMAGE, IMAGE), resample=Image.BILINEAR)
    a = np.asarray(rgb).astype(np.float64) * (1 / 255)
    a = a.astype(np.float32)
    a = (a - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return a.transpose(2, 0, 1).astype(np.float32)


def images():
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:45, 0:70]
    rgb = np.stack([(x * 3) % 256, (y * 5) % 256, ((x + y) * 2) % 256], -1).astype(np.float64)
    rgb = np.clip(rgb + rng.normal(0, 20, rgb.shape), 0, 255).astype(np.uint8)
    gray = np.clip((x * 2 + y * 3) % 256 + rng.normal(0, 10, x.shape), 0, 255).astype(np.uint8)
    alpha = np.clip(np.concatenate([rgb, ((x * 4) % 256)[..., None]], -1), 0, 255).astype(np.uint8)
    # photo.jpg is saved as Pillow's JPEG (quality 75, 4:2:0 chroma) and read back through its decoder, as the processor would read it.
    return {'landscape.png': Image.fromarray(rgb, 'RGB'), 'gray.png': Image.fromarray(gray, 'L'), 'alpha.png': Image.fromarray(alpha, 'RGBA'), 'photo.jpg': Image.fromarray(rgb[::-1], 'RGB')}


def rollout(attentions, fusion='mean', discard=0.0):
    """Abnar & Zuidema's rollout through every layer, with vit-explain's head fusion (mean, max, min) and discarding: per layer
    the fused heads with their smallest `discard` share set to 0 (entry 0 kept), (fused + I) / 2, rows renormalised, multiplied
    from the first layer on."""
    result = np.eye(attentions[0].shape[-1])
    for a in attentions:
        fused = {'mean': a.mean(axis=0), 'max': a.max(axis=0), 'min': a.min(axis=0)}[fusion].copy()
        flat = fused.reshape(-1)
        lowest = np.argsort(flat, kind='stable')[:int(flat.size * discard)]
        flat[lowest[lowest != 0]] = 0
        m = flat.reshape(fused.shape) + np.eye(a.shape[-1])
        m = m / m.sum(axis=-1, keepdims=True)
        result = m @ result
    return result


def mean_distance(a):
    """Per head, the mean over query patches of the distance in input pixels between patch centres, weighted by the query's attention on the patches (renormalised over them; the class token left out)."""
    grid = IMAGE // PATCH
    pos = np.array([(i // grid, i % grid) for i in range(grid * grid)], dtype=np.float64)
    dist = PATCH * np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    w = a[:, 1:, 1:]
    w = w / w.sum(axis=-1, keepdims=True)
    return (w * dist[None]).sum(-1).mean(-1)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype='<f4').tobytes()).decode()


def init(model, seed):
    """Layer norms as initialised (weight 1, bias 0), every other parameter N(0, 0.3²), seeded."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'layernorm' in name or name.startswith('norm'):
                p.fill_(1.0 if name.endswith('weight') else 0.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def main():
    torch.manual_seed(4)
    model = Vit().eval()
    init(model, 4)
    os.makedirs(os.path.join(FOLDER, 'onnx'), exist_ok=True)
    labels = ['cat', 'dog', 'bird', 'fish', 'tree']
    with open(os.path.join(FOLDER, 'config.json'), 'w') as f:
        json.dump({'architectures': ['ViTForImageClassification'], 'model_type': 'vit', 'image_size': IMAGE, 'patch_size': PATCH, 'num_channels': 3,
                   'hidden_size': HIDDEN, 'num_attention_heads': HEADS, 'num_hidden_layers': LAYERS, 'intermediate_size': 4 * HIDDEN,
                   'id2label': {str(i): l for i, l in enumerate(labels)}, 'label2id': {l: i for i, l in enumerate(labels)}}, f, indent=2)
    with open(os.path.join(FOLDER, 'preprocessor_config.json'), 'w') as f:
        json.dump({'image_processor_type': 'ViTImageProcessor', 'do_resize': True, 'size': {'height': IMAGE, 'width': IMAGE}, 'resample': 2,
                   'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True, 'image_mean': MEAN, 'image_std': STD}, f, indent=2)
    refs = []
    for name, image in images().items():
        image.save(os.path.join(FOLDER, name))
        pixels = processed(Image.open(os.path.join(FOLDER, name)))
        with torch.no_grad():
            out = model(torch.from_numpy(pixels[None]))
        attentions = [a[0].double().numpy() for a in out[1:]]
        refs.append({'image': name, 'size': [image.width, image.height], 'pixelValues': b64(pixels),
                     'logits': out[0][0].tolist(), 'attentions': [a[0].tolist() for a in out[1:]],
                     'rollout': rollout(attentions).tolist(), 'rolloutMaxDiscard': rollout(attentions, 'max', 0.5).tolist(), 'meanDistance': [mean_distance(a).tolist() for a in attentions]})
    names_out = ['logits'] + [f'attentions.{i}' for i in range(LAYERS)]
    axes = {'pixel_values': {0: 'batch'}, **{n: {0: 'batch'} for n in names_out}}
    torch.onnx.export(model, (torch.zeros(1, 3, IMAGE, IMAGE),), os.path.join(FOLDER, 'onnx', 'model.onnx'),
                      input_names=['pixel_values'], output_names=names_out, dynamic_axes=axes, opset_version=17)
    with open(os.path.join(FOLDER, 'reference.json'), 'w') as f:
        json.dump(refs, f)
    print('vit-attn:', [r['image'] for r in refs], 'tokens', (IMAGE // PATCH) ** 2 + 1)


if __name__ == '__main__':
    main()
