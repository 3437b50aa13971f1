/**
 * The one way model- or document-provided text enters Markdown (editor hovers): as inert text,
 * whatever it contains. Pure.
 */

/** Visible stand-ins for characters that would break a line or a table row. */
const VISIBLE: Record<string, string> = { '\n': '↵', '\r': '␍', '\t': '⇥' };
/** ASCII punctuation: CommonMark lets a backslash escape each of them. */
const PUNCTUATION = /[!-/:-@[-`{-~]/;
/** Characters with no business in a label: C0/C1 controls, line/paragraph separators, bidi controls. */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * `text` as Markdown that renders exactly as written: every ASCII punctuation character is
 * backslash-escaped (no code span, emphasis, link, image, autolink, HTML, entity or table cell can
 * start or end inside it) and control characters become visible symbols. Never wrap the result in
 * a code span: backslashes do not escape there.
 */
export function inertMarkdown(text: string): string {
  let out = '';
  for (const ch of text) {
    if (VISIBLE[ch]) out += VISIBLE[ch];
    else if (INVISIBLE.test(ch)) out += '\uFFFD';
    else if (PUNCTUATION.test(ch)) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}
