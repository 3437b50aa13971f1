"""A second tiny ViT classifier, with 16-pixel patches (a 2 × 2 grid on its 32 × 32 input where
vit-attn has 8-pixel patches, a 4 × 4 grid), for comparing two image models whose grids differ:
the vit-attn fixture's module and processor (tools/vision-fixtures/make_vit.py) with another patch
size and seed, exported the same way into test/fixtures/models/vit-patch16. reference.json holds
PyTorch's attentions for landscape.png. Run with Debian's interpreter:
    /usr/bin/python3 tools/vision-fixtures/make_vit16.py
"""
import json
import os
import shutil
import sys

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import make_vit  # noqa: E402

FOLDER = os.path.join(make_vit.ROOT, 'test', 'fixtures', 'models', 'vit-patch16')


def main():
    make_vit.PATCH = 16
    torch.manual_seed(9)
    model = make_vit.Vit().eval()
    make_vit.init(model, 9)
    os.makedirs(os.path.join(FOLDER, 'onnx'), exist_ok=True)
    config = json.load(open(os.path.join(make_vit.FOLDER, 'config.json')))
    with open(os.path.join(FOLDER, 'config.json'), 'w') as f:
        json.dump({**config, 'patch_size': 16}, f, indent=2)
    shutil.copy(os.path.join(make_vit.FOLDER, 'preprocessor_config.json'), os.path.join(FOLDER, 'preprocessor_config.json'))
    pixels = make_vit.processed(Image.open(os.path.join(make_vit.FOLDER, 'landscape.png')))
    with torch.no_grad():
        out = model(torch.from_numpy(pixels[None]))
    names_out = ['logits'] + [f'attentions.{i}' for i in range(make_vit.LAYERS)]
    torch.onnx.export(model, (torch.zeros(1, 3, make_vit.IMAGE, make_vit.IMAGE),), os.path.join(FOLDER, 'onnx', 'model.onnx'),
                      input_names=['pixel_values'], output_names=names_out, dynamic_axes={n: {0: 'batch'} for n in ['pixel_values', *names_out]}, opset_version=17)
    with open(os.path.join(FOLDER, 'reference.json'), 'w') as f:
        json.dump({'image': 'landscape.png', 'attentions': [a[0].tolist() for a in out[1:]]}, f)
    print('vit-patch16: tokens', (make_vit.IMAGE // 16) ** 2 + 1)


if __name__ == '__main__':
    main()
