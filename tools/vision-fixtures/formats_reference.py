"""WebP and BMP test images and Pillow's pixels for them (test/unit/imageFormats.test.ts).

Writes into test/fixtures/images/formats/ one source picture (gradients, hard edges and noise) saved
as lossy WebP, lossless WebP, lossy WebP with alpha, and BMP at 24 bits, 32 bits, 8 bits with a
palette, 8 and 4 bits RLE-compressed, 1 bit, 16 bits as 5-6-5 bit fields and 24 bits top-down; and, in reference.json, what Pillow reads from each file,
converted to RGB as image processors do (`Image.open(f).convert("RGB")`), as base64 of
zlib-compressed RGB bytes. The RLE, 16-bit and top-down files are written here byte by byte (Pillow
writes none of them).
Run with Debian's interpreter (Pillow 9.4 with libwebp 1.2.4):
    /usr/bin/python3 tools/vision-fixtures/formats_reference.py
"""
import base64
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
FOLDER = os.path.join(ROOT, 'test', 'fixtures', 'images', 'formats')
WIDTH, HEIGHT = 37, 23


def picture():
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    rgb = np.stack([255 * x / (WIDTH - 1), 255 * y / (HEIGHT - 1), 128 + 100 * np.sin(x / 3 + y / 5)], -1)
    rgb[(x > 25) & (y < 8)] = [250, 20, 30]
    rgb = np.clip(rgb + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)
    alpha = np.clip(255 * (x + y) / (WIDTH + HEIGHT - 2), 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, 'RGB'), Image.fromarray(np.dstack([rgb, alpha]), 'RGBA')


def bmp_file(path, bits, compression, height, pixels, colors=b'', masks=b''):
    """A BMP with a 40-byte info header: `height` negative for top-down rows."""
    offset = 14 + 40 + len(masks) + len(colors)
    header = b'BM' + struct.pack('<IHHI', offset + len(pixels), 0, 0, offset)
    info = struct.pack('<IiiHHIIiiII', 40, WIDTH, height, 1, bits, compression, len(pixels), 2835, 2835, len(colors) // 4, 0)
    with open(path, 'wb') as f:
        f.write(header + info + masks + colors + pixels)


def rle(image, path, four):
    """An 8-bit (BI_RLE8) or 4-bit (BI_RLE4) BMP: runs of equal indices, absolute runs for the rest.
    No delta escapes and no odd RLE4 absolute runs: Pillow 9.4 misreads both (it reads four bytes
    after a delta, and drops the last pixel of an odd absolute run), where the decoder follows the
    format's definition."""
    pal = image.convert('P', palette=Image.ADAPTIVE, colors=16)
    idx = np.asarray(pal)
    palette = pal.getpalette()[:16 * 3]
    pack = (lambda ks: bytes((ks[k] << 4) | (ks[k + 1] if k + 1 < len(ks) else 0) for k in range(0, len(ks), 2))) if four else bytes
    data = b''
    for r in range(HEIGHT - 1, -1, -1):  # bottom-up
        row, i = [int(v) for v in idx[r]], 0
        while i < WIDTH:
            j = i
            while j < WIDTH and j - i < 255 and row[j] == row[i]:
                j += 1
            if j - i >= 3 or WIDTH - i < 3:
                data += bytes([j - i, (row[i] << 4) | row[i] if four else row[i]])
                i = j
            else:
                n = min(254, WIDTH - i)
                if four and n % 2:
                    n -= 1
                if n < 3:
                    data += bytes([1, (row[i] << 4) if four else row[i]])
                    i += 1
                    continue
                lit = pack(row[i:i + n])
                data += bytes([0, n]) + lit + (b'\0' if len(lit) % 2 else b'')
                i += n
        data += b'\0\0'  # end of line
    data += b'\0\1'  # end of bitmap
    colors = b''.join(bytes([palette[3 * k + 2], palette[3 * k + 1], palette[3 * k], 0]) for k in range(16))
    bmp_file(path, 4 if four else 8, 2 if four else 1, HEIGHT, data, colors)


def rgb565(image, path):
    """A 16-bit BMP with BI_BITFIELDS masks 0xF800, 0x07E0, 0x001F."""
    a = np.asarray(image).astype(np.uint32)
    px = ((a[..., 0] >> 3) << 11) | ((a[..., 1] >> 2) << 5) | (a[..., 2] >> 3)
    stride = (WIDTH * 2 + 3) // 4 * 4
    data = b''.join(struct.pack(f'<{WIDTH}H', *px[r]).ljust(stride, b'\0') for r in range(HEIGHT - 1, -1, -1))
    bmp_file(path, 16, 3, HEIGHT, data, masks=struct.pack('<III', 0xF800, 0x07E0, 0x001F))


def top_down(image, path):
    """A 24-bit BMP whose rows run top to bottom (negative height)."""
    a = np.asarray(image)[..., ::-1]
    stride = (WIDTH * 3 + 3) // 4 * 4
    bmp_file(path, 24, 0, -HEIGHT, b''.join(a[r].tobytes().ljust(stride, b'\0') for r in range(HEIGHT)))


def main():
    os.makedirs(FOLDER, exist_ok=True)
    rgb, rgba = picture()
    files = {
        'lossy.webp': lambda p: rgb.save(p, 'WEBP', quality=70),
        'lossless.webp': lambda p: rgb.save(p, 'WEBP', lossless=True),
        'alpha.webp': lambda p: rgba.save(p, 'WEBP', quality=80),
        'rgb24.bmp': lambda p: rgb.save(p, 'BMP'),
        'rgba32.bmp': lambda p: rgba.save(p, 'BMP'),
        'palette8.bmp': lambda p: rgb.convert('P', palette=Image.ADAPTIVE, colors=64).save(p, 'BMP'),
        'rle8.bmp': lambda p: rle(rgb, p, False),
        'rle4.bmp': lambda p: rle(rgb, p, True),
        'mono1.bmp': lambda p: rgb.convert('1').save(p, 'BMP'),
        'rgb565.bmp': lambda p: rgb565(rgb, p),
        'topdown.bmp': lambda p: top_down(rgb, p),
    }
    reference = {}
    for name, write in files.items():
        path = os.path.join(FOLDER, name)
        write(path)
        with Image.open(path) as im:
            pixels = np.asarray(im.convert('RGB'), dtype=np.uint8)
            reference[name] = {'mode': im.mode, 'width': im.width, 'height': im.height,
                               'rgb': base64.b64encode(zlib.compress(pixels.tobytes(), 9)).decode('ascii')}
        print(name, reference[name]['mode'])
    with open(os.path.join(FOLDER, 'reference.json'), 'w') as f:
        json.dump(reference, f, indent=1)


if __name__ == '__main__':
    main()
