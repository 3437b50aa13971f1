// A standing fuzz suite, bounded and seeded (same inputs every run, well under a minute):
// random Unicode through every fixture tokenizer, checking the offset invariants the editor relies
// on; and truncated and bit-flipped copies of a fixture model through the engine, each of which
// must end in a clear error or a correct result, never a crash, a hang or a wrong answer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { AttentionEngine, EngineError, allLayers } from '../../src/core/engine/attentionEngine';
import { Tokenizer } from 'tokenizers';
import { ModelTokenizer } from '../../src/models/tokenizer';
import { rng } from './attentionGraphs';
import { FIXTURES, ROOT } from './cli';


/** Pieces text is made of: ASCII, spaces and controls, accents and combining marks, CJK, RTL, emoji (astral, ZWJ), literal special tokens. */
const PIECES = [
  'the', 'cat', 'Attention', ' ', '  ', '\n', '\t', '\r\n', '.', ',', '!?', '(', ')', '"', "'", '-', '—', '…', '123', '3.14',
  'é', 'e\u0301', 'ñ', 'ß', 'Æ', 'İ', 'ﬁ', '\u0300', '中文', '日本語', 'かな', '한국어', 'עברית', 'العربية', 'Ελληνικά', 'кириллица',
  '😀', '👩‍💻', '🇫🇷', '𝔘𝔫𝔦', '\u200b', '\u00a0', '\u0000', '\u001b[31m', '<s>', '</s>', '<unk>', '<pad>', '[CLS]', '[SEP]', '<|endoftext|>', '##', 'Ġ', '▁',
];

function randomText(next: () => number): string {
  const n = Math.floor(next() * 24);
  let s = '';
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(next() * PIECES.length)];
  return s;
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

const TOKENIZERS = [
  ...['wordpiece', 'bytelevel', 'llama', 'roberta-style'].map((n) => path.join(FIXTURES, 'tokenizers', n)),
  path.join(FIXTURES, 'models/t5-attn'),
  path.join(ROOT, 'media/models/tiny-causal'),
];

describe('fuzz: tokenizer offsets', () => {
  it.each(TOKENIZERS.map((f) => [path.relative(ROOT, f), f]))('%s: inside the text, in order, never inside a surrogate pair, on 300 random texts', async (_name, folder) => {
    const tokenizer = ModelTokenizer.load(folder);
    const next = rng(0xa77e);
    for (let run = 0; run < 300; run++) {
      const text = randomText(next);
      const { tokens } = await tokenizer.tokenize(text, 100_000);
      let lastStart = 0;
      for (const [i, t] of tokens.entries()) {
        const where = `${JSON.stringify(text)} token ${i} ${JSON.stringify(t.text)} [${t.start}, ${t.end})`;
        expect(Number.isInteger(t.start) && Number.isInteger(t.end), where).toBe(true);
        expect(t.start >= 0 && t.start <= t.end && t.end <= text.length, where).toBe(true);
        // A span never starts or ends between the two halves of a surrogate pair (an emoji half-highlighted).
        if (t.start > 0 && t.start < text.length) expect(isHigh(text.charCodeAt(t.start - 1)) && isLow(text.charCodeAt(t.start)), where).toBe(false);
        if (t.end > 0 && t.end < text.length) expect(isHigh(text.charCodeAt(t.end - 1)) && isLow(text.charCodeAt(t.end)), where).toBe(false);
        if (!t.special && t.end > t.start) {
          expect(t.start >= lastStart, `${where}: out of order after ${lastStart}`).toBe(true);
          lastStart = t.start;
        }
      }
    }
  });
});

describe('fuzz: token text matches its span', () => {
  // Byte-level BPE without a normalizer promises it: every token but a byte fragment of a
  // character decodes to exactly the text it covers (the leading space aside, which spans trim).
  it.each(['bytelevel', 'roberta-style'].map((n) => [n]))('%s: on 300 random texts with literal special-token strings', async (name) => {
    const folder = path.join(FIXTURES, 'tokenizers', name);
    const tokenizer = ModelTokenizer.load(folder);
    const library = Tokenizer.fromFile(path.join(folder, 'tokenizer.json'));
    const next = rng(0x5ba7);
    let compared = 0;
    for (let run = 0; run < 300; run++) {
      const text = randomText(next);
      const { tokens } = await tokenizer.tokenize(text, 100_000);
      const decoded = await library.decodeBatch(tokens.map((t) => [t.id]), false);
      tokens.forEach((t, i) => {
        if (t.special || decoded[i].includes('\uFFFD')) return;
        expect(t.unplaced, `${JSON.stringify(text)} token ${i}`).toBeUndefined();
        expect(text.slice(t.start, t.end).trim(), `${JSON.stringify(text)} token ${i} ${JSON.stringify(t.text)} [${t.start}, ${t.end})`).toBe(decoded[i].trim());
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(1000);
  });
});

describe('fuzz: damaged models', () => {
  const original = new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'models/gpt2-attn/onnx/model.onnx')));
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal';

  /** Runs a damaged copy: a clear EngineError, or attention that is still a distribution per row. */
  async function outcome(bytes: Uint8Array): Promise<'error' | 'ok'> {
    let engine: AttentionEngine | undefined;
    try {
      engine = await AttentionEngine.create(ort, bytes, 'wasm');
      const { layers } = await allLayers(await engine.run({ ids: [1, 2, 3, 4] }));
      for (const l of layers) {
        expect(l.data.every(Number.isFinite)).toBe(true); // NaN and infinities become 0 with a warning
        for (let r = 0; r < l.heads * l.queries; r++) {
          let sum = 0;
          for (let k = 0; k < l.keys; k++) sum += l.data[r * l.keys + k];
          // Rows of a softmax sum to 1; a damaged weight may zero a row (then it was NaN and is reported).
          expect(Math.abs(sum - 1) < 1e-3 || sum === 0, `row ${r} sums to ${sum}`).toBe(true);
        }
      }
      return 'ok';
    } catch (e) {
      expect(e, String(e)).toBeInstanceOf(EngineError);
      expect((e as Error).message.length).toBeGreaterThan(20);
      return 'error';
    } finally {
      await engine?.dispose();
    }
  }

  it('truncated copies end in a clear error, whatever the cut', async () => {
    const next = rng(7);
    const cuts = [0, 1, 16, 100, original.length - 1, ...Array.from({ length: 10 }, () => Math.floor(next() * original.length))];
    for (const cut of cuts) expect([cut, await outcome(original.slice(0, cut))]).toEqual([cut, 'error']);
  });

  it('bit-flipped copies end in a clear error or a result that is still attention', async () => {
    const next = rng(11);
    const seen = { ok: 0, error: 0 };
    for (let i = 0; i < 20; i++) {
      const copy = original.slice();
      for (let f = 0; f < 1 + Math.floor(next() * 4); f++) {
        const at = Math.floor(next() * copy.length);
        copy[at] ^= 1 << Math.floor(next() * 8);
      }
      seen[await outcome(copy)]++;
    }
    expect(seen.ok + seen.error).toBe(20);
  });
});
