/**
 * `attention-lens generate`: continues a text with the model (an encoder-decoder model writes an
 * output for it) and, per step, keeps the token, its probability and rank, the most probable
 * tokens and the attention row that chose it. Text mode prints each step as it is made, then the
 * output; `--json` writes one document (streamed).
 */
import type { GenerateArgs } from './cliArgs';
import { openCliEngine } from './cliEngine';
import { type GenerationStep, NO_EOS_NOTICE, type StopReason, generate, newTokenLimit } from './core/generation/generate';
import { type JsonSink, writeJson } from './core/jsonStream';
import type { TokenInfo } from './core/tokens';
import * as path from 'node:path';
import { type ImageInput, imageInput } from './models/imageInputs';
import { type ModelInfo, ModelFolderError, readModelFolder } from './models/modelFolder';
import { checkTextModel, prepareInputs, truncationNotice } from './models/prepareInputs';
import { ModelTokenizer } from './models/tokenizer';

export async function generateCommand(args: GenerateArgs, out: (text: string) => Promise<void>, chunk: JsonSink): Promise<void> {
  const warn = (line: string) => void process.stderr.write(`warning: ${line}\n`);
  const info = readModelFolder(args.model, args.onnx);
  for (const n of info.notices) warn(n);
  // A captioner writes about an image: its patches are the source (a token each, with its box).
  const image = args.image ? await captionImage(info, args.image) : undefined;
  for (const n of image?.notices ?? []) warn(n);
  if (!image) checkTextModel(info);
  const tokenizer = ModelTokenizer.load(info.folder);
  // A text's tokens are the prompt (or an encoder-decoder model's source); an image's are its patches, and the prompt is empty.
  const prepared = image ? undefined : await prepareInputs(info, tokenizer, args.text);
  const notice = prepared && truncationNotice(prepared, info.maxPositions);
  if (notice) warn(notice);
  const textTokens = prepared?.tokens ?? [];
  const prompt = textTokens.map((t) => t.id);
  const { maxNewTokens, notice: cut } = newTokenLimit(args.maxNewTokens, prompt.length, info.maxPositions, info.encoderDecoder, `--max-new-tokens ${args.maxNewTokens}`);
  if (cut) warn(cut);
  if (info.eosTokenIds.length === 0) warn(NO_EOS_NOTICE);
  const engine = await openCliEngine(info, args.backend, {}, warn);
  const textOf = (id: number) => tokenizer.idToToken(id);
  const steps: GenerationStep[] = [];
  const printed = (s: GenerationStep) => {
    if (args.json) return;
    // The last layer's row, mean of its heads: the strongest keys (a caption's: the patches of its last cross attention).
    const last = s.attention.filter((a) => (image ? a.kind === 'cross' : a.kind !== 'cross')).at(-1);
    const keys: string[] = [];
    if (last) {
      const mean = new Float64Array(last.keys);
      for (let h = 0; h < last.heads; h++) for (let k = 0; k < last.keys; k++) mean[k] += last.weights[h * last.keys + k] / last.heads;
      const sequence = info.encoderDecoder ? [info.decoderStartTokenId ?? 0, ...steps.map((x) => x.token)] : [...prompt, ...steps.map((x) => x.token)];
      const label = (k: number) => (image ? image.tokens[k]?.text ?? `#${k}` : JSON.stringify(textOf(sequence[k])));
      for (const k of Array.from(mean.keys()).sort((a, b) => mean[b] - mean[a]).slice(0, args.top)) keys.push(`${label(k)} #${k} ${mean[k].toFixed(3)}`);
    }
    const alternatives = s.top.filter((t) => t.id !== s.token).slice(0, 3).map((t) => `${JSON.stringify(textOf(t.id))} ${t.probability.toFixed(3)}`);
    return out(`${String(s.step + 1).padStart(4)}  ${JSON.stringify(textOf(s.token)).padEnd(14)} p ${s.probability.toFixed(3)}${s.rank > 1 ? ` (rank ${s.rank})` : ''}  looked at ${keys.join(', ')}${alternatives.length ? `  · else ${alternatives.join(', ')}` : ''}\n`);
  };
  let stop: StopReason;
  try {
    if (!args.json) await out(`${info.architecture} · ${image ? `${path.basename(args.image!)}, ${image.tokens.length} patches` : `${prompt.length} tokens`} · ${args.sampling ? 'sampling' : 'greedy'} · up to ${maxNewTokens} new tokens · ${engine.backend}\n`);
    const source = image ? { pixelValues: image.pixelValues } : {};
    ({ stop } = await generate(engine, prompt, { maxNewTokens, eos: info.eosTokenIds, sampling: args.sampling, decoderStart: info.encoderDecoder ? info.decoderStartTokenId ?? 0 : undefined, ...source }, (s) => {
      steps.push(s);
      return printed(s);
    }));
  } finally {
    await engine.dispose();
  }
  const generated = steps.map((s) => s.token);
  const output = await tokenizer.decode(generated);
  if (!args.json) return out(`\n${stop === 'eos' ? 'stopped at the end-of-sequence token' : `stopped after ${steps.length} tokens`}:\n${info.encoderDecoder ? '' : args.text}${output}\n`);

  const { tokens: continued } = await tokenizer.continuation(generated, info.encoderDecoder ? 0 : args.text.length);
  const tokens = (ts: readonly TokenInfo[]) => ts.map((t) => ({ id: t.id, text: t.text, start: t.start, end: t.end, special: t.special, generated: false }));
  const made = continued.map((t) => ({ id: t.id, text: t.text, start: t.start, end: t.end, special: false, generated: true }));
  const startId = info.decoderStartTokenId ?? 0;
  await writeJson({
    model: { folder: info.folder, architecture: info.architecture },
    backend: engine.backend,
    text: args.text,
    ...(image ? { image: { file: args.image!, ...image.geometry.original }, pixelValues: { shape: image.pixelValues.dims, sha256: image.sha256 } } : {}),
    output,
    stop,
    ids: info.encoderDecoder ? [startId, ...generated] : [...prompt, ...generated],
    tokens: info.encoderDecoder ? [{ id: startId, text: textOf(startId), start: 0, end: 0, special: true, generated: false }, ...made] : [...tokens(textTokens), ...made],
    ...(info.encoderDecoder ? { sourceTokens: image ? image.tokens : tokens(textTokens) } : {}),
    steps: steps.map((s) => ({
      step: s.step,
      query: s.query,
      token: { id: s.token, text: textOf(s.token) },
      probability: s.probability,
      rank: s.rank,
      top: s.top.map((t) => ({ id: t.id, text: textOf(t.id), probability: t.probability })),
      attention: s.attention.map((a) => ({ name: a.name, kind: a.kind, layer: a.layer, heads: a.heads, keys: a.keys, weights: Array.from({ length: a.heads }, (_, h) => a.weights.subarray(h * a.keys, (h + 1) * a.keys)) })),
    })),
  }, chunk);
  await out('\n');
}

/** A captioner's image, processed, with its tokens (the class token and the patches, with their boxes); a model that does not caption is refused. */
async function captionImage(info: ModelInfo, file: string): Promise<ImageInput> {
  if (!info.vision || !info.encoderDecoder) {
    throw new ModelFolderError(`${path.basename(info.folder)} (${info.architecture}) does not caption images: --image needs a vision-encoder-decoder model (a ViT encoder and a text decoder). ${info.vision ? 'For this image model, use attention-lens inspect --image.' : 'For this text model, give --text.'}`);
  }
  return imageInput(info, file);
}
