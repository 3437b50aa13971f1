import { describe, expect, it } from 'vitest';
import { codePointToUtf16Table, offsetsToUtf16, positionAt } from '../../src/core/offsets';

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

describe('positionAt', () => {
  it('counts lines on LF, CRLF and lone CR like VS Code', () => {
    const text = 'ab\r\ncd\nef\rgh';
    expect(positionAt(text, 0)).toEqual({ line: 0, character: 0 });
    expect(positionAt(text, 2)).toEqual({ line: 0, character: 2 });
    expect(positionAt(text, 4)).toEqual({ line: 1, character: 0 });
    expect(positionAt(text, 5)).toEqual({ line: 1, character: 1 });
    expect(positionAt(text, 7)).toEqual({ line: 2, character: 0 });
    expect(positionAt(text, 10)).toEqual({ line: 3, character: 0 });
    expect(positionAt(text, 12)).toEqual({ line: 3, character: 2 });
  });

  it('keeps an offset between CR and LF on the line the pair ends', () => {
    expect(positionAt('ab\r\ncd', 3)).toEqual({ line: 0, character: 3 });
  });

  it('maps token offsets in CRLF text to the right line', () => {
    const text = 'one\r\ntwo 😀 three';
    const [[s, e]] = offsetsToUtf16(text, [[11, 16]]); // "three" in code points
    expect(text.slice(s, e)).toBe('three');
    expect(positionAt(text, s)).toEqual({ line: 1, character: 7 });
  });
});
