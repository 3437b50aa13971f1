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
import { readModelFolder } from './models/modelFolder';
import { checkTextModel, prepareInputs, truncationNotice } from './models/prepareInputs';
import { ModelTokenizer } from './models/tokenizer';

export async function generateCommand(args: GenerateArgs, out: (text: string) => Promise<void>, chunk: JsonSink): Promise<void> {
  const warn = (line: string) => void process.stderr.write(`warning: ${line}\n`);
  const info = readModelFolder(args.model, args.onnx);
  for (const n of info.notices) warn(n);
  checkTextModel(info);
  const tokenizer = ModelTokenizer.load(info.folder);
  const prepared = await prepareInputs(info, tokenizer, args.text);
  const notice = truncationNotice(prepared, info.maxPositions);
  if (notice) warn(notice);
  const prompt = prepared.tokens.map((t) => t.id);
  const { maxNewTokens, notice: cut } = newTokenLimit(args.maxNewTokens, prompt.length, info.maxPositions, info.encoderDecoder, `--max-new-tokens ${args.maxNewTokens}`);
  if (cut) warn(cut);
  if (info.eosTokenIds.length === 0) warn(NO_EOS_NOTICE);
  const engine = await openCliEngine(info, args.backend, {}, warn);
  const textOf = (id: number) => tokenizer.idToToken(id);
  const steps: GenerationStep[] = [];
  const printed = (s: GenerationStep) => {
    if (args.json) return;
    // The last layer's row, mean of its heads: the strongest keys.
    const last = s.attention.filter((a) => a.kind !== 'cross').at(-1);
    const keys: string[] = [];
    if (last) {
      const mean = new Float64Array(last.keys);
      for (let h = 0; h < last.heads; h++) for (let k = 0; k < last.keys; k++) mean[k] += last.weights[h * last.keys + k] / last.heads;
      const sequence = info.encoderDecoder ? [info.decoderStartTokenId ?? 0, ...steps.map((x) => x.token)] : [...prompt, ...steps.map((x) => x.token)];
      for (const k of Array.from(mean.keys()).sort((a, b) => mean[b] - mean[a]).slice(0, args.top)) keys.push(`${JSON.stringify(textOf(sequence[k]))} #${k} ${mean[k].toFixed(3)}`);
    }
    const alternatives = s.top.filter((t) => t.id !== s.token).slice(0, 3).map((t) => `${JSON.stringify(textOf(t.id))} ${t.probability.toFixed(3)}`);
    return out(`${String(s.step + 1).padStart(4)}  ${JSON.stringify(textOf(s.token)).padEnd(14)} p ${s.probability.toFixed(3)}${s.rank > 1 ? ` (rank ${s.rank})` : ''}  looked at ${keys.join(', ')}${alternatives.length ? `  · else ${alternatives.join(', ')}` : ''}\n`);
  };
  let stop: StopReason;
  try {
    if (!args.json) await out(`${info.architecture} · ${prompt.length} tokens · ${args.sampling ? 'sampling' : 'greedy'} · up to ${maxNewTokens} new tokens · ${engine.backend}\n`);
    ({ stop } = await generate(engine, prompt, { maxNewTokens, eos: info.eosTokenIds, sampling: args.sampling, decoderStart: info.encoderDecoder ? info.decoderStartTokenId ?? 0 : undefined }, (s) => {
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
    output,
    stop,
    ids: info.encoderDecoder ? [startId, ...generated] : [...prompt, ...generated],
    tokens: info.encoderDecoder ? [{ id: startId, text: textOf(startId), start: 0, end: 0, special: true, generated: false }, ...made] : [...tokens(prepared.tokens), ...made],
    ...(info.encoderDecoder ? { sourceTokens: tokens(prepared.tokens) } : {}),
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
