import * as fs from 'node:fs';
import * as path from 'node:path';
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { type DecodedImage, parseProcessorConfig, preprocess, resizedSize, toRgb } from '../../src/core/image/preprocess';
import { type ResampleFilter, resize } from '../../src/core/image/resample';

// Reference: Pillow 9.4's Image.resize and transformers' processors' code path written out in
// numpy, by tools/vision-fixtures/pil_reference.py.
const FIX = path.resolve(__dirname, '../fixtures/images');

interface ResizeCase { image: string; width: number; height: number; filter: ResampleFilter; rgb: string }
interface ProcessorCase {
  name: string;
  image: string;
  config: Record<string, unknown>;
  shape: [number, number, number];
  geometry: { resized: { width: number; height: number }; crop: { left: number; top: number; width: number; height: number } };
  pixelValues: string;
}
interface Reference { pillow: string; resize: ResizeCase[]; processors: ProcessorCase[] }

const reference = JSON.parse(fs.readFileSync(path.join(FIX, 'reference.json'), 'utf8')) as Reference;

function unpack(b64: string): Buffer {
  return inflateSync(Buffer.from(b64, 'base64'));
}

const decoded = new Map<string, DecodedImage>();
function image(name: string): DecodedImage {
  let d = decoded.get(name);
  if (!d) {
    const p = PNG.sync.read(fs.readFileSync(path.join(FIX, name)));
    d = { width: p.width, height: p.height, rgba: new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength) };
    decoded.set(name, d);
  }
  return d;
}

const FILTERS = ['NEAREST', 'LANCZOS', 'BILINEAR', 'BICUBIC', 'BOX', 'HAMMING'];

/** How far two byte arrays are apart: the count of differing bytes and the largest difference. */
function byteDifference(actual: Uint8Array, expected: Uint8Array): { length: number; differing: number; largest: number } {
  let differing = 0, largest = 0;
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (d) differing++;
    largest = Math.max(largest, d);
  }
  return { length: actual.length, differing, largest };
}

describe('Pillow-exact resize', () => {
  it('has reference cases for every filter, down and up, and one axis only', () => {
    expect(reference.pillow).toBe('9.4.0');
    expect(new Set(reference.resize.map((c) => c.filter))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    const scaled = (c: ResizeCase) => [Math.sign(c.width - image(c.image).width), Math.sign(c.height - image(c.image).height)].join();
    const kinds = new Set(reference.resize.map(scaled));
    for (const kind of ['-1,-1', '1,1', '-1,0', '0,-1', '1,-1', '0,0']) expect(kinds).toContain(kind);
  });

  for (const c of reference.resize) {
    it(`${c.image} → ${c.width} × ${c.height}, ${FILTERS[c.filter]}: the same bytes as Pillow`, () => {
      const out = resize(toRgb(image(c.image)), c.width, c.height, c.filter);
      const expected = unpack(c.rgb);
      expect([out.width, out.height]).toEqual([c.width, c.height]);
      expect(byteDifference(out.data, expected)).toEqual({ length: expected.length, differing: 0, largest: 0 });
    });
  }

  it('leaves its input alone and refuses bad sizes and filters', () => {
    const src = toRgb(image('tiny.png'));
    const copy = src.data.slice();
    resize(src, 9, 7, 3);
    expect(src.data).toEqual(copy);
    expect(() => resize(src, 0, 4, 2)).toThrow(/positive whole pixels/);
    expect(() => resize(src, 2.5, 4, 2)).toThrow(/positive whole pixels/);
    expect(() => resize(src, 4, 4, 7 as ResampleFilter)).toThrow(/unknown filter 7/);
    expect(() => resize({ width: 3, height: 3, data: new Uint8Array(5) }, 4, 4, 2)).toThrow(/needs 27 bytes/);
  });
});

describe('image processors', () => {
  for (const c of reference.processors) {
    it(`${c.name}: the same float32 pixel values as transformers' path`, () => {
      const config = parseProcessorConfig(c.config);
      const out = preprocess(image(c.image), config);
      const expected = new Float32Array(new Uint8Array(unpack(c.pixelValues)).buffer);
      expect([out.channels, out.height, out.width]).toEqual(c.shape);
      expect(out.pixelValues.length).toBe(expected.length);
      expect(out.geometry.resized).toEqual(c.geometry.resized);
      expect(out.geometry.crop).toEqual(c.geometry.crop);
      expect(out.geometry.original).toEqual({ width: image(c.image).width, height: image(c.image).height });
      let largest = 0, largestRaw = 0, notIdentical = 0;
      const plane = out.height * out.width;
      for (let i = 0; i < expected.length; i++) {
        const d = Math.abs(out.pixelValues[i] - expected[i]);
        if (!Object.is(out.pixelValues[i], expected[i])) notIdentical++;
        largest = Math.max(largest, d);
        // The same difference before normalisation, in the 0–1 scale of the rescaled bytes.
        const std = config.doNormalize ? Math.abs(config.imageStd[Math.floor(i / plane)]) : 1;
        largestRaw = Math.max(largestRaw, (d * std) / (config.doRescale ? 255 * config.rescaleFactor : 255));
      }
      expect(largest).toBeLessThanOrEqual(1e-6);
      expect(largestRaw).toBeLessThanOrEqual(1 / 255);
      // Stricter than the brief's 1e-6: the same float32 operations as numpy, so the same bits.
      expect(notIdentical).toBe(0);
    });
  }
});

describe('parseProcessorConfig', () => {
  it('fills in each processor\'s own defaults', () => {
    const vit = parseProcessorConfig({ image_processor_type: 'ViTImageProcessor', do_center_crop: true, crop_size: 10 });
    expect(vit).toMatchObject({ doResize: true, size: { height: 224, width: 224 }, resample: 2, doCenterCrop: false, doRescale: true, doNormalize: true, imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5] });
    expect(vit.rescaleFactor).toBe(1 / 255);
    for (const name of ['DeiTImageProcessor', 'DeiTFeatureExtractor', 'BeitImageProcessor', 'BeitFeatureExtractor']) {
      expect(parseProcessorConfig({ image_processor_type: name })).toMatchObject({ size: { height: 256, width: 256 }, resample: 3, doCenterCrop: true, cropSize: { height: 224, width: 224 }, imageMean: [0.5, 0.5, 0.5] });
    }
    expect(parseProcessorConfig({ feature_extractor_type: 'BitImageProcessor' })).toMatchObject({
      size: { shortestEdge: 224 }, resample: 3, doCenterCrop: true, doConvertRgb: true,
      imageMean: [0.48145466, 0.4578275, 0.40821073], imageStd: [0.26862954, 0.26130258, 0.27577711],
    });
  });

  it('reads each form of size and crop_size', () => {
    const vit = (size: unknown) => parseProcessorConfig({ feature_extractor_type: 'ViTFeatureExtractor', size }).size;
    expect(vit(384)).toEqual({ height: 384, width: 384 });
    expect(vit([20, 30])).toEqual({ height: 20, width: 30 });
    expect(vit({ width: 30, height: 20 })).toEqual({ height: 20, width: 30 });
    const bit = (size: unknown) => parseProcessorConfig({ image_processor_type: 'BitImageProcessor', size }).size;
    expect(bit(256)).toEqual({ shortestEdge: 256 });
    expect(bit({ shortest_edge: 256 })).toEqual({ shortestEdge: 256 });
    expect(bit({ height: 20, width: 30 })).toEqual({ height: 20, width: 30 });
    expect(parseProcessorConfig({ image_processor_type: 'DeiTImageProcessor', crop_size: 200 }).cropSize).toEqual({ height: 200, width: 200 });
    expect(parseProcessorConfig({ image_processor_type: 'DeiTImageProcessor', image_mean: 0.25 }).imageMean).toEqual([0.25, 0.25, 0.25]);
  });

  it('computes the shortest-edge size as transformers does, truncating the long side', () => {
    expect(resizedSize(97, 61, { shortestEdge: 40 })).toEqual({ width: 63, height: 40 }); // int(40 · 97 / 61) = int(63.6)
    expect(resizedSize(64, 100, { shortestEdge: 40 })).toEqual({ width: 40, height: 62 }); // int(62.5)
    expect(resizedSize(50, 50, { shortestEdge: 7 })).toEqual({ width: 7, height: 7 });
    expect(resizedSize(640, 480, { shortestEdge: 256 })).toEqual({ width: 341, height: 256 }); // int(341.33)
    expect(resizedSize(640, 480, { height: 10, width: 20 })).toEqual({ width: 20, height: 10 });
  });

  it('refuses unknown processors, naming them and what is supported', () => {
    expect(() => parseProcessorConfig({ image_processor_type: 'CLIPImageProcessor' })).toThrow(/preprocessor_config\.json: image processor "CLIPImageProcessor" is not supported; supported: ViTImageProcessor, .*BitImageProcessor/);
    expect(() => parseProcessorConfig({ image_processor_type: 'ConvNextImageProcessor' })).toThrow(/"ConvNextImageProcessor" is not supported/);
    expect(() => parseProcessorConfig({ image_processor_type: 'ViTImageProcessorFast' })).toThrow(/torchvision.*ViTImageProcessor is supported/);
    expect(() => parseProcessorConfig({ do_resize: true })).toThrow(/no image_processor_type or feature_extractor_type/);
    expect(() => parseProcessorConfig([1, 2])).toThrow(/expected a JSON object/);
    expect(() => parseProcessorConfig(null)).toThrow(/expected a JSON object/);
  });

  it('refuses invalid fields with a message naming the field', () => {
    const bad = (fields: Record<string, unknown>, type = 'ViTImageProcessor') => () => parseProcessorConfig({ image_processor_type: type, ...fields });
    expect(bad({ size: { shortest_edge: 224 } })).toThrow(/ViTImageProcessor resizes to an exact size: size must be an integer or \{"height", "width"\}/);
    expect(bad({ size: { shortest_edge: 224, longest_edge: 300 } }, 'BitImageProcessor')).toThrow(/longest_edge is not supported/);
    expect(bad({ size: 0 })).toThrow(/size must be a positive integer or \{"height", "width"\}, got 0/);
    expect(bad({ size: { height: 10 } })).toThrow(/size must be/);
    expect(bad({ size: '224' }, 'BitImageProcessor')).toThrow(/size must be a positive integer, \{"height", "width"\} or \{"shortest_edge"\}/);
    expect(bad({ resample: 6 })).toThrow(/resample must be a Pillow filter code 0 to 5/);
    expect(bad({ resample: 'bilinear' })).toThrow(/resample must be/);
    expect(bad({ crop_size: { shortest_edge: 3 } }, 'DeiTImageProcessor')).toThrow(/crop_size must be/);
    expect(bad({ image_mean: [0.5, 0.5] })).toThrow(/image_mean must be a number or a list of 3 numbers/);
    expect(bad({ image_std: [0.5, 0, 0.5] })).toThrow(/image_std must be .*none zero/);
    expect(bad({ rescale_factor: '1/255' })).toThrow(/rescale_factor must be a number/);
    expect(bad({ do_normalize: 'yes' })).toThrow(/do_normalize must be true or false/);
  });
});
