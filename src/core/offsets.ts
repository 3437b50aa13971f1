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
