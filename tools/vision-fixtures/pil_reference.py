"""Reference data for the image preprocessing tests (test/unit/imagePreprocess.test.ts).

Writes small PNG test images into test/fixtures/images/ and, in reference.json next to them:

- `resize`: Pillow's `Image.resize` of each image (opened with Pillow and converted to RGB) to
  several sizes (down, up, one axis only, unchanged) with every filter code 0-5, as raw RGB bytes.
- `processors`: for several preprocessor_config.json contents, the pixel values that transformers'
  slow image processors (ViT, DeiT, BEiT, BiT: the PIL path of transformers 4.x, `backend="pil"`
  in 5.x) give, computed independently here along transformers' code path: Pillow for
  `convert("RGB")` and the resize (on uint8), numpy for `center_crop` (with its zero padding),
  `rescale` (float64 product, then float32) and `normalize` (float32), then channels first.
  The configs themselves are written into the JSON so that the test reads them.

Arrays are stored as base64 of zlib-compressed little-endian bytes (uint8 for resizes, float32
for pixel values). transformers is not installed here: its behaviour is written out below.
Run with Debian's interpreter (Pillow 9.4, numpy):
    /usr/bin/python3 tools/vision-fixtures/pil_reference.py
"""
import base64
import json
import math
import os
import zlib

import numpy as np
import PIL
from PIL import Image

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
FOLDER = os.path.join(ROOT, 'test', 'fixtures', 'images')

IMAGENET_STANDARD = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
IMAGENET_DEFAULT = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
OPENAI_CLIP = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])


def pack(array):
    data = np.ascontiguousarray(array)
    assert data.dtype in (np.uint8, np.float32)
    return base64.b64encode(zlib.compress(data.astype(data.dtype.newbyteorder('<')).tobytes(), 9)).decode('ascii')


# ---------------------------------------------------------------- test images

def smooth_noise(rng, height, width, channels):
    """Gradients, a hard-edged checkerboard corner and per-pixel noise, so that filters differ."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([
        255 * x / max(width - 1, 1),
        255 * y / max(height - 1, 1),
        127.5 + 127.5 * np.sin(x / 3.0 + y / 5.0),
    ], axis=-1)[..., :channels]
    checker = ((x // 4 + y // 4) % 2 == 0) & (x < width / 3) & (y < height / 2)
    base[checker] = 255 - base[checker]
    base += rng.normal(0, 28, size=base.shape)
    return np.clip(np.rint(base), 0, 255).astype(np.uint8)


def make_images(rng):
    images = {}
    images['landscape.png'] = Image.fromarray(smooth_noise(rng, 61, 97, 3), 'RGB')
    images['portrait.png'] = Image.fromarray(smooth_noise(rng, 100, 64, 3), 'RGB')
    gray = smooth_noise(rng, 30, 40, 3)[..., 0]
    images['gray.png'] = Image.fromarray(gray, 'L')
    rgba = smooth_noise(rng, 40, 50, 3)
    alpha = rng.integers(0, 256, size=(40, 50, 1), dtype=np.uint8)
    alpha[:10] = 0  # fully transparent rows: convert("RGB") must keep their colours, not composite
    images['rgba.png'] = Image.fromarray(np.concatenate([rgba, alpha], axis=-1), 'RGBA')
    palette_source = Image.fromarray(smooth_noise(rng, 35, 45, 3), 'RGB')
    palette = palette_source.quantize(colors=24, method=Image.Quantize.MEDIANCUT)
    palette.info['transparency'] = 3  # one palette entry transparent (tRNS), ignored by convert("RGB")
    images['palette.png'] = palette
    images['tiny.png'] = Image.fromarray(smooth_noise(rng, 3, 5, 3), 'RGB')
    return images


# Target (width, height) per image: downscale, upscale, one axis only, mixed, unchanged.
RESIZE_TARGETS = {
    'landscape.png': [(31, 19), (48, 61), (97, 29), (109, 67), (120, 33), (1, 1)],
    'portrait.png': [(24, 37), (70, 90)],
    'gray.png': [(17, 13), (57, 44), (40, 30)],
    'rgba.png': [(23, 31), (64, 40)],
    'palette.png': [(20, 15), (45, 50)],
    'tiny.png': [(16, 11), (7, 9), (2, 1), (5, 40), (5, 3)],
}


# ---------------------------------------------------- transformers' code path, written out

# Each processor's defaults, from its __init__ in transformers 4.x: whether an integer size is a
# square (get_size_dict's default_to_square), size, resample, whether it has a centre crop at all,
# do_center_crop, crop_size, and (image_mean, image_std).
PROCESSORS = {
    'ViTImageProcessor': dict(square=True, size={'height': 224, 'width': 224}, resample=2, crop=False,
                              do_center_crop=False, crop_size=None, norm=IMAGENET_STANDARD),
    'DeiTImageProcessor': dict(square=True, size={'height': 256, 'width': 256}, resample=3, crop=True,
                               do_center_crop=True, crop_size={'height': 224, 'width': 224}, norm=IMAGENET_STANDARD),
    'BeitImageProcessor': dict(square=True, size={'height': 256, 'width': 256}, resample=3, crop=True,
                               do_center_crop=True, crop_size={'height': 224, 'width': 224}, norm=IMAGENET_STANDARD),
    'BitImageProcessor': dict(square=False, size={'shortest_edge': 224}, resample=3, crop=True,
                              do_center_crop=True, crop_size={'height': 224, 'width': 224}, norm=OPENAI_CLIP),
}


def processor_of(config):
    name = config.get('image_processor_type') or config['feature_extractor_type']
    return PROCESSORS[name.replace('FeatureExtractor', 'ImageProcessor')]


def size_dict(size, square):
    """transformers.image_processing_utils.get_size_dict."""
    if isinstance(size, dict):
        return size
    if isinstance(size, int):
        return {'height': size, 'width': size} if square else {'shortest_edge': size}
    return {'height': size[0], 'width': size[1]}


def resize_output_size(height, width, size):
    """(height, width) after the resize: exact, or get_resize_output_image_size(default_to_square=False)."""
    if 'shortest_edge' in size:
        target = size['shortest_edge']
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = target, int(target * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)
    return size['height'], size['width']


def center_crop(image, crop_height, crop_width):
    """transformers.image_transforms.center_crop on an HWC array, zero padding when too small."""
    orig_height, orig_width = image.shape[:2]
    top = (orig_height - crop_height) // 2
    left = (orig_width - crop_width) // 2
    bottom, right = top + crop_height, left + crop_width
    if top >= 0 and bottom <= orig_height and left >= 0 and right <= orig_width:
        return image[top:bottom, left:right], top, left
    new_height, new_width = max(crop_height, orig_height), max(crop_width, orig_width)
    padded = np.zeros((new_height, new_width) + image.shape[2:], dtype=image.dtype)
    top_pad = math.ceil((new_height - orig_height) / 2)
    left_pad = math.ceil((new_width - orig_width) / 2)
    padded[top_pad:top_pad + orig_height, left_pad:left_pad + orig_width] = image
    top += top_pad
    bottom += top_pad
    left += left_pad
    right += left_pad
    out = padded[max(0, top):min(new_height, bottom), max(0, left):min(new_width, right)]
    # Where the output's first row and column lie in the resized image's coordinates.
    return out, max(0, top) - top_pad, max(0, left) - left_pad


def process(path, config):
    spec = processor_of(config)
    image = Image.open(path).convert('RGB')  # the pipeline's load_image; convert_to_rgb is then a no-op
    width, height = image.size
    assert height not in (1, 3), 'transformers would take a height of 1 or 3 for the channel axis'
    do_resize = config.get('do_resize', True)
    size = size_dict(config.get('size', spec['size']), spec['square'])
    resample = config.get('resample', spec['resample'])
    if do_resize:
        new_height, new_width = resize_output_size(height, width, size)
        image = image.resize((new_width, new_height), resample=resample, reducing_gap=None)
    resized = {'width': image.size[0], 'height': image.size[1]}
    array = np.array(image)  # uint8, HWC
    crop = {'left': 0, 'top': 0, 'width': resized['width'], 'height': resized['height']}
    if spec['crop'] and config.get('do_center_crop', spec['do_center_crop']):
        crop_size = size_dict(config.get('crop_size', spec['crop_size']), True)
        array, top, left = center_crop(array, crop_size['height'], crop_size['width'])
        crop = {'left': left, 'top': top, 'width': crop_size['width'], 'height': crop_size['height']}
    if config.get('do_rescale', True):
        array = (array.astype(np.float64) * config.get('rescale_factor', 1 / 255)).astype(np.float32)
    if config.get('do_normalize', True):
        if not np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        mean = config.get('image_mean', spec['norm'][0])
        std = config.get('image_std', spec['norm'][1])
        mean = np.array(mean if isinstance(mean, list) else [mean] * 3, dtype=array.dtype)
        std = np.array(std if isinstance(std, list) else [std] * 3, dtype=array.dtype)
        array = (array - mean) / std
    array = np.transpose(array, (2, 0, 1)).astype(np.float32)
    return array, {'resized': resized, 'crop': crop}


PROCESSOR_CASES = [
    # (name, image, config)
    ('vit int size, bilinear by default', 'landscape.png',
     {'feature_extractor_type': 'ViTFeatureExtractor', 'do_normalize': True, 'do_resize': True,
      'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5], 'size': 32}),
    ('vit height/width, defaults for the rest', 'portrait.png',
     {'image_processor_type': 'ViTImageProcessor', 'size': {'height': 40, 'width': 24}}),
    ('vit rgba, lanczos', 'rgba.png',
     {'image_processor_type': 'ViTImageProcessor', 'size': {'height': 24, 'width': 36}, 'resample': 1,
      'do_convert_rgb': True}),
    ('vit no resize, palette', 'palette.png',
     {'image_processor_type': 'ViTImageProcessor', 'do_resize': False}),
    ('vit upscale, nearest', 'gray.png',
     {'image_processor_type': 'ViTImageProcessor', 'size': {'height': 44, 'width': 52}, 'resample': 0}),
    ('deit int size and crop, bicubic by default, ImageNet mean/std', 'landscape.png',
     {'feature_extractor_type': 'DeiTFeatureExtractor', 'size': 36, 'crop_size': 28, 'do_center_crop': True,
      'image_mean': IMAGENET_DEFAULT[0], 'image_std': IMAGENET_DEFAULT[1]}),
    ('deit crop larger than the image in height: zero padding', 'rgba.png',
     {'image_processor_type': 'DeiTImageProcessor', 'size': {'height': 20, 'width': 30},
      'crop_size': {'height': 25, 'width': 27}}),
    ('deit crop larger than the image both ways, odd padding', 'gray.png',
     {'image_processor_type': 'DeiTImageProcessor', 'size': {'height': 21, 'width': 18},
      'crop_size': {'height': 24, 'width': 25}, 'resample': 2}),
    ('deit no normalisation', 'portrait.png',
     {'image_processor_type': 'DeiTImageProcessor', 'size': {'height': 30, 'width': 30},
      'crop_size': {'height': 24, 'width': 24}, 'do_normalize': False}),
    ('beit, no centre crop, bilinear', 'gray.png',
     {'feature_extractor_type': 'BeitFeatureExtractor', 'size': 30, 'crop_size': 24, 'do_center_crop': False,
      'resample': 2, 'reduce_labels': False, 'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5]}),
    ('beit bicubic by default, odd crop', 'landscape.png',
     {'image_processor_type': 'BeitImageProcessor', 'size': {'height': 34, 'width': 40},
      'crop_size': {'height': 30, 'width': 31}}),
    ('beit hamming, custom rescale and scalar mean/std', 'palette.png',
     {'image_processor_type': 'BeitImageProcessor', 'size': {'height': 26, 'width': 26}, 'resample': 5,
      'do_center_crop': False, 'rescale_factor': 0.0078125, 'image_mean': 0.45, 'image_std': 0.3}),
    ('bit shortest edge (landscape), crop, CLIP mean/std by default', 'landscape.png',
     {'image_processor_type': 'BitImageProcessor', 'size': {'shortest_edge': 40},
      'crop_size': {'height': 32, 'width': 32}, 'do_convert_rgb': True}),
    ('bit shortest edge (portrait), int crop, box filter', 'portrait.png',
     {'image_processor_type': 'BitImageProcessor', 'size': {'shortest_edge': 40}, 'crop_size': 30,
      'resample': 4, 'image_mean': IMAGENET_DEFAULT[0], 'image_std': IMAGENET_DEFAULT[1]}),
    ('bit int size is the shortest edge', 'rgba.png',
     {'image_processor_type': 'BitImageProcessor', 'size': 28, 'crop_size': {'height': 28, 'width': 20}}),
    ('no rescale, custom mean/std on 0-255', 'gray.png',
     {'image_processor_type': 'ViTImageProcessor', 'size': {'height': 20, 'width': 28}, 'do_rescale': False,
      'image_mean': [120.5, 99.25, 130.0], 'image_std': [60.0, 70.5, 55.125]}),
    ('no rescale, no normalisation: raw bytes', 'landscape.png',
     {'image_processor_type': 'DeiTImageProcessor', 'size': {'height': 30, 'width': 44},
      'crop_size': {'height': 26, 'width': 40}, 'do_rescale': False, 'do_normalize': False}),
]


def main():
    os.makedirs(FOLDER, exist_ok=True)
    rng = np.random.default_rng(20240607)
    images = make_images(rng)
    for name, image in images.items():
        image.save(os.path.join(FOLDER, name), optimize=True)

    resize_cases = []
    for name, targets in RESIZE_TARGETS.items():
        rgb = Image.open(os.path.join(FOLDER, name)).convert('RGB')
        for width, height in targets:
            for filter_code in range(6):
                out = rgb.resize((width, height), resample=filter_code)
                resize_cases.append({'image': name, 'width': width, 'height': height, 'filter': filter_code,
                                     'rgb': pack(np.array(out, dtype=np.uint8))})

    processor_cases = []
    for title, name, config in PROCESSOR_CASES:
        values, geometry = process(os.path.join(FOLDER, name), config)
        processor_cases.append({'name': title, 'image': name, 'config': config,
                                'shape': list(values.shape), 'geometry': geometry, 'pixelValues': pack(values)})

    reference = {
        'pillow': PIL.__version__,
        'numpy': np.__version__,
        'encoding': 'base64 of zlib-compressed little-endian arrays: resize.rgb uint8 HWC, '
                    'processors.pixelValues float32 CHW',
        'resize': resize_cases,
        'processors': processor_cases,
    }
    with open(os.path.join(FOLDER, 'reference.json'), 'w') as f:
        json.dump(reference, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
