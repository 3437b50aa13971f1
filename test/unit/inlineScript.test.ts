import { describe, expect, it } from 'vitest';
import { inlineSafe } from '../../src/core/inlineScript';

describe('inlineSafe', () => {
  it('leaves no sequence that closes a script or style element, and the script computes the same', () => {
    const source = 'const a = "</script>"; const b = `<style>x</style>`; const c = /<\\/script>/i.test("</SCRIPT>"); return [a, b, c, "</Style", "</div>"];';
    const safe = inlineSafe(source);
    expect(safe).not.toMatch(/<\/(script|style)/i);
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    expect(new Function(safe)()).toEqual(new Function(source)());
    expect(safe).toContain('</div>');
  });
});
