import { describe, expect, it } from 'vitest';
import { codePointToUtf16Table, offsetsToUtf16 } from '../../src/core/offsets';

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
