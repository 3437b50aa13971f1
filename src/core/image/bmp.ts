/**
 * A BMP decoder that reads what Pillow's BmpImagePlugin reads, as it reads it: the core (OS/2 1.x)
 * and info headers (40 bytes, V4, V5); 1, 4 and 8 bits with a palette (uncompressed, RLE8, RLE4);
 * 16 and 32 bits as bit fields (Pillow's scaling: each field's value × 255 / its largest value,
 * rounded down), 16 bits uncompressed as 5-5-5, 24 bits, 32 bits uncompressed as BGRX; bottom-up
 * and top-down rows. Pixels an RLE stream leaves unwritten are index 0, as in Pillow. Delta escapes
 * and odd RLE4 absolute runs follow the format's definition, which Pillow 9.4 misreads (it reads
 * four bytes after a delta, and drops an odd absolute run's last pixel).
 *
 * Written here rather than taken from npm: bmp-ts swaps a palette's channels and loses 1-bit
 * pixels, decode-bmp reads no compression or top-down rows (both measured against Pillow on the
 * fixtures of tools/vision-fixtures/formats_reference.py). Pure: bytes in, RGBA out.
 */
import type { DecodedImage } from './preprocess';

/** Compression codes. */
const RGB = 0, RLE8 = 1, RLE4 = 2, BITFIELDS = 3, ALPHABITFIELDS = 6;

/** A BMP's size from its header, before decoding (a top-down image's height is negative there). */
export function bmpSize(b: Uint8Array): { width: number; height: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const core = v.getUint32(14, true) === 12;
  return core ? { width: v.getUint16(18, true), height: v.getUint16(20, true) } : { width: Math.abs(v.getInt32(18, true)), height: Math.abs(v.getInt32(22, true)) };
}

/** Decodes a BMP file's bytes; throws saying what is wrong or not supported. */
export function decodeBmp(b: Uint8Array): DecodedImage {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u32 = (at: number) => v.getUint32(at, true);
  const offset = u32(10);
  const headerSize = u32(14);
  const core = headerSize === 12;
  const width = core ? v.getUint16(18, true) : v.getInt32(18, true);
  const rawHeight = core ? v.getUint16(20, true) : v.getInt32(22, true);
  const bits = v.getUint16(core ? 24 : 28, true);
  const compression = core ? RGB : u32(30);
  const height = Math.abs(rawHeight);
  const topDown = rawHeight < 0;
  if (width <= 0 || height === 0) throw new Error(`its header gives a ${width} × ${rawHeight} image`);
  const rgba = new Uint8Array(width * height * 4);
  const put = (x: number, row: number, r: number, g: number, bl: number, a = 255) => {
    const y = topDown ? row : height - 1 - row;
    const i = 4 * (y * width + x);
    rgba[i] = r; rgba[i + 1] = g; rgba[i + 2] = bl; rgba[i + 3] = a;
  };

  if (bits <= 8) {
    const entry = core ? 3 : 4;
    const colors = (!core && u32(46)) || 1 << bits;
    const at = 14 + headerSize;
    if (at + colors * entry > b.length) throw new Error('its palette is cut short');
    const palette = (i: number) => (i < colors ? [b[at + i * entry + 2], b[at + i * entry + 1], b[at + i * entry]] : [0, 0, 0]);
    const indices = compression === RLE8 || compression === RLE4 ? rle(b, offset, width, height, compression === RLE4) : unpacked(b, offset, width, height, bits);
    for (let row = 0; row < height; row++) {
      for (let x = 0; x < width; x++) {
        const [r, g, bl] = palette(indices[row * width + x]);
        put(x, row, r, g, bl);
      }
    }
    return { width, height, rgba };
  }

  if (compression !== RGB && compression !== BITFIELDS && compression !== ALPHABITFIELDS) throw new Error(`its compression (${compression}) is not supported: PNG or JPEG would do`);
  if (bits !== 16 && bits !== 24 && bits !== 32) throw new Error(`${bits} bits per pixel is not a BMP depth`);
  // Bit fields: in the V4/V5 header, else after the 40-byte one; uncompressed 16 bits are 5-5-5, 32 bits BGRX.
  const masks = compression === RGB
    ? bits === 16 ? [0x7c00, 0x3e0, 0x1f, 0] : [0xff0000, 0xff00, 0xff, 0]
    : [0, 1, 2, 3].map((k) => (k < 3 || compression === ALPHABITFIELDS || headerSize >= 56 ? u32(54 + 4 * k) : 0));
  const fields = masks.map((m) => ({ m, shift: m ? Math.log2(m & -m) : 0, max: m ? m / (m & -m) : 0 }));
  const stride = Math.ceil((width * bits) / 32) * 4;
  const bytes = bits / 8;
  if (offset + stride * height > b.length) throw new Error('its image data is cut short');
  for (let row = 0; row < height; row++) {
    for (let x = 0; x < width; x++) {
      const at = offset + row * stride + x * bytes;
      const px = bits === 16 ? v.getUint16(at, true) : bits === 24 ? b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) : u32(at);
      if (bits === 24) put(x, row, b[at + 2], b[at + 1], b[at]);
      else {
        const [r, g, bl, a] = fields.map((f) => (f.m ? Math.floor((((px & f.m) >>> 0) / 2 ** f.shift) * 255 / f.max) : 255));
        put(x, row, r, g, bl, a);
      }
    }
  }
  return { width, height, rgba };
}

/** Palette indices of uncompressed 1-, 4- and 8-bit rows (bottom-up as stored), each row padded to 4 bytes. */
function unpacked(b: Uint8Array, offset: number, width: number, height: number, bits: number): Uint8Array {
  const stride = Math.ceil((width * bits) / 32) * 4;
  if (offset + stride * height > b.length) throw new Error('its image data is cut short');
  const out = new Uint8Array(width * height);
  const perByte = 8 / bits;
  for (let row = 0; row < height; row++) {
    for (let x = 0; x < width; x++) {
      const byte = b[offset + row * stride + Math.floor(x / perByte)];
      out[row * width + x] = (byte >> (8 - bits * (1 + (x % perByte)))) & ((1 << bits) - 1);
    }
  }
  return out;
}

/** Palette indices of an RLE8 or RLE4 stream (runs, absolute runs, end of line, end of bitmap, deltas). */
function rle(b: Uint8Array, offset: number, width: number, height: number, four: boolean): Uint8Array {
  const out = new Uint8Array(width * height);
  let x = 0, row = 0, i = offset;
  const write = (index: number) => {
    if (x < width && row < height) out[row * width + x] = index;
    x++;
  };
  while (row < height) {
    if (i + 1 >= b.length) throw new Error('its RLE data is cut short');
    const n = b[i], c = b[i + 1];
    i += 2;
    if (n > 0) {
      for (let k = 0; k < n; k++) write(four ? (k % 2 ? c & 15 : c >> 4) : c);
    } else if (c === 0) {
      x = 0;
      row++;
    } else if (c === 1) {
      break;
    } else if (c === 2) {
      x += b[i];
      row += b[i + 1];
      i += 2;
    } else {
      const bytes = four ? Math.ceil(c / 2) : c;
      if (i + bytes > b.length) throw new Error('its RLE data is cut short');
      for (let k = 0; k < c; k++) write(four ? (k % 2 ? b[i + (k >> 1)] & 15 : b[i + (k >> 1)] >> 4) : b[i + k]);
      i += bytes + (bytes % 2);
    }
  }
  return out;
}
