/** Arguments of `attention-lens inspect`: parsed and checked, with messages that say what to type. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Aggregation, RolloutOptions } from './core/analysis/aggregate';
import type { HideChoice } from './core/analysis/hiding';
import type { Sampling } from './core/generation/sampling';
import { QUERY_KEYS_ABOVE_BYTES } from './core/queryKeys';
import { DATA_EXPORTS, FIGURE_EXPORTS } from './export/fileExport';
import { COMPARE_USAGE, DOWNLOAD_USAGE, GENERATE_USAGE, USAGE } from './cliHelp';

const EXPORTS: readonly string[] = [...DATA_EXPORTS, ...FIGURE_EXPORTS];

/** The backends `--backend` takes; `native` is the default. */
export const CLI_BACKENDS = ['native', 'native-cuda', 'wasm'] as const;
export type CliBackend = (typeof CLI_BACKENDS)[number];

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
  /** Past this many bytes of weights, layers are kept as queries and keys (`--keep-weights-mb`). */
  keepWeightsBytes: number;
  /** Print the stages' times on stderr. */
  timings: boolean;
  backend: CliBackend;
}

const VALUE_FLAGS = new Set(['--model', '--onnx', '--text', '--text-file', '--image', '--target', '--aggregate', '--rollout-fusion', '--rollout-discard', '--hide', '--layer', '--head', '--top', '--export', '--keep-weights-mb', '--backend']);
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
  /** Per model, the ONNX file in its folder `--onnx` chose after it (two variants of one folder: the same folder twice). */
  onnx: Array<string | undefined>;
  text: string;
  /** Two image models on this image (`text` is then empty). */
  image?: string;
  textB?: string;
  json: boolean;
  diff: boolean;
  /** 1-based layer of B every layer of A is compared with; undefined: proportional. */
  layerB?: number;
  /** Past this many bytes of a side's weights, its layers are kept as queries and keys (`--keep-weights-mb`). */
  keepWeightsBytes: number;
  backend: CliBackend;
}

/** Parses `compare …`; throws with the usage line on any mistake. */
export function parseCompareArgs(argv: string[]): CompareArgs {
  const models: string[] = [];
  const onnx: Array<string | undefined> = [];
  const opts: Record<string, string | true> = {};
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json' || a === '--diff') opts[a.slice(2)] = true;
    else if (['--model', '--onnx', '--text', '--text-file', '--text-b', '--text-b-file', '--image', '--layer-b', '--keep-weights-mb', '--backend'].includes(a)) {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value. ${COMPARE_USAGE}`);
      if (a === '--model') {
        models.push(path.resolve(argv[++i]));
        onnx.push(undefined);
      } else if (a === '--onnx') {
        // Each --onnx chooses the file of the --model before it.
        if (models.length === 0 || onnx[models.length - 1] !== undefined) throw new Error(`--onnx follows the --model whose file it chooses, once each. ${COMPARE_USAGE}`);
        onnx[models.length - 1] = onnxFileOf(argv[++i]);
      } else opts[a.slice(2)] = argv[++i];
    } else throw new Error(`unknown argument ${a}. ${COMPARE_USAGE}`);
  }
  if (models.length < 1 || models.length > 2) throw new Error(`give one --model (two texts) or two (one text). ${COMPARE_USAGE}`);
  if (typeof opts.image === 'string') {
    if (models.length !== 2 || ['text', 'text-file', 'text-b', 'text-b-file'].some((k) => opts[k] !== undefined)) throw new Error(`--image compares two models (two --model) on one image, without --text. ${COMPARE_USAGE}`);
    if (opts.diff === true && opts.json !== true) throw new Error(`--diff adds to the JSON output: add --json. ${COMPARE_USAGE}`);
    return { models, onnx, text: '', image: path.resolve(opts.image), json: opts.json === true, diff: opts.diff === true, layerB: positive('--layer-b', opts['layer-b']), keepWeightsBytes: keepWeightsOf(opts['keep-weights-mb']), backend: backendOf(opts.backend) };
  }
  const text = readText(opts, 'text', COMPARE_USAGE)!;
  const textB = readText(opts, 'text-b', COMPARE_USAGE, true);
  if (models.length === 1 && textB === undefined) throw new Error(`one model compares two texts: add --text-b, or a second --model. ${COMPARE_USAGE}`);
  if (models.length === 2 && textB !== undefined) throw new Error('compare two models on one text, or two texts on one model, not both at once');
  if (opts.diff === true && opts.json !== true) throw new Error(`--diff adds to the JSON output: add --json. ${COMPARE_USAGE}`);
  return { models, onnx, text, textB, json: opts.json === true, diff: opts.diff === true, layerB: positive('--layer-b', opts['layer-b']), keepWeightsBytes: keepWeightsOf(opts['keep-weights-mb']), backend: backendOf(opts.backend) };
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
    keepWeightsBytes: keepWeightsOf(opts['keep-weights-mb']),
    timings: opts.timings === true,
    backend: backendOf(opts.backend),
  };
}

/** `--keep-weights-mb`'s value in bytes (default QUERY_KEYS_ABOVE_BYTES, as `attentionLens.keepWeightsMB`). */
function keepWeightsOf(v: string | true | undefined): number {
  if (v === undefined) return QUERY_KEYS_ABOVE_BYTES;
  const mb = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(mb) || mb < 0) throw new Error(`--keep-weights-mb takes a number of megabytes from 0 (got "${v}")`);
  return mb * 1e6;
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
