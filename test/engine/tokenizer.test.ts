// Tokens and UTF-16 offsets from ModelTokenizer against the Hugging Face tokenizer references.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelTokenizer } from '../../src/models/tokenizer';
import { FIXTURES } from './cli';

interface TokenizerReference {
  text: string;
  ids: number[];
  tokens: string[];
  offsets_utf16: Array<[number, number]>;
  special_tokens_mask: number[];
}

describe.each(['wordpiece', 'bytelevel', 'llama'])('%s tokenizer', (name) => {
  const folder = path.join(FIXTURES, 'tokenizers', name);
  const refs = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8')) as TokenizerReference[];
  const tokenizer = ModelTokenizer.load(folder);

  it.each(refs.map((r) => [JSON.stringify(r.text.slice(0, 30)), r] as const))('%s', async (_label, ref) => {
    const { tokens, truncatedFrom } = await tokenizer.tokenize(ref.text, 100_000);
    expect(truncatedFrom).toBeUndefined();
    expect(tokens.map((t) => t.id)).toEqual(ref.ids);
    expect(tokens.map((t) => t.text)).toEqual(ref.tokens);
    expect(tokens.map((t) => [t.start, t.end])).toEqual(ref.offsets_utf16);
    expect(tokens.map((t) => (t.special ? 1 : 0))).toEqual(ref.special_tokens_mask);
  });

  it('truncates to the model maximum and reports the full length', async () => {
    const long = refs.reduce((a, r) => (r.ids.length > a.ids.length ? r : a));
    const { tokens, truncatedFrom } = await tokenizer.tokenize(long.text, 16);
    expect(tokens.length).toBe(16);
    expect(truncatedFrom).toBe(long.ids.length);
  });

  it('keeps overlapping calls apart: a long truncated text and a short full one at once', async () => {
    const long = refs.reduce((a, r) => (r.ids.length > a.ids.length ? r : a));
    const short = refs.reduce((a, r) => (r.ids.length < a.ids.length ? r : a));
    const fresh = ModelTokenizer.load(folder);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? fresh.tokenize(long.text, 8) : fresh.tokenize(short.text, 100_000))));
    results.forEach((r, i) => {
      if (i % 2 === 0) expect([r.tokens.length, r.truncatedFrom]).toEqual([8, long.ids.length]);
      else expect([r.tokens.map((t) => t.id), r.truncatedFrom]).toEqual([short.ids, undefined]);
    });
  });
});
