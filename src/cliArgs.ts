/** Arguments of `attention-lens inspect`: parsed and checked, with messages that say what to type. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Aggregation, RolloutOptions } from './core/analysis/aggregate';
import type { HideChoice } from './core/analysis/hiding';
import type { Sampling } from './core/generation/sampling';
import { DATA_EXPORTS, FIGURE_EXPORTS } from './export/fileExport';

const EXPORTS: readonly string[] = [...DATA_EXPORTS, ...FIGURE_EXPORTS];

/** The backends `--backend` takes; `native` is the default. */
export const CLI_BACKENDS = ['native', 'native-cuda', 'wasm'] as const;
export type CliBackend = (typeof CLI_BACKENDS)[number];

/** The usage line, shown with every argument error. */
export const USAGE = 'usage: attention-lens inspect --model <folder> [--onnx <file>] (--text <string> | --text-file <path> | --image <file>) [--target <string>] [--json] [--layer N] [--head H] [--top K] [--stats] [--aggregate mean|max|rollout [--rollout-fusion mean|max|min] [--rollout-discard R]] [--words] [--hide special|first[,…]] [--mechanism] [--export FILE] [--timings] [--backend native|native-cuda|wasm]';
/** The download command's usage line. */
export const DOWNLOAD_USAGE = 'usage: attention-lens download <org/name>[@revision] [--file onnx/model.onnx] [--cache-dir DIR]';

/** The compare command's usage line. */
export const COMPARE_USAGE = 'usage: attention-lens compare --model <A> [--model <B>] (--text <string> | --text-file <path> | --image <file>) [--text-b <string> | --text-b-file <path>] [--json] [--diff] [--layer-b N] [--backend native|native-cuda|wasm]';

/** The generate command's usage line. */
export const GENERATE_USAGE = 'usage: attention-lens generate --model <folder> [--onnx <file>] (--text <string> | --text-file <path> | --image <file>) [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--top K] [--json] [--backend native|native-cuda|wasm]';

/** The full help (`--help`, `help`, or no arguments). */
export const HELP = `Attention Lens: transformer attention from the command line (Node: onnxruntime-node, or WebAssembly).

${USAGE}

  --model <folder>        a Hugging Face-style model folder: config.json, tokenizer.json, onnx/model.onnx
                          (external data files beside it: model.onnx_data, model.onnx_data_1, …), or an
                          onnxruntime-genai folder (genai_config.json, tokenizer.json, model.onnx)
  --onnx <file>           the ONNX file in the folder to run, e.g. onnx/model_q4.onnx (default
                          onnx/model.onnx, else model.onnx, else genai_config.json's)
  --text <string>         the text to inspect
  --text-file <path>      read the text from a file instead
  --image <file>          an image (PNG, JPEG, WebP, BMP, GIF's first frame) for an image model (ViT, DeiT, BEiT,
                          DINOv2): processed as its preprocessor_config.json says; each patch is a token
  --target <string>       decoder text of an encoder-decoder model (default: the input)
  --json                  print one JSON object (tokens, attention, and heads with --stats)
  --layer N               which attention to print without --json: N counts the outputs in order,
                          from 1 (encoder-decoder: encoder layers, then decoder, then cross); default: the last.
                          With --mechanism: the only output whose mechanism is included
  --head H                print head H (from 1) instead of the mean of the heads
  --top K                 attended tokens printed per token (default 3)
  --stats                 per-head statistics and labels (a table without --json)
  --aggregate mean|max|rollout
                          one aggregate per layer instead of the heads
  --rollout-fusion mean|max|min
                          with rollout: fuse each layer's heads by their mean (default), max or min
  --rollout-discard R     with rollout: drop each fused layer's smallest share R (0 to 0.99) of weights
                          first, as vit-explain does
  --words                 merge subword tokens into words (the tokenizer's word ids)
  --hide special|first    drop special tokens and/or the first token, rows renormalised
  --export FILE           also write the run to FILE: .json (the --json document), .npz (NumPy:
                          float32 attentions [layers, heads, queries, keys] per kind, input_ids,
                          tokens, offsets, tokens.json), .svg (the head view of --layer, default 1,
                          and --head, default all), .png (the same at 2×) or .html (a standalone
                          interactive report); written whole or not at all
  --mechanism             with --json: add "mechanism", per attention output its queries, keys,
                          values, scale, scores before the softmax (masked: null), per-head output
                          (weights × values) and each key's contribution (‖α·v·W_O‖, else ‖α·v‖)
  --timings               print where the time went on stderr: reading the model files, tokenizing,
                          opening the session, inference
  --backend native|native-cuda|wasm
                          native (default): onnxruntime-node on every core, external data
                          memory-mapped, no 4 GB ceiling; native-cuda: on an NVIDIA GPU (needs
                          onnxruntime-node's CUDA files; else the CPU, with a warning); wasm:
                          onnxruntime-web on one thread, as in the panel. Where the native binary
                          cannot load (darwin-x64), WebAssembly runs, with a warning
  --help                  this help

${COMPARE_USAGE}

  Two models on one text (two --model), or one model on two texts (--text-b). Tokens are compared
  one to one when both tokenizations are identical, else at the words of the text (split on spaces
  and punctuation; rows renormalised over the words); two texts pair the tokens a diff leaves
  unchanged. Layer i of A faces layer round(i·(L_B−1)/(L_A−1)) of B.
  --image <file>          two image models on one image (each processes it as its own
                          preprocessor_config.json says): patch with patch on the same grid, else at
                          the coarser grid's patches (a finer patch counts in the one holding its centre)
  --json                  print both token lists, the alignment, and per layer pair every head
                          pair's Jensen-Shannon distance, each head's best match in B, and the mean
                          absolute difference where head counts match; without it, a table of the
                          most and least alike heads
  --diff                  with --json: add A − B weights [head][query][key] where head counts match
  --layer-b N             compare every layer of A with layer N of B (from 1) instead
  --backend …             as for inspect (default native)

${GENERATE_USAGE}

  Continues the text one token at a time (an encoder-decoder model writes an output for it, from
  decoder_start_token_id), stopping at the config's eos_token_id (generation_config.json, else
  config.json) or after --max-new-tokens (default 20; cut to the model's positions). Greedy unless a
  sampling option is given. Each step keeps what the model looked at when it chose the token: the
  last query's attention row over every key up to it, every layer and head (and the cross-attention
  row over the source), with the chosen token's probability and rank and the most probable tokens.
  An export with a key/value cache (past_key_values inputs; a split encoder-decoder model's
  decoder_with_past_model.onnx) takes one token per step; any other runs the growing sequence again.
  --image <file>          caption an image with a vision-encoder-decoder model (a ViT encoder and a
                          text decoder): the source is the image's patches (sourceTokens in --json,
                          each with its box, as inspect --image gives them)
  --temperature T         sample from softmax(logits / T) (T > 0; 0: greedy)
  --top-k K               sample among the K most probable tokens
  --top-p P               sample among the fewest most probable tokens whose probability reaches P (0 < P ≤ 1)
  --seed S                seed of the draws (default 0): the same seed gives the same tokens on every run and backend
  --top K                 strongest keys printed per step (default 3; the last layer, mean of its heads)
  --json                  print one JSON object: model, backend, text, output, stop ("eos", "max"),
                          ids (prompt then output; encoder-decoder: the decoder's), tokens ({id, text,
                          start, end, special, generated}; offsets into text + output, an
                          encoder-decoder's into output, its source in sourceTokens) and steps
                          ({step, query, token {id, text}, probability, rank, top [{id, text,
                          probability}], attention [{name, kind, layer, heads, keys, weights
                          [head][key]}]})
  --backend …             as for inspect (default native)

${DOWNLOAD_USAGE}

  Downloads a model's config.json, tokenizer.json, tokenizer_config.json and ONNX file from the
  Hub (HF_ENDPOINT, else https://huggingface.co; HF_TOKEN for gated models) into the Hugging Face
  cache (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub), where the extension's
  model picker and Hugging Face's own tools find it, with every external data file the ONNX file's
  graph names (onnx/model.onnx_data, onnx/model.onnx_data_1, …, or model.onnx.data): each must be
  beside it in the repository and listed at least as long as the graph reads, or nothing of the
  data is fetched. Every file is verified against the Hub's listing (size and SHA-256 or git blob
  id) before it counts, and the ONNX file is linked last; prints progress on stderr and the
  snapshot folder on stdout.
  --file <path>           the ONNX file in the repository (default onnx/model.onnx); for a split
                          encoder-decoder export, its encoder (onnx/encoder_model.onnx, or a
                          variant's): its decoders come with it
  --cache-dir <dir>       another cache folder

Errors are one line on stderr and a non-zero exit.`;

/** A checked `inspect` command line. */
export interface InspectArgs {
  model: string;
  /** The ONNX file to run, relative to the model folder; undefined: the folder's default. */
  onnx?: string;
  /** The text ('' with `image`). */
  text: string;
  /** An image file (absolute) for an image model, instead of text. */
  image?: string;
  target?: string;
  json: boolean;
  /** 1-based index of the attention output to print, or undefined for the last. */
  layer?: number;
  /** 1-based head to print, or undefined for the mean of the heads. */
  head?: number;
  top: number;
  stats: boolean;
  /** With `--aggregate rollout`: head fusion and discarded share. */
  rollout?: RolloutOptions;
  aggregate?: Aggregation;
  words: boolean;
  hide: HideChoice[];
  /** Include the mechanism (queries, keys, values, scores, outputs, contributions) in the JSON. */
  mechanism: boolean;
  /** Also write the run to this file (absolute); its extension picks the format. */
  export?: string;
  /** Print the stages' times on stderr. */
  timings: boolean;
  backend: CliBackend;
}

const VALUE_FLAGS = new Set(['--model', '--onnx', '--text', '--text-file', '--image', '--target', '--aggregate', '--rollout-fusion', '--rollout-discard', '--hide', '--layer', '--head', '--top', '--export', '--backend']);
const SWITCHES = new Set(['--json', '--stats', '--words', '--mechanism', '--timings']);
const AGGREGATES: readonly Aggregation[] = ['mean', 'max', 'rollout'];
const HIDE: readonly HideChoice[] = ['special', 'first'];

/** A checked `download` command line. */
export interface DownloadArgs {
  id: string;
  file: string;
  cacheDir?: string;
}

/** Parses `download <id>[@revision] [--file F] [--cache-dir D]`; the id is checked by `parseHubId`. */
export function parseDownloadArgs(argv: string[]): DownloadArgs {
  let id: string | undefined;
  let file = 'onnx/model.onnx';
  let cacheDir: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--file' || a === '--cache-dir') {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value. ${DOWNLOAD_USAGE}`);
      if (a === '--file') file = argv[++i];
      else cacheDir = path.resolve(argv[++i]);
    } else if (!a.startsWith('-') && id === undefined) id = a;
    else throw new Error(`unknown argument ${a}. ${DOWNLOAD_USAGE}`);
  }
  if (!id) throw new Error(`the model id is required. ${DOWNLOAD_USAGE}`);
  if (!file.endsWith('.onnx')) throw new Error(`--file names an ONNX file in the repository, such as onnx/model_quantized.onnx (got "${file}")`);
  return { id, file, cacheDir };
}

/** A checked `compare` command line. */
export interface CompareArgs {
  /** One folder (two texts) or two (two models), absolute. */
  models: string[];
  text: string;
  /** Two image models on this image (`text` is then empty). */
  image?: string;
  textB?: string;
  json: boolean;
  diff: boolean;
  /** 1-based layer of B every layer of A is compared with; undefined: proportional. */
  layerB?: number;
  backend: CliBackend;
}

/** Parses `compare …`; throws with the usage line on any mistake. */
export function parseCompareArgs(argv: string[]): CompareArgs {
  const models: string[] = [];
  const opts: Record<string, string | true> = {};
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json' || a === '--diff') opts[a.slice(2)] = true;
    else if (['--model', '--text', '--text-file', '--text-b', '--text-b-file', '--image', '--layer-b', '--backend'].includes(a)) {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value. ${COMPARE_USAGE}`);
      if (a === '--model') models.push(path.resolve(argv[++i]));
      else opts[a.slice(2)] = argv[++i];
    } else throw new Error(`unknown argument ${a}. ${COMPARE_USAGE}`);
  }
  if (models.length < 1 || models.length > 2) throw new Error(`give one --model (two texts) or two (one text). ${COMPARE_USAGE}`);
  if (typeof opts.image === 'string') {
    if (models.length !== 2 || ['text', 'text-file', 'text-b', 'text-b-file'].some((k) => opts[k] !== undefined)) throw new Error(`--image compares two models (two --model) on one image, without --text. ${COMPARE_USAGE}`);
    if (opts.diff === true && opts.json !== true) throw new Error(`--diff adds to the JSON output: add --json. ${COMPARE_USAGE}`);
    return { models, text: '', image: path.resolve(opts.image), json: opts.json === true, diff: opts.diff === true, layerB: positive('--layer-b', opts['layer-b']), backend: backendOf(opts.backend) };
  }
  const text = readText(opts, 'text', COMPARE_USAGE)!;
  const textB = readText(opts, 'text-b', COMPARE_USAGE, true);
  if (models.length === 1 && textB === undefined) throw new Error(`one model compares two texts: add --text-b, or a second --model. ${COMPARE_USAGE}`);
  if (models.length === 2 && textB !== undefined) throw new Error('compare two models on one text, or two texts on one model, not both at once');
  if (opts.diff === true && opts.json !== true) throw new Error(`--diff adds to the JSON output: add --json. ${COMPARE_USAGE}`);
  return { models, text, textB, json: opts.json === true, diff: opts.diff === true, layerB: positive('--layer-b', opts['layer-b']), backend: backendOf(opts.backend) };
}

/** A checked `generate` command line. */
export interface GenerateArgs {
  model: string;
  onnx?: string;
  text: string;
  maxNewTokens: number;
  /** A captioner's image (instead of `text`, which is then empty). */
  image?: string;
  /** Undefined: greedy. */
  sampling?: Sampling;
  /** Strongest keys printed per step. */
  top: number;
  json: boolean;
  backend: CliBackend;
}

/** Parses `generate …`; throws with the usage line on any mistake. */
export function parseGenerateArgs(argv: string[]): GenerateArgs {
  const opts: Record<string, string | true> = {};
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (['--model', '--onnx', '--text', '--text-file', '--image', '--max-new-tokens', '--temperature', '--top-k', '--top-p', '--seed', '--top', '--backend'].includes(a)) {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value. ${GENERATE_USAGE}`);
      opts[a.slice(2)] = argv[++i];
    } else throw new Error(`unknown argument ${a}. ${GENERATE_USAGE}`);
  }
  if (typeof opts.model !== 'string') throw new Error(`--model is required. ${GENERATE_USAGE}`);
  const onnx = onnxFileOf(opts.onnx);
  const number = (flag: string, ok: (n: number) => boolean, what: string): number | undefined => {
    const v = opts[flag.slice(2)];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || !ok(n)) throw new Error(`${flag} takes ${what} (got "${v}")`);
    return n;
  };
  const temperature = number('--temperature', (n) => n >= 0, 'a number from 0');
  const topK = positive('--top-k', opts['top-k']);
  const topP = number('--top-p', (n) => n > 0 && n <= 1, 'a number above 0, at most 1');
  const seed = number('--seed', (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'a whole number from 0 below 2³²');
  const sampling = [temperature, topK, topP, seed].some((v) => v !== undefined) ? { temperature, topK, topP, seed } : undefined;
  return {
    model: path.resolve(opts.model),
    onnx,
    ...generationSource(opts),
    maxNewTokens: positive('--max-new-tokens', opts['max-new-tokens']) ?? 20,
    sampling,
    top: positive('--top', opts.top) ?? 3,
    json: opts.json === true,
    backend: backendOf(opts.backend),
  };
}

/** `--<name>` or `--<name>-file`, exactly one (or neither when `optional`); never empty. */
/** What `generate` writes about: a text, or (`--image`) a captioner's image. */
function generationSource(opts: Record<string, string | true>): { text: string; image?: string } {
  if (typeof opts.image !== 'string') return { text: readText(opts, 'text', GENERATE_USAGE)! };
  if (opts.text !== undefined || opts['text-file'] !== undefined) throw new Error(`give one of --text, --text-file and --image. ${GENERATE_USAGE}`);
  return { text: '', image: path.resolve(opts.image) };
}

function readText(opts: Record<string, string | true>, name: string, usage: string, optional = false): string | undefined {
  const inline = opts[name], file = opts[`${name}-file`];
  if (typeof inline === 'string' && typeof file === 'string') throw new Error(`give one of --${name} and --${name}-file. ${usage}`);
  if (typeof inline !== 'string' && typeof file !== 'string') {
    if (optional) return undefined;
    throw new Error(`give exactly one of --${name} and --${name}-file. ${usage}`);
  }
  let text: string;
  if (typeof inline === 'string') text = inline;
  else {
    try {
      text = fs.readFileSync(file as string, 'utf8');
    } catch (e) {
      throw new Error(`cannot read --${name}-file ${file}: ${(e as Error).message}`);
    }
  }
  if (text.length === 0) throw new Error(`--${name} is empty: nothing to inspect`);
  return text;
}

/** True when the command line asks for help: no arguments, `help`, `--help` or `-h` anywhere. */
export function wantsHelp(argv: string[]): boolean {
  return argv.length === 0 || argv[0] === 'help' || argv.includes('--help') || argv.includes('-h');
}

/** A positive whole number for `flag`, or an error that says so. */
function positive(flag: string, v: string | true | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} takes a whole number from 1 (got "${v}")`);
  return n;
}

/** Parses `argv` (after the program name); throws with the usage line on any mistake. */
export function parseInspectArgs(argv: string[]): InspectArgs {
  if (argv[0] !== 'inspect') throw new Error(`unknown command "${argv[0]}": the commands are inspect, compare, generate and download. ${USAGE}`);
  const opts: Record<string, string | true> = {};
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (SWITCHES.has(a)) opts[a.slice(2)] = true;
    else if (VALUE_FLAGS.has(a)) {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value. ${USAGE}`);
      opts[a.slice(2)] = argv[++i];
    } else throw new Error(`unknown argument ${a}. ${USAGE}`);
  }
  if (typeof opts.model !== 'string') throw new Error(`--model is required. ${USAGE}`);
  const image = typeof opts.image === 'string' ? path.resolve(opts.image) : undefined;
  const text = readText(opts, 'text', USAGE, image !== undefined);
  if (image && text !== undefined) throw new Error(`give text or an image, not both. ${USAGE}`);
  if (image && (opts.words === true || opts.target !== undefined)) throw new Error('--words and --target are for text models: drop them with --image');
  const aggregate = opts.aggregate as string | undefined;
  if (aggregate !== undefined && !AGGREGATES.includes(aggregate as Aggregation)) throw new Error(`--aggregate must be one of ${AGGREGATES.join(', ')} (got "${aggregate}")`);
  const rollout = rolloutOptions(opts, aggregate);
  const hide = typeof opts.hide === 'string' ? opts.hide.split(',').map((h) => h.trim()) : [];
  const wrong = hide.find((h) => !HIDE.includes(h as HideChoice));
  if (wrong !== undefined) throw new Error(`--hide takes ${HIDE.join(', ')} or both, comma-separated (got "${wrong}")`);
  const exportFile = typeof opts.export === 'string' ? path.resolve(opts.export) : undefined;
  if (exportFile && !EXPORTS.includes(path.extname(exportFile).toLowerCase())) throw new Error(`--export writes ${EXPORTS.join(', ')} files (got "${opts.export}")`);
  if (opts.mechanism === true && opts.json !== true) throw new Error(`--mechanism adds to the JSON output: add --json. ${USAGE}`);
  if (opts.mechanism === true && (opts.words === true || hide.length > 0)) throw new Error('--mechanism shows tokens as the model sees them: drop --words and --hide');
  const onnx = onnxFileOf(opts.onnx);
  return {
    model: path.resolve(opts.model),
    onnx,
    text: text ?? '',
    ...(image ? { image } : {}),
    target: typeof opts.target === 'string' ? opts.target : undefined,
    json: opts.json === true,
    layer: positive('--layer', opts.layer),
    head: positive('--head', opts.head),
    top: positive('--top', opts.top) ?? 3,
    stats: opts.stats === true,
    aggregate: aggregate as Aggregation | undefined,
    ...(rollout ? { rollout } : {}),
    words: opts.words === true,
    hide: hide as HideChoice[],
    mechanism: opts.mechanism === true,
    export: exportFile,
    timings: opts.timings === true,
    backend: backendOf(opts.backend),
  };
}

/** `--rollout-fusion` and `--rollout-discard`, which only a rollout takes. */
function rolloutOptions(opts: Record<string, string | true>, aggregate: string | undefined): RolloutOptions | undefined {
  const fusion = opts['rollout-fusion'], discard = opts['rollout-discard'];
  if (fusion === undefined && discard === undefined) return undefined;
  if (aggregate !== 'rollout') throw new Error('--rollout-fusion and --rollout-discard go with --aggregate rollout');
  if (fusion !== undefined && !['mean', 'max', 'min'].includes(fusion as string)) throw new Error(`--rollout-fusion must be one of mean, max, min (got "${fusion}")`);
  const share = discard === undefined ? undefined : Number(discard);
  if (share !== undefined && !(share >= 0 && share < 1)) throw new Error(`--rollout-discard is a share from 0 to 0.99 (got "${discard}")`);
  return { ...(fusion !== undefined ? { fusion: fusion as RolloutOptions['fusion'] } : {}), ...(share !== undefined ? { discard: share } : {}) };
}

/** `--onnx`'s value: an ONNX file inside the model folder, or undefined. */
function onnxFileOf(v: string | true | undefined): string | undefined {
  if (typeof v !== 'string') return undefined;
  if (path.isAbsolute(v) || v.split(/[\\/]/).includes('..') || !v.endsWith('.onnx')) throw new Error(`--onnx names an ONNX file inside the model folder, such as onnx/model_q4.onnx (got "${v}")`);
  return v;
}

/** `--backend`'s value, default `native`. */
function backendOf(v: string | true | undefined): CliBackend {
  if (v === undefined) return 'native';
  if (!CLI_BACKENDS.includes(v as CliBackend)) throw new Error(`--backend takes ${CLI_BACKENDS.join(', ')} (got "${v}")`);
  return v as CliBackend;
}
