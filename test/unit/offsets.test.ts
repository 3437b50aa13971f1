import { describe, expect, it } from 'vitest';
import { checkOffsets, codePointToUtf16Table, offsetsToUtf16 } from '../../src/core/offsets';

describe('code points → UTF-16', () => {
  it('is the identity for BMP text', () => {
    expect(offsetsToUtf16('hello world', [[0, 5], [6, 11]])).toEqual([[0, 5], [6, 11]]);
  });

  it('counts astral characters (emoji) as two units', () => {
    const text = 'a😀b';
    expect(Array.from(codePointToUtf16Table(text))).toEqual([0, 1, 3, 4]);
    expect(offsetsToUtf16(text, [[1, 2], [2, 3]])).toEqual([[1, 3], [3, 4]]);
  });

  it('handles an emoji ZWJ sequence with skin tone', () => {
    const family = '👨\u200d👩\u200d👧'; // 5 code points, 8 UTF-16 units
    const text = `x ${family} y`;
    expect(Array.from(text).length).toBe(9);
    expect(offsetsToUtf16(text, [[2, 7], [8, 9]])).toEqual([[2, 10], [11, 12]]);
    const thumbs = '👍🏽'; // 2 code points, 4 units
    expect(offsetsToUtf16(thumbs, [[0, 1], [1, 2], [0, 2]])).toEqual([[0, 2], [2, 4], [0, 4]]);
  });

  it('keeps combining marks as their own code points', () => {
    const text = 'e\u0301t'; // e + combining acute + t
    expect(offsetsToUtf16(text, [[0, 2], [2, 3]])).toEqual([[0, 2], [2, 3]]);
    const astralCombining = '𝔘\u0301x';
    expect(offsetsToUtf16(astralCombining, [[0, 2], [2, 3]])).toEqual([[0, 3], [3, 4]]);
  });

  it('clamps offsets past the end', () => {
    expect(offsetsToUtf16('ab', [[1, 99]])).toEqual([[1, 2]]);
  });
});

describe('offsets in CRLF text', () => {
  it('maps token offsets after a CRLF and an astral character to the right UTF-16 range', () => {
    const text = 'one\r\ntwo 😀 three';
    const [[s, e]] = offsetsToUtf16(text, [[11, 16]]); // "three" in code points
    expect(text.slice(s, e)).toBe('three');
    expect(s).toBe(12);
  });
});

describe('checkOffsets', () => {
  const tok = (start: number, end: number, special = false) => ({ start, end, special });

  it('keeps spans that hold their tokens, up to case, marks, compatibility forms and spaces', () => {
    const text = 'Héllo 𝔘nicode, wörld';
    // 𝔘 takes two UTF-16 units: " 𝔘nicode" is [5, 14).
    const tokens = [tok(0, 0, true), tok(0, 5), tok(5, 14), tok(14, 15), tok(15, 21), tok(21, 21, true)];
    const r = checkOffsets(text, tokens, ['<s>', 'hello', ' Unicode', ',', ' wo\u0308rld', '</s>']);
    expect(r.spans).toEqual(tokens.map((t) => [t.start, t.end]));
    expect(r.repaired).toBe(0);
    expect(r.unplaced.some(Boolean)).toBe(false);
  });

  it('moves shifted spans after a literal special-token string to where their text is', () => {
    // "Use <s>bold</s> here": the tokens after the literal <s> were reported 3 characters late.
    const text = 'Use <s>bold</s> here';
    const tokens = [tok(0, 0, true), tok(0, 3), tok(4, 7, true), tok(10, 14), tok(14, 18, true), tok(18, 23), tok(20, 20, true)];
    const r = checkOffsets(text, tokens, ['<s>', 'Use', '<s>', 'bold', '</s>', ' here', '</s>']);
    expect(r.spans[3]).toEqual([7, 11]);
    expect(text.slice(...r.spans[3])).toBe('bold');
    expect(text.slice(...r.spans[5])).toBe('here');
    expect(r.repaired).toBe(2);
  });

  it('marks a token unplaced when its span is impossible and its text is nowhere to be found once', () => {
    const text = 'ab ab';
    // The second token is reported past the end of the text; "ab" occurs after the first token, but that is where the third one sits (sound), so there is no room.
    const tokens = [tok(0, 2), tok(9, 11), tok(3, 5)];
    const r = checkOffsets(text, tokens, ['ab', 'ab', 'ab']);
    expect(r.unplaced).toEqual([false, true, false]);
    expect(r.spans[1]).toEqual([2, 2]);
    expect(r.spans[2]).toEqual([3, 5]);
  });

  it('keeps a possible span that holds other text (an unknown token), and skips byte fragments', () => {
    const text = 'a 😀 b';
    const tokens = [tok(0, 1), tok(2, 4), tok(2, 4), tok(5, 6)];
    const r = checkOffsets(text, tokens, ['a', '\uFFFD', '[UNK]', 'b']);
    expect(r.spans).toEqual([[0, 1], [2, 4], [2, 4], [5, 6]]);
    expect(r.unplaced.some(Boolean)).toBe(false);
  });
});
