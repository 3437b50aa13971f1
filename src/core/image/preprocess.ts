/**
 * An image model's `pixel_values` as Hugging Face's image processors make them (ViT, DeiT, BEiT,
 * BiT/DINOv2, and the older `…FeatureExtractor` names of the first three): RGB conversion, a
 * Pillow-exact resize on the 8-bit image, centre crop, rescale and normalisation with numpy's
 * dtype steps, channels first. Reads `preprocessor_config.json`. Pure.
 *
 * This is the processors' Pillow path: transformers 4.x's image processors, and 5.x's with
 * `backend="pil"`. Their torchvision path ("fast" processors; 5.x's default when torchvision is
 * installed) resizes differently and is not reproduced.
 */
import type { ImageGeometry } from './patches';
import { isResampleFilter, resize, type ResampleFilter, type RgbImage } from './resample';

/** A decoded image: `rgba` holds `width × height` pixels row by row, 4 unpremultiplied bytes each (pngjs, ImageData). */
export interface DecodedImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/** The resize's target: an exact size, or the shorter side's length with the aspect ratio kept. */
export type ResizeSize = { height: number; width: number } | { shortestEdge: number };

/** What a processor does, every default filled in: `preprocessor_config.json` as the processor reads it. */
export interface ImageProcessorConfig {
  /** The class named in the file (`image_processor_type` or `feature_extractor_type`). */
  processor: string;
  /** As the file says; `preprocess` converts to RGB whatever it says (see there). */
  doConvertRgb: boolean;
  doResize: boolean;
  size: ResizeSize;
  resample: ResampleFilter;
  /** False for processors without a crop (ViT), whatever the file says. */
  doCenterCrop: boolean;
  cropSize: { height: number; width: number };
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
}

/**
 * One image's `pixel_values`: a [1, 3, height, width] float32 tensor's data, and where it came
 * from (the crop in the resized image's pixels; its left and top are negative where the centre
 * crop padded the image with zeros).
 */
export interface PreprocessedImage {
  pixelValues: Float32Array;
  channels: 3;
  height: number;
  width: number;
  geometry: ImageGeometry;
}

type Triple = [number, number, number];

interface ProcessorDefaults {
  /** Whether it resizes by the shortest edge too; then an integer `size` is the shortest edge, not a square (`get_size_dict(default_to_square=False)`). */
  shortestEdge: boolean;
  size: ResizeSize;
  resample: ResampleFilter;
  /** Whether the processor has a centre crop at all (ViT's has none, and ignores `do_center_crop`). */
  crop: boolean;
  doCenterCrop: boolean;
  cropSize: { height: number; width: number };
  mean: Triple;
  std: Triple;
  doConvertRgb: boolean;
}

const IMAGENET_STANDARD: Triple = [0.5, 0.5, 0.5];
const OPENAI_CLIP_MEAN: Triple = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_CLIP_STD: Triple = [0.26862954, 0.26130258, 0.27577711];

/**
 * Each processor's own defaults, from its `__init__` in transformers 4.x. DeiT's mean and std
 * default to 0.5 (its Hub configs give ImageNet's values explicitly).
 */
const VIT: ProcessorDefaults = {
  shortestEdge: false, size: { height: 224, width: 224 }, resample: 2,
  crop: false, doCenterCrop: false, cropSize: { height: 224, width: 224 }, mean: IMAGENET_STANDARD, std: IMAGENET_STANDARD, doConvertRgb: false,
};
const DEIT_BEIT: ProcessorDefaults = { ...VIT, size: { height: 256, width: 256 }, resample: 3, crop: true, doCenterCrop: true };
const BIT: ProcessorDefaults = {
  shortestEdge: true, size: { shortestEdge: 224 }, resample: 3,
  crop: true, doCenterCrop: true, cropSize: { height: 224, width: 224 }, mean: OPENAI_CLIP_MEAN, std: OPENAI_CLIP_STD, doConvertRgb: true,
};

const PROCESSORS: Record<string, ProcessorDefaults> = {
  ViTImageProcessor: VIT,
  ViTFeatureExtractor: VIT,
  DeiTImageProcessor: DEIT_BEIT,
  DeiTFeatureExtractor: DEIT_BEIT,
  BeitImageProcessor: DEIT_BEIT,
  BeitFeatureExtractor: DEIT_BEIT,
  BitImageProcessor: BIT,
};

const FILE = 'preprocessor_config.json';
const SUPPORTED = Object.keys(PROCESSORS).join(', ');

function fail(message: string): never {
  throw new Error(`${FILE}: ${message}`);
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

function boolField(json: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const value = json[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') fail(`${key} must be true or false, got ${show(value)}`);
  return value;
}

/** `{height, width}` from an integer (a square), a [height, width] pair or a `{height, width}` object; undefined when none of these. */
function heightWidth(value: unknown): { height: number; width: number } | undefined {
  if (isPositiveInteger(value)) return { height: value, width: value };
  if (Array.isArray(value) && value.length === 2 && value.every(isPositiveInteger)) return { height: value[0], width: value[1] };
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o).sort().join(',');
    if (keys === 'height,width' && isPositiveInteger(o.height) && isPositiveInteger(o.width)) return { height: o.height, width: o.width };
  }
  return undefined;
}

function sizeField(value: unknown, processor: string, d: ProcessorDefaults): ResizeSize {
  if (value === undefined || value === null) return d.size;
  if (isPositiveInteger(value) && d.shortestEdge) return { shortestEdge: value };
  const hw = heightWidth(value);
  if (hw) return hw;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o).sort().join(',');
    if (keys === 'shortest_edge' && isPositiveInteger(o.shortest_edge)) {
      if (d.shortestEdge) return { shortestEdge: o.shortest_edge };
      fail(`${processor} resizes to an exact size: size must be an integer or {"height", "width"}, got ${show(value)}`);
    }
    if (keys === 'longest_edge,shortest_edge') {
      fail(`size ${show(value)}: a longest_edge is not supported for ${processor} (transformers 4.x ignores it, 5.x applies it); use {"shortest_edge"} or {"height", "width"}`);
    }
  }
  const forms = d.shortestEdge ? 'a positive integer, {"height", "width"} or {"shortest_edge"}' : 'a positive integer or {"height", "width"}';
  return fail(`size must be ${forms}, got ${show(value)}`);
}

function triple(json: Record<string, unknown>, key: string, fallback: Triple, nonZero: boolean): Triple {
  const value = json[key];
  if (value === undefined || value === null) return fallback;
  const list = typeof value === 'number' ? [value, value, value] : value;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && (!nonZero || v !== 0);
  if (!Array.isArray(list) || list.length !== 3 || !list.every(ok)) {
    fail(`${key} must be a number or a list of 3 numbers (one per RGB channel)${nonZero ? ', none zero' : ''}, got ${show(value)}`);
  }
  return [list[0], list[1], list[2]];
}

/**
 * The processor that `json` (a parsed `preprocessor_config.json`) describes, with the defaults
 * of its class filled in. Throws an Error naming the file and the field when the processor is
 * not one of ViT, DeiT, BEiT (image processor or feature extractor) and BiT, or a field is invalid.
 */
export function parseProcessorConfig(json: unknown): ImageProcessorConfig {
  if (!json || typeof json !== 'object' || Array.isArray(json)) fail(`expected a JSON object, got ${show(json)}`);
  const o = json as Record<string, unknown>;
  const processor = o.image_processor_type ?? o.feature_extractor_type;
  if (processor === undefined) fail(`names no image_processor_type or feature_extractor_type; supported: ${SUPPORTED}`);
  if (typeof processor !== 'string') fail(`image_processor_type must be a string, got ${show(processor)}`);
  const d = PROCESSORS[processor];
  if (!d) {
    const fast = processor.endsWith('Fast') && PROCESSORS[processor.slice(0, -4)]
      ? ` (the "Fast" processors resize with torchvision, which this does not reproduce; ${processor.slice(0, -4)} is supported)`
      : '';
    fail(`image processor "${processor}" is not supported${fast}; supported: ${SUPPORTED}`);
  }
  const resample = o.resample ?? d.resample;
  if (!isResampleFilter(resample)) fail(`resample must be a Pillow filter code 0 to 5 (0 nearest, 1 Lanczos, 2 bilinear, 3 bicubic, 4 box, 5 Hamming), got ${show(o.resample)}`);
  let cropSize = d.cropSize;
  if (d.crop && o.crop_size !== undefined && o.crop_size !== null) {
    cropSize = heightWidth(o.crop_size) ?? fail(`crop_size must be a positive integer or {"height", "width"}, got ${show(o.crop_size)}`);
  }
  const rescaleFactor = o.rescale_factor ?? 1 / 255;
  if (typeof rescaleFactor !== 'number' || !Number.isFinite(rescaleFactor)) fail(`rescale_factor must be a number, got ${show(o.rescale_factor)}`);
  return {
    processor,
    doConvertRgb: boolField(o, 'do_convert_rgb', d.doConvertRgb),
    doResize: boolField(o, 'do_resize', true),
    size: sizeField(o.size, processor, d),
    resample,
    doCenterCrop: d.crop && boolField(o, 'do_center_crop', d.doCenterCrop),
    cropSize,
    doRescale: boolField(o, 'do_rescale', true),
    rescaleFactor,
    doNormalize: boolField(o, 'do_normalize', true),
    imageMean: triple(o, 'image_mean', d.mean, false),
    imageStd: triple(o, 'image_std', d.std, true),
  };
}

/**
 * Pillow's `convert("RGB")` of an RGBA image: the alpha channel dropped, not composited (a
 * grayscale or palette image decoded to RGBA already holds its RGB values).
 */
export function toRgb(image: DecodedImage): RgbImage {
  const n = image.width * image.height;
  if (image.rgba.length !== n * 4) throw new Error(`image: ${image.width} × ${image.height} RGBA needs ${n * 4} bytes, got ${image.rgba.length}`);
  const data = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n * 3; i += 3, j += 4) {
    data[i] = image.rgba[j];
    data[i + 1] = image.rgba[j + 1];
    data[i + 2] = image.rgba[j + 2];
  }
  return { width: image.width, height: image.height, data };
}

/**
 * The (width, height) a resize to `size` gives an image of `width × height`: exact, or the
 * shorter side to `shortestEdge` and the longer to `int(shortestEdge × long / short)`
 * (transformers' `get_resize_output_image_size(default_to_square=False)`).
 */
export function resizedSize(width: number, height: number, size: ResizeSize): { width: number; height: number } {
  if (!('shortestEdge' in size)) return { width: size.width, height: size.height };
  const edge = size.shortestEdge;
  if (width <= height) return { width: edge, height: Math.trunc((edge * height) / width) };
  return { width: Math.trunc((edge * width) / height), height: edge };
}

/**
 * `pixel_values` for `image` as the processor `config` makes them: [1, 3, height, width] float32.
 * Always converts to RGB first, as the pipelines' `load_image` does before the processor runs.
 * The centre crop pads with zeros (before rescale and normalisation) where the image is smaller.
 */
export function preprocess(image: DecodedImage, config: ImageProcessorConfig): PreprocessedImage {
  let rgb = toRgb(image);
  if (config.doResize) {
    const target = resizedSize(rgb.width, rgb.height, config.size);
    rgb = resize(rgb, target.width, target.height, config.resample);
  }
  const crop = config.doCenterCrop
    ? {
      left: Math.floor((rgb.width - config.cropSize.width) / 2),
      top: Math.floor((rgb.height - config.cropSize.height) / 2),
      width: config.cropSize.width,
      height: config.cropSize.height,
    }
    : { left: 0, top: 0, width: rgb.width, height: rgb.height };
  return {
    pixelValues: toPixelValues(rgb, crop, config),
    channels: 3,
    height: crop.height,
    width: crop.width,
    geometry: { original: { width: image.width, height: image.height }, resized: { width: rgb.width, height: rgb.height }, crop },
  };
}

/**
 * The crop of `rgb` (zeros outside it), channels first, rescaled as numpy does (the byte times
 * the factor in float64, then float32) and normalised in float32 (`(x − mean) / std`).
 */
function toPixelValues(rgb: RgbImage, crop: ImageGeometry['crop'], config: ImageProcessorConfig): Float32Array {
  const { width, height } = crop;
  const out = new Float32Array(3 * width * height);
  const mean = config.imageMean.map(Math.fround);
  const std = config.imageStd.map(Math.fround);
  for (let c = 0; c < 3; c++) {
    // One value per byte 0–255: the whole per-channel pipeline as a table.
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      let x = config.doRescale ? Math.fround(v * config.rescaleFactor) : v;
      if (config.doNormalize) x = Math.fround(Math.fround(x - mean[c]) / std[c]);
      table[v] = x;
    }
    const plane = c * width * height;
    for (let y = 0; y < height; y++) {
      const sy = y + crop.top;
      for (let x = 0; x < width; x++) {
        const sx = x + crop.left;
        const inside = sy >= 0 && sy < rgb.height && sx >= 0 && sx < rgb.width;
        out[plane + y * width + x] = table[inside ? rgb.data[(sy * rgb.width + sx) * 3 + c] : 0];
      }
    }
  }
  return out;
}
