/** Small pieces every SVG figure needs: inert text and compact numbers. Pure. */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/**
 * `text` safe inside an XML element or attribute: markup characters become entities and control
 * characters XML cannot hold are dropped, so text from a model or a document stays text.
 */
export function escapeXml(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '').replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** A number with at most `digits` decimals and no trailing zeros (SVG coordinates, weights). */
export function svgNumber(x: number, digits = 2): string {
  return String(Number(x.toFixed(digits)));
}

/**
 * A width estimate for monospace text where nothing can measure it (the CLI): 0.6 em per
 * character, wide characters (CJK, emoji) twice that.
 */
export function monospaceMeasure(fontPx: number): (text: string) => number {
  return (text) => {
    let units = 0;
    for (const c of text) units += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{1f300}-\u{1faff}]/u.test(c) ? 2 : 1;
    return units * 0.6 * fontPx;
  };
}
