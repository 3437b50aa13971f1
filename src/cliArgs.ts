/** Arguments of `attention-lens inspect`: parsed and checked, with messages that say what to type. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Aggregation } from './core/analysis/aggregate';
import type { HideChoice } from './core/analysis/hiding';

/** The usage line, shown with every argument error. */
export const USAGE = 'usage: attention-lens inspect --model <folder> (--text <string> | --text-file <path>) [--target <string>] [--json] [--stats] [--aggregate mean|max|rollout] [--words] [--hide special|first[,…]]';

/** A checked `inspect` command line. */
export interface InspectArgs {
  model: string;
  text: string;
  target?: string;
  json: boolean;
  stats: boolean;
  aggregate?: Aggregation;
  words: boolean;
  hide: HideChoice[];
}

const VALUE_FLAGS = new Set(['--model', '--text', '--text-file', '--target', '--aggregate', '--hide']);
const SWITCHES = new Set(['--json', '--stats', '--words']);
const AGGREGATES: readonly Aggregation[] = ['mean', 'max', 'rollout'];
const HIDE: readonly HideChoice[] = ['special', 'first'];

/** Parses `argv` (after the program name); throws with the usage line on any mistake. */
export function parseInspectArgs(argv: string[]): InspectArgs {
  if (argv[0] !== 'inspect') throw new Error(USAGE);
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
  const aggregate = opts.aggregate as string | undefined;
  if (aggregate !== undefined && !AGGREGATES.includes(aggregate as Aggregation)) throw new Error(`--aggregate must be one of ${AGGREGATES.join(', ')} (got "${aggregate}")`);
  const hide = typeof opts.hide === 'string' ? opts.hide.split(',').map((h) => h.trim()) : [];
  const wrong = hide.find((h) => !HIDE.includes(h as HideChoice));
  if (wrong !== undefined) throw new Error(`--hide takes ${HIDE.join(', ')} or both, comma-separated (got "${wrong}")`);
  return {
    model: path.resolve(opts.model),
    text,
    target: typeof opts.target === 'string' ? opts.target : undefined,
    json: opts.json === true,
    stats: opts.stats === true,
    aggregate: aggregate as Aggregation | undefined,
    words: opts.words === true,
    hide: hide as HideChoice[],
  };
}
