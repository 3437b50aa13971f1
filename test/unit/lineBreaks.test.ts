// Compare with Edited Text on a selection of several lines: VS Code's input box drops line breaks
// from its value, so they are shown as a mark and made line breaks again.
import { describe, expect, it } from 'vitest';
import { showLineBreaks } from '../../src/core/lineBreaks';

describe('showLineBreaks', () => {
  it('shows each line break as a mark, and gives the edited text its line breaks back', () => {
    const lines = showLineBreaks('The cat sat.\nA dog barked.\n\nRain fell.');
    expect(lines).toMatchObject({ shown: 'The cat sat.⏎A dog barked.⏎⏎Rain fell.', mark: '⏎' });
    expect(lines.restore(lines.shown)).toBe('The cat sat.\nA dog barked.\n\nRain fell.');
    expect(lines.restore('Yesterday the cat sat.⏎A dog barked.⏎Rain fell.⏎')).toBe('Yesterday the cat sat.\nA dog barked.\nRain fell.\n');
  });

  it('keeps a Windows document’s line breaks, and picks a mark the text does not contain', () => {
    const crlf = showLineBreaks('a ⏎ b\r\nc');
    expect(crlf).toMatchObject({ shown: 'a ⏎ b↵c', mark: '↵' });
    expect(crlf.restore('a ⏎ b↵c↵d')).toBe('a ⏎ b\r\nc\r\nd');
  });

  it('leaves a text of one line as it is', () => {
    const one = showLineBreaks('The cat sat ⏎ on the mat.');
    expect([one.shown, one.mark]).toEqual(['The cat sat ⏎ on the mat.', undefined]);
    expect(one.restore('The dog sat ⏎')).toBe('The dog sat ⏎');
  });
});
