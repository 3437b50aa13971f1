/**
 * Tokenization with the model's own `tokenizer.json` through Hugging Face's `tokenizers`.
 * No vscode import: used by the extension host and the CLI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from 'tokenizers';
import { checkOffsets, offsetsToUtf16 } from '../core/offsets';
import type { TokenInfo } from '../core/tokens';
import { ModelFolderError } from './modelFolder';

/** The tokens of one text, possibly truncated to the model's maximum length. */
export interface Tokenized {
  tokens: TokenInfo[];
  /** Number of tokens the full text would have had when it was truncated; undefined otherwise. */
  truncatedFrom?: number;
}

/**
 * A loaded tokenizer bound to one model folder. Its `tokenizers` instances are never changed after
 * they are made (one without truncation, one per maximum length), so overlapping calls cannot see
 * each other's settings across an `await`.
 */
export class ModelTokenizer {
  private readonly truncating = new Map<number, Tokenizer>();

  private constructor(private readonly tokenizer: Tokenizer, readonly file: string) {
    tokenizer.disableTruncation();
  }

  /** Loads `tokenizer.json` from `folder`; throws `ModelFolderError` naming the file if it is invalid. */
  static load(folder: string): ModelTokenizer {
    const file = path.join(folder, 'tokenizer.json');
    if (!fs.existsSync(file)) throw new ModelFolderError(`tokenizer.json is missing in ${folder}.`);
    return new ModelTokenizer(ModelTokenizer.read(file), file);
  }

  private static read(file: string): Tokenizer {
    try {
      return Tokenizer.fromFile(file);
    } catch (e) {
      throw new ModelFolderError(`tokenizer.json is not a valid Hugging Face tokenizer: ${file} (${String((e as Error).message ?? e).split('\n')[0]}).`);
    }
  }

  /** A second instance that always truncates to `maxTokens` (made once per length). */
  private truncatingTo(maxTokens: number): Tokenizer {
    let t = this.truncating.get(maxTokens);
    if (!t) {
      t = ModelTokenizer.read(this.file);
      t.setTruncation(maxTokens);
      this.truncating.set(maxTokens, t);
    }
    return t;
  }

  /** The text of `ids` as the tokenizer's decoder writes it (special tokens kept; an incomplete UTF-8 sequence as U+FFFD). */
  decode(ids: readonly number[]): Promise<string> {
    return this.tokenizer.decode([...ids], false);
  }

  /**
   * Generated `ids` as text and tokens: the text as the decoder writes it, and each token spanning
   * what its id added to that text, offset by `base` (where the output starts in the text the
   * tokens index). A token that begins a multi-byte character its successor completes spans
   * nothing; the one that completes it spans the character. `special` marks ids such as EOS.
   */
  async continuation(ids: readonly number[], base: number, special: (id: number) => boolean = () => false): Promise<{ text: string; tokens: TokenInfo[] }> {
    const ends: number[] = [];
    for (let i = 1; i <= ids.length; i++) ends.push((await this.decode(ids.slice(0, i))).length);
    const text = await this.decode(ids);
    const tokens = ids.map((id, i): TokenInfo => {
      const end = Math.min(ends[i], text.length);
      return { id, text: this.idToToken(id), start: base + Math.min(ends[i - 1] ?? 0, end), end: base + end, special: special(id) };
    });
    return { text, tokens };
  }

  /** The vocabulary without added tokens, and the ids of the added (special) tokens, from tokenizer.json. */
  vocabulary(): { size: number; added: Set<number> } {
    const added = new Set<number>();
    try {
      const json = JSON.parse(fs.readFileSync(this.file, 'utf8')) as { added_tokens?: Array<{ id?: unknown }> };
      for (const t of json.added_tokens ?? []) if (typeof t.id === 'number') added.add(t.id);
    } catch {
      /* read when loaded: a file changed since counts as having no added tokens */
    }
    return { size: this.tokenizer.getVocabSize(false), added };
  }

  /** Every token's string by id (added tokens included; `<id>` where an id has none). */
  tokenStrings(): string[] {
    const vocab = this.tokenizer.getVocab(true);
    const out: string[] = [];
    for (const [token, id] of Object.entries(vocab)) out[id] = token;
    for (let i = 0; i < out.length; i++) out[i] ??= `<${i}>`;
    return out;
  }

  /** The string form of a token id (for labels such as a decoder start token). */
  idToToken(id: number): string {
    return this.tokenizer.idToToken(id) ?? `<${id}>`;
  }

  /** Tokenizes `text` with the tokenizer's own special tokens, keeping at most `maxTokens`. */
  async tokenize(text: string, maxTokens: number): Promise<Tokenized> {
    const full = await this.tokenizer.encode(text);
    let enc = full;
    let truncatedFrom: number | undefined;
    if (full.getLength() > maxTokens) {
      truncatedFrom = full.getLength();
      enc = await this.truncatingTo(maxTokens).encode(text);
    }
    const ids = enc.getIds();
    const texts = enc.getTokens();
    const special = enc.getSpecialTokensMask();
    const words = enc.getWordIds();
    const reported = offsetsToUtf16(text, enc.getOffsets() as Array<[number, number]>);
    // Each span is checked against what its token decodes to: tokenizers have reported shifted
    // spans after literal special-token strings ("<s>" in HTML); those are moved or left unplaced.
    const surfaces = await this.tokenizer.decodeBatch(ids.map((id) => [id]), false);
    const checked = checkOffsets(text, reported.map(([start, end], i) => ({ start, end, special: special[i] === 1 })), surfaces);
    const tokens: TokenInfo[] = ids.map((id, i) => {
      const word = words[i];
      const [start, end] = checked.spans[i];
      const t: TokenInfo = { id, text: texts[i], start, end, special: special[i] === 1 };
      if (typeof word === 'number' && special[i] !== 1) t.word = word;
      if (checked.unplaced[i]) t.unplaced = true;
      return t;
    });
    return { tokens, truncatedFrom };
  }
}

/**
 * Hugging Face's shift-right for encoder-decoder models: the decoder sees
 * `[decoder_start_token_id] + target[:-1]`. Each decoder token keeps the text and range of the
 * target token it stands for; the start token has an empty range at 0.
 */
export function shiftRight(target: TokenInfo[], startId: number, startText: string): TokenInfo[] {
  return [{ id: startId, text: startText, start: 0, end: 0, special: true }, ...target.slice(0, -1)];
}
