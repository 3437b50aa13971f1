/**
 * Offset conversion between the units the tokenizer reports (Unicode code points) and the
 * units VS Code counts (UTF-16 code units).
 * Pure: no vscode import, used by the host, the CLI and tests.
 */

/** Maps every code-point index of `text` (0..n inclusive) to its UTF-16 offset. */
export function codePointToUtf16Table(text: string): Uint32Array {
  const table: number[] = [];
  let utf16 = 0;
  for (const ch of text) {
    table.push(utf16);
    utf16 += ch.length;
  }
  table.push(utf16);
  return Uint32Array.from(table);
}

/**
 * Converts `[start, end)` code-point offsets (as `tokenizers` reports them) to UTF-16 offsets.
 * Offsets past the end of the text clamp to its length.
 */
export function offsetsToUtf16(text: string, offsets: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const table = codePointToUtf16Table(text);
  const last = table.length - 1;
  const at = (cp: number): number => table[Math.max(0, Math.min(cp, last))];
  return offsets.map(([s, e]) => [at(s), at(e)]);
}

/** Text as a token-to-span comparison sees it: compatibility-decomposed, without marks, case or spaces (normalizers change these). */
function comparable(s: string): string {
  return s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, '');
}

/** What a token stands for, for comparing with its span: undefined when it cannot be compared (a byte fragment, nothing). */
function surfaceKey(surface: string | undefined): string | undefined {
  if (surface === undefined || surface.includes('\uFFFD')) return undefined;
  const key = comparable(surface.replace(/^##/, ''));
  return key === '' ? undefined : key;
}

/** Tokens' spans after `checkOffsets`: where each token sits, and which could not be placed. */
export interface CheckedOffsets {
  spans: Array<[number, number]>;
  /** The token's reported span was impossible and its text could not be found: it has an empty span. */
  unplaced: boolean[];
  /** Tokens whose span was moved to where their text is. */
  repaired: number;
}

/**
 * Checks the UTF-16 spans a tokenizer reported against the text. A span must lie inside the text,
 * not start before the previous token's and, where the token's `surface` (what it decodes to)
 * can be compared, hold that text (up to normalization: case, marks, compatibility forms,
 * spaces). A span that fails is moved to where the surface occurs, when it occurs exactly once
 * between the previous placed token and the next sound one; an impossible span whose text cannot
 * be found is marked unplaced (empty, so nothing in the editor is highlighted for it). A span that
 * is possible but holds other text (an unknown token, a normalization not undone) is kept.
 * Special tokens keep their spans.
 */
export function checkOffsets(text: string, tokens: ReadonlyArray<{ start: number; end: number; special: boolean }>, surfaces: ReadonlyArray<string | undefined>): CheckedOffsets {
  const spans = tokens.map((t): [number, number] => [t.start, t.end]);
  const unplaced = tokens.map(() => false);
  const keys = surfaces.map(surfaceKey);
  const inside = (i: number, from: number) => tokens[i].start >= from && tokens[i].start <= tokens[i].end && tokens[i].end <= text.length;
  const holds = (i: number) => keys[i] === undefined || comparable(text.slice(tokens[i].start, tokens[i].end)) === keys[i];
  let repaired = 0;
  let prevStart = 0, prevEnd = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i].special) continue;
    if (inside(i, prevStart) && holds(i)) {
      [prevStart, prevEnd] = spans[i];
      continue;
    }
    // The next token whose span is sound bounds the search.
    let limit = text.length;
    for (let j = i + 1; j < tokens.length; j++) {
      if (!tokens[j].special && keys[j] !== undefined && inside(j, prevEnd) && holds(j)) {
        limit = tokens[j].start;
        break;
      }
    }
    const found = locate(text, surfaces[i], keys[i], prevEnd, limit);
    if (found) {
      spans[i] = found;
      repaired++;
    } else if (!inside(i, prevStart)) {
      spans[i] = [prevEnd, prevEnd];
      unplaced[i] = true;
      continue;
    }
    [prevStart, prevEnd] = spans[i];
  }
  return { spans, unplaced, repaired };
}

/** The one place in `text[from, to)` whose comparable form is `key` (the surface's length, spaces trimmed), or undefined. */
function locate(text: string, surface: string | undefined, key: string | undefined, from: number, to: number): [number, number] | undefined {
  if (surface === undefined || key === undefined) return undefined;
  const needle = surface.replace(/^##/, '').trim();
  let hit: [number, number] | undefined;
  for (let at = text.indexOf(needle, from); at >= 0 && at + needle.length <= to; at = text.indexOf(needle, at + 1)) {
    if (hit) return undefined; // twice: ambiguous
    hit = [at, at + needle.length];
  }
  return hit;
}
