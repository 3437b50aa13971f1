/**
 * An image model's tokens: the special tokens it puts first (a class token; DeiT's distillation
 * token; DINOv2's registers), then one per patch, row by row, each with its box in the original
 * image's pixels (the patch's square in the processed image, through the crop and the resize).
 * Pure.
 */
import type { TokenInfo } from '../tokens';

/** Where a token's patch lies: grid row and column, its side in the model's input pixels, and its box in the original image (pixels, fractional). */
export interface PatchBox {
  row: number;
  col: number;
  size: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A token of an image: special (no patch) or a patch. */
export type ImageToken = TokenInfo & { patch?: PatchBox };

/** How the processed image relates to the original: the resized size and the crop taken from it. */
export interface ImageGeometry {
  original: { width: number; height: number };
  resized: { width: number; height: number };
  crop: { left: number; top: number; width: number; height: number };
}

/**
 * The `total` tokens of an image processed as `geometry` says, patches of `patchSize` pixels of
 * the processed image: `total − patches` special tokens first ("[CLS]", then "[DIST]" or
 * "[REG n]"), then the patches. Throws when `total` is fewer than the patches.
 */
export function imageTokens(geometry: ImageGeometry, patchSize: number, total: number): ImageToken[] {
  const rows = Math.floor(geometry.crop.height / patchSize);
  const cols = Math.floor(geometry.crop.width / patchSize);
  const extra = total - rows * cols;
  if (extra < 0) throw new Error(`the model returned ${total} tokens for a ${cols} × ${rows} grid of ${patchSize}-pixel patches: its patch size is not ${patchSize}`);
  const sx = geometry.resized.width / geometry.original.width;
  const sy = geometry.resized.height / geometry.original.height;
  const special = (i: number): ImageToken => ({ id: -1, text: i === 0 ? '[CLS]' : extra === 2 ? '[DIST]' : `[REG ${i}]`, start: 0, end: 0, special: true });
  const patch = (i: number): ImageToken => {
    const row = Math.floor(i / cols);
    const col = i % cols;
    const x = (geometry.crop.left + col * patchSize) / sx;
    const y = (geometry.crop.top + row * patchSize) / sy;
    return { id: -1, text: `patch ${row},${col}`, start: 0, end: 0, special: false, patch: { row, col, size: patchSize, x, y, width: patchSize / sx, height: patchSize / sy } };
  };
  return [...Array.from({ length: extra }, (_, i) => special(i)), ...Array.from({ length: rows * cols }, (_, i) => patch(i))];
}
