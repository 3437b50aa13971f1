// WebP and BMP files (tools/vision-fixtures/formats_reference.py): each decodes to the pixels Pillow
// reads from it, converted to RGB as image processors do, byte for byte: lossy, lossless and
// alpha WebP (libwebp, as Pillow), and BMP at 24 and 32 bits, with an 8-bit palette, RLE8 and 1 bit.
// Broken and oversized files are named, not decoded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MAX_IMAGE_PIXELS, decodeImage, imageMime } from '../../src/models/imageFile';

const FOLDER = path.resolve(__dirname, '../fixtures/images/formats');
const reference = JSON.parse(fs.readFileSync(path.join(FOLDER, 'reference.json'), 'utf8')) as Record<string, { width: number; height: number; rgb: string }>;

describe('WebP and BMP images', () => {
  it.each(Object.keys(reference))('%s decodes to Pillow’s pixels', async (name) => {
    const bytes = fs.readFileSync(path.join(FOLDER, name));
    expect(imageMime(bytes)).toBe(name.endsWith('.webp') ? 'image/webp' : 'image/bmp');
    const { image } = await decodeImage(bytes, name);
    const ref = reference[name];
    expect([image.width, image.height]).toEqual([ref.width, ref.height]);
    const rgb = new Uint8Array(image.width * image.height * 3);
    for (let i = 0; i < image.width * image.height; i++) rgb.set(image.rgba.subarray(4 * i, 4 * i + 3), 3 * i);
    const expected = new Uint8Array(zlib.inflateSync(Buffer.from(ref.rgb, 'base64')));
    let differ = 0;
    for (let i = 0; i < rgb.length; i++) if (rgb[i] !== expected[i]) differ++;
    expect(differ).toBe(0);
  });

  it('names a truncated file and refuses a huge one before decoding it', async () => {
    const webp = fs.readFileSync(path.join(FOLDER, 'lossy.webp'));
    await expect(decodeImage(webp.subarray(0, 60), 'cut.webp')).rejects.toThrow(/^cut\.webp is a corrupt or truncated WEBP/);
    const bmp = fs.readFileSync(path.join(FOLDER, 'rgb24.bmp'));
    await expect(decodeImage(bmp.subarray(0, 100), 'cut.bmp')).rejects.toThrow(/^cut\.bmp is a corrupt or truncated BMP/);
    // A 20,000 × 20,000 header: refused by its size, nothing allocated for it.
    const huge = Buffer.from(bmp);
    huge.writeInt32LE(20_000, 18);
    huge.writeInt32LE(20_000, 22);
    await expect(decodeImage(huge, 'huge.bmp')).rejects.toThrow(`huge.bmp is 20000 × 20000 pixels, too large: images up to ${MAX_IMAGE_PIXELS / 1e6} million pixels are read`);
    const vp8 = Buffer.from(webp);
    expect(vp8.toString('latin1', 12, 16)).toBe('VP8 ');
    vp8.writeUInt16LE(16_000, 26);
    vp8.writeUInt16LE(16_000, 28);
    await expect(decodeImage(vp8, 'huge.webp')).rejects.toThrow(/huge\.webp is 16000 × 16000 pixels, too large/);
    await expect(decodeImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'logo.svg')).rejects.toThrow('logo.svg is not an image Attention Lens can read: PNG, JPEG, WebP, BMP and GIF are (SVG is not supported: export it to PNG).');
  });
});
