/**
 * A text with line breaks in VS Code's one-line input box: the box drops them from its value, so
 * each is shown as a mark the user can see, keep, move or paste, and made a line break again
 * afterwards. Pure.
 */

/** The marks tried, in order: the first the text does not already contain is used. */
const MARKS = ['⏎', '↵', '¶'];

export interface LineBreaksShown {
  /** The text with each line break as `mark` (the text as it is when it has none). */
  shown: string;
  /** The mark, or undefined when the text has no line break (or contains every mark). */
  mark?: string;
  /** An edited `shown` with each mark a line break again (as the text's first one: `\r\n`, `\n` or `\r`). */
  restore(edited: string): string;
}

/** `text` ready for a one-line input box. */
export function showLineBreaks(text: string): LineBreaksShown {
  const first = /\r\n|\n|\r/.exec(text);
  const mark = first ? MARKS.find((m) => !text.includes(m)) : undefined;
  if (!first || !mark) return { shown: text, restore: (edited) => edited };
  return { shown: text.replace(/\r\n|\n|\r/g, mark), mark, restore: (edited) => edited.split(mark).join(first[0]) };
}
