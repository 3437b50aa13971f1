/**
 * Image files read in Node (the CLI and the extension host): PNG (pngjs), JPEG (MozJPEG compiled
 * to WebAssembly, @jsquash/jpeg: libjpeg-turbo's decoder, so the pixels equal Pillow's, chroma
 * upsampling included; jpeg-js was measured 22/255 apart on a 4:2:0 JPEG), WebP (libwebp compiled
 * to WebAssembly, @jsquash/webp: the library Pillow decodes WebP with), BMP (src/core/image/bmp.ts,
 * as Pillow reads it) and GIF (omggif, the first frame), decoded at their natural size into
 * unpremultiplied RGBA, refused past a size limit before decoding. SVG and other formats are named
 * as not supported. No vscode.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import decodeJpeg, { init as initJpeg } from '@jsquash/jpeg/decode.js';
import decodeWebp, { init as initWebp } from '@jsquash/webp/decode.js';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
import { bmpSize, decodeBmp } from '../core/image/bmp';
import type { DecodedImage } from '../core/image/preprocess';

/** The most pixels decoded (about 200 MB of RGBA): a 20,000 × 20,000 image is refused, not decoded. */
export const MAX_IMAGE_PIXELS = 50_000_000;

/** An image read, and anything worth saying about it (an animated GIF's other frames). */
export interface ReadImage {
  image: DecodedImage;
  notices: string[];
}

/** Reads and decodes `file`; throws with a message naming the file and what is wrong. */
export async function readImageFile(file: string): Promise<ReadImage> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file} could not be read (${(e as Error).message.split('\n')[0]})`);
  }
  return decodeImage(bytes, path.basename(file));
}

/** The image type of `bytes` by its signature, as a MIME type; undefined for what is not read here. */
export function imageMime(bytes: Uint8Array): string | undefined {
  const kind = sniff(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return kind && `image/${kind}`;
}

/** Decodes the bytes of image file `name`; throws naming it and what is wrong. */
export async function decodeImage(bytes: Buffer, name: string): Promise<ReadImage> {
  const kind = sniff(bytes);
  if (!kind) throw new Error(`${name} is not an image Attention Lens can read: PNG, JPEG, WebP, BMP and GIF are (SVG is not supported: export it to PNG).`);
  try {
    if (kind === 'png') return { image: png(bytes, name), notices: [] };
    if (kind === 'jpeg') return { image: await jpg(bytes, name), notices: [] };
    if (kind === 'webp') return await webp(bytes, name);
    if (kind === 'bmp') return { image: bmp(bytes, name), notices: [] };
    return gif(bytes, name);
  } catch (e) {
    const message = (e as Error).message;
    if (/too large|pixels/.test(message)) throw e;
    throw new Error(`${name} is a corrupt or truncated ${kind.toUpperCase()} (${message.split('\n')[0]}).`);
  }
}

function sniff(b: Buffer): 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | undefined {
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 6 && /^GIF8[79]a$/.test(b.toString('latin1', 0, 6))) return 'gif';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  // BITMAPFILEHEADER, then a BITMAPCOREHEADER (12 bytes) or BITMAPINFOHEADER and its successors (40 to 124).
  if (b.length >= 26 && b.toString('latin1', 0, 2) === 'BM' && [12, 40, 52, 56, 64, 108, 124].includes(b.readUInt32LE(14))) return 'bmp';
  return undefined;
}

function checkSize(name: string, width: number, height: number): void {
  if (width * height > MAX_IMAGE_PIXELS) throw new Error(`${name} is ${width} × ${height} pixels, too large: images up to ${MAX_IMAGE_PIXELS / 1e6} million pixels are read. Scale it down first.`);
}

function png(bytes: Buffer, name: string): DecodedImage {
  // IHDR's width and height, read before decoding.
  if (bytes.length >= 24) checkSize(name, bytes.readUInt32BE(16), bytes.readUInt32BE(20));
  const p = PNG.sync.read(bytes);
  return { width: p.width, height: p.height, rgba: new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength) };
}

async function jpg(bytes: Buffer, name: string): Promise<DecodedImage> {
  const size = jpegSize(bytes);
  if (size) checkSize(name, size.width, size.height);
  await (jpegReady ??= initJpeg(await WebAssembly.compile(fs.readFileSync(mozjpegWasm()))));
  const j = await decodeJpeg(new Uint8Array(bytes).buffer);
  return { width: j.width, height: j.height, rgba: new Uint8Array(j.data.buffer, j.data.byteOffset, j.data.byteLength) };
}

let jpegReady: Promise<void> | undefined;
let webpReady: Promise<void> | undefined;

/**
 * A decoder's WebAssembly: beside the bundle (the build copies it into dist/: the extension
 * host's folder, or the CLI script's), else in node_modules (tests run the sources).
 */
function codecWasm(file: string, module: string): string {
  const folders = [typeof __dirname === 'string' ? __dirname : undefined, process.argv[1] && path.dirname(process.argv[1])];
  for (const folder of folders) if (folder && fs.existsSync(path.join(folder, file))) return path.join(folder, file);
  return createRequire(path.join(process.cwd(), 'index.js')).resolve(`${module}/codec/dec/${file}`);
}
const mozjpegWasm = () => codecWasm('mozjpeg_dec.wasm', '@jsquash/jpeg');

/** A WebP's size from its VP8 (lossy), VP8L (lossless) or VP8X (extended) header, read before decoding. */
function webpSize(b: Buffer): { width: number; height: number } | undefined {
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8X' && b.length >= 30) return { width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3) };
  if (chunk === 'VP8 ' && b.length >= 30) return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  if (chunk === 'VP8L' && b.length >= 25) {
    const bits = b.readUInt32LE(21);
    return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
  }
  return undefined;
}

async function webp(bytes: Buffer, name: string): Promise<ReadImage> {
  const size = webpSize(bytes);
  if (size) checkSize(name, size.width, size.height);
  await (webpReady ??= initWebp(await WebAssembly.compile(fs.readFileSync(codecWasm('webp_dec.wasm', '@jsquash/webp')))));
  const w = await decodeWebp(new Uint8Array(bytes).buffer);
  // An animated WebP (ANIM chunk) decodes to its first frame.
  const animated = bytes.indexOf('ANIM', 12, 'latin1') >= 0;
  return { image: { width: w.width, height: w.height, rgba: new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength) }, notices: animated ? [`${name} is an animated WebP: its first frame is used.`] : [] };
}

function bmp(bytes: Buffer, name: string): DecodedImage {
  const { width, height } = bmpSize(bytes);
  checkSize(name, width, height);
  return decodeBmp(bytes);
}

/** A JPEG's size from its start-of-frame marker, read before decoding; undefined if none is found. */
function jpegSize(b: Buffer): { width: number; height: number } | undefined {
  let i = 2;
  while (i + 9 < b.length && b[i] === 0xff) {
    const marker = b[i + 1];
    const length = b.readUInt16BE(i + 2);
    // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    i += 2 + length;
  }
  return undefined;
}

function gif(bytes: Buffer, name: string): ReadImage {
  const g = new GifReader(new Uint8Array(bytes));
  checkSize(name, g.width, g.height);
  const rgba = new Uint8Array(g.width * g.height * 4);
  g.decodeAndBlitFrameRGBA(0, rgba);
  const frames = g.numFrames();
  return { image: { width: g.width, height: g.height, rgba }, notices: frames > 1 ? [`${name} is animated (${frames} frames): its first frame is used.`] : [] };
}
