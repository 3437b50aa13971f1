/** Tokens as the rest of Attention Lens sees them. Pure: shared by every side. */

/** One token of the inspected text; `start`/`end` are UTF-16 offsets into that text. */
export interface TokenInfo {
  id: number;
  text: string;
  start: number;
  end: number;
  special: boolean;
  /** The tokenizer's word id; tokens of one word share it. Absent for special tokens. */
  word?: number;
  /** The tokenizer reported an impossible span and the token's text could not be found: its span is empty. */
  unplaced?: boolean;
}

/** A short, printable label for a token (byte-level and SentencePiece markers made readable). */
export function tokenLabel(t: Pick<TokenInfo, 'text'>): string {
  return t.text
    .replace(/^Ġ/, '·')
    .replace(/^▁/, '·')
    .replace(/Ċ/g, '↵')
    .replace(/ĉ/g, '⇥')
    .replace(/\n/g, '↵')
    .replace(/\t/g, '⇥');
}

const MARKERS: ReadonlyArray<[string, string]> = [['·', '· leading space'], ['↵', '↵ newline'], ['⇥', '⇥ tab']];

/** What the markers `tokenLabel` puts in `labels` mean ("· leading space, ↵ newline"), or '' when there are none. */
export function markerLegend(labels: readonly string[]): string {
  const text = labels.join('');
  return MARKERS.filter(([m]) => text.includes(m)).map(([, meaning]) => meaning).join(', ');
}
