/**
 * Optimum's split encoder-decoder layout, by file name: `encoder_model.onnx` with
 * `decoder_model.onnx` (and `decoder_with_past_model.onnx`) or `decoder_model_merged.onnx`, a
 * variant suffix (`_quantized`, `_q4`, `_fp16`) shared by the set. Pure: which files exist is asked
 * of the caller (a folder on disk, a Hub listing).
 */

/** A split set: its files relative to the model folder, with `/` separators. */
export interface SplitSet {
  encoder: string;
  /** The decoder that starts: `decoder_model`, else `decoder_model_merged`. */
  decoder: string;
  /** The decoder that continues from a cache, when the set has one beside `decoder_model`. */
  withPast?: string;
}

const SPLIT_PART = /^(encoder_model|decoder_model_merged|decoder_with_past_model|decoder_model)(_[A-Za-z0-9]+)?\.onnx$/;

/** A split file's folder, part and suffix (`onnx/decoder_model_q4.onnx` → onnx, decoder_model, _q4); undefined for any other file. */
export function splitName(rel: string): { dir: string; part: string; suffix: string } | undefined {
  const file = rel.replace(/\\/g, '/');
  const slash = file.lastIndexOf('/');
  const m = SPLIT_PART.exec(file.slice(slash + 1));
  return m ? { dir: slash < 0 ? '.' : file.slice(0, slash), part: m[1], suffix: m[2] ?? '' } : undefined;
}

/** The set `rel` (any part) belongs to, when `has` says its encoder and a decoder exist; undefined otherwise. */
export function splitSet(rel: string, has: (file: string) => boolean): SplitSet | undefined {
  const name = splitName(rel);
  if (!name) return undefined;
  const file = (part: string) => `${name.dir === '.' ? '' : `${name.dir}/`}${part}${name.suffix}.onnx`;
  const encoder = file('encoder_model');
  const decoder = [file('decoder_model'), file('decoder_model_merged')].find(has);
  if (!has(encoder) || !decoder) return undefined;
  const withPast = decoder === file('decoder_model') && has(file('decoder_with_past_model')) ? file('decoder_with_past_model') : undefined;
  return { encoder, decoder, ...(withPast ? { withPast } : {}) };
}

/** The set's files besides its encoder. */
export function decodersOf(set: SplitSet): string[] {
  return [set.decoder, ...(set.withPast ? [set.withPast] : [])];
}

/** What a part without its set needs, for messages: "onnx/encoder_model.onnx with onnx/decoder_model.onnx (or …_merged.onnx)". */
export function splitSetNeeds(rel: string): string | undefined {
  const name = splitName(rel);
  if (!name) return undefined;
  const dir = name.dir === '.' ? '' : `${name.dir}/`;
  return `${dir}encoder_model${name.suffix}.onnx with ${dir}decoder_model${name.suffix}.onnx (or ${dir}decoder_model_merged${name.suffix}.onnx)`;
}
