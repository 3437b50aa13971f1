/**
 * What an image model's run needs from an image file: its pixel values as the model's processor
 * makes them (`preprocessor_config.json`), how they relate to the original image (for the patch
 * boxes), and a digest of the tensor. Shared by the CLI and the extension host. No vscode.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ImageGeometry, type ImageToken, imageTokens } from '../core/image/patches';
import { parseProcessorConfig, preprocess } from '../core/image/preprocess';
import { type ReadImage, decodeImage, readImageFile } from './imageFile';
import { type ModelInfo, ModelFolderError } from './modelFolder';

/** An image ready for a run. */
export interface ImageInput {
  pixelValues: { data: Float32Array; dims: [number, number, number, number] };
  geometry: ImageGeometry;
  /** The tokens the model makes of it: its special tokens (the class token…), then a patch per cell of the crop, with its box. */
  tokens: ImageToken[];
  /** SHA-256 of the float32 tensor's little-endian bytes, hex. */
  sha256: string;
  notices: string[];
}

/** The model's processor settings, read and checked; throws naming the file and the problem. */
export function processorOf(info: ModelInfo) {
  if (!info.vision) throw new ModelFolderError(`${path.basename(info.folder)} is a text model (${info.modelType}): it takes text, not an image. Choose an image model (ViT, DeiT, BEiT, DINOv2) for images.`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(info.vision.preprocessor, 'utf8'));
  } catch (e) {
    throw new ModelFolderError(`${info.vision.preprocessor} could not be read as JSON (${(e as Error).message.split('\n')[0]}).`);
  }
  try {
    return parseProcessorConfig(json);
  } catch (e) {
    throw new ModelFolderError(`${path.basename(info.folder)}/preprocessor_config.json: ${(e as Error).message}`);
  }
}

/** Reads `file` and processes it for `info`'s model. */
export function imageInput(info: ModelInfo, file: string): Promise<ImageInput> {
  return processed(info, () => readImageFile(file));
}

/** Processes image file `name`'s bytes for `info`'s model. */
export function imageInputOf(info: ModelInfo, bytes: Uint8Array, name: string): Promise<ImageInput> {
  return processed(info, () => decodeImage(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), name));
}

async function processed(info: ModelInfo, read: () => Promise<ReadImage>): Promise<ImageInput> {
  const config = processorOf(info);
  const { image, notices } = await read();
  const p = preprocess(image, config);
  const bytes = new Uint8Array(p.pixelValues.buffer, p.pixelValues.byteOffset, p.pixelValues.byteLength);
  const { patchSize, specialTokens } = info.vision!;
  const patches = Math.floor(p.geometry.crop.width / patchSize) * Math.floor(p.geometry.crop.height / patchSize);
  return {
    pixelValues: { data: p.pixelValues, dims: [1, p.channels, p.height, p.width] },
    geometry: p.geometry,
    tokens: imageTokens(p.geometry, patchSize, specialTokens + patches),
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    notices,
  };
}
