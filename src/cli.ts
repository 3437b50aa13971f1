/**
 * Headless Attention Lens: `attention-lens inspect --model <folder> (--text <s> | --text-file <p>) [--target <s>] [--json]`.
 * Same pipeline as the extension (tokenize → run → extract) on onnxruntime-web's WASM backend.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import { toNested } from './core/attention';
import { readModelFolder, readOnnxBytes } from './models/modelFolder';
import { prepareInputs, truncationNotice } from './models/prepareInputs';
import { ModelTokenizer } from './models/tokenizer';
import { AttentionEngine } from './core/engine/attentionEngine';

const USAGE = 'usage: attention-lens inspect --model <folder> (--text <string> | --text-file <path>) [--target <string>] [--json]';

interface Args {
  model: string;
  text: string;
  target?: string;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  if (argv[0] !== 'inspect') throw new Error(USAGE);
  const opts: Record<string, string | true> = {};
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (a === '--model' || a === '--text' || a === '--text-file' || a === '--target') {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value. ${USAGE}`);
      opts[a.slice(2)] = argv[++i];
    } else throw new Error(`unknown argument ${a}. ${USAGE}`);
  }
  if (typeof opts.model !== 'string') throw new Error(`--model is required. ${USAGE}`);
  if ((typeof opts.text === 'string') === (typeof opts['text-file'] === 'string')) throw new Error(`give exactly one of --text and --text-file. ${USAGE}`);
  let text: string;
  if (typeof opts.text === 'string') text = opts.text;
  else {
    try {
      text = fs.readFileSync(opts['text-file'] as string, 'utf8');
    } catch (e) {
      throw new Error(`cannot read --text-file ${opts['text-file']}: ${(e as Error).message}`);
    }
  }
  if (text.length === 0) throw new Error('the text is empty: nothing to inspect');
  return { model: path.resolve(opts.model), text, target: typeof opts.target === 'string' ? opts.target : undefined, json: opts.json === true };
}

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const info = readModelFolder(args.model);
  const tokenizer = ModelTokenizer.load(info.folder);
  const prepared = await prepareInputs(info, tokenizer, args.text, args.target);
  const notice = truncationNotice(prepared, info.maxPositions);
  if (notice) process.stderr.write(`warning: ${notice}\n`);
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const engine = await AttentionEngine.create(ort, readOnnxBytes(info), 'wasm', path.relative(info.folder, info.onnxPath));
  const { layers, millis } = await engine.run({
    ids: prepared.tokens.map((t) => t.id),
    decoderIds: prepared.decoderTokens?.map((t) => t.id),
  });
  await engine.dispose();
  const result = {
    model: { folder: info.folder, architecture: info.architecture },
    backend: engine.backend,
    tokens: prepared.tokens,
    ...(prepared.decoderTokens ? { decoderTokens: prepared.decoderTokens } : {}),
    attention: layers.map((l) => ({ name: l.name, kind: l.kind, layer: l.layer, heads: l.heads, queries: l.queries, keys: l.keys, weights: toNested(l) })),
  };
  if (args.json) {
    await writeOut(JSON.stringify(result) + '\n');
    return;
  }
  process.stdout.write(`${info.architecture} · ${prepared.tokens.length} tokens · ${layers.length} attention layers · ${engine.backend} · ${millis.toFixed(0)} ms\n`);
  for (const l of layers) process.stdout.write(`  ${l.name}: ${l.heads} heads × ${l.queries} × ${l.keys}\n`);
}

/** Writes to stdout and waits until it is flushed: exiting earlier truncates output to a pipe. */
function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (e) => (e ? reject(e) : resolve())));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`attention-lens: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
    process.exit(1);
  },
);
