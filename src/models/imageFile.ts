/**
 * Image files read in Node (the CLI and the extension host): PNG (pngjs), JPEG (MozJPEG compiled
 * to WebAssembly, @jsquash/jpeg: libjpeg-turbo's decoder, so the pixels equal Pillow's, chroma
 * upsampling included; jpeg-js was measured 22/255 apart on a 4:2:0 JPEG) and GIF (omggif, the
 * first frame), decoded at their natural size into unpremultiplied RGBA, refused past a size limit
 * before decoding. Other formats (WebP, BMP, SVG) are named as not supported here. No vscode.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import decodeJpeg, { init as initJpeg } from '@jsquash/jpeg/decode.js';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
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
  if (!kind) throw new Error(`${name} is not an image Attention Lens can read here: PNG, JPEG and GIF are (WebP, BMP and others open in the editor's panel; SVG is not supported).`);
  try {
    if (kind === 'png') return { image: png(bytes, name), notices: [] };
    if (kind === 'jpeg') return { image: await jpg(bytes, name), notices: [] };
    return gif(bytes, name);
  } catch (e) {
    const message = (e as Error).message;
    if (/too large|pixels/.test(message)) throw e;
    throw new Error(`${name} is a corrupt or truncated ${kind.toUpperCase()} (${message.split('\n')[0]}).`);
  }
}

function sniff(b: Buffer): 'png' | 'jpeg' | 'gif' | undefined {
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 6 && /^GIF8[79]a$/.test(b.toString('latin1', 0, 6))) return 'gif';
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

/**
 * The decoder's WebAssembly: beside the bundle (the build copies it into dist/: the extension
 * host's folder, or the CLI script's), else in node_modules (tests run the sources).
 */
function mozjpegWasm(): string {
  const folders = [typeof __dirname === 'string' ? __dirname : undefined, process.argv[1] && path.dirname(process.argv[1])];
  for (const folder of folders) if (folder && fs.existsSync(path.join(folder, 'mozjpeg_dec.wasm'))) return path.join(folder, 'mozjpeg_dec.wasm');
  return createRequire(path.join(process.cwd(), 'index.js')).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
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
