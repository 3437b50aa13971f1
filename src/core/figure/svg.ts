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

/**
 * The opening of a figure: the `<svg>` element sized `width` × `height` CSS pixels in the given
 * font, and a background rectangle (a figure carries its theme's background with it).
 */
export function svgStart(width: number, height: number, style: { background: string; fontFamily: string }, fontPx: number, attributes = ''): string[] {
  const w = svgNumber(width);
  const h = svgNumber(height);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="${escapeXml(style.fontFamily)}" font-size="${fontPx}"${attributes}>`,
    `<rect width="100%" height="100%" fill="${style.background}"/>`,
  ];
}

/** Height of a figure's title line. */
export const TITLE_HEIGHT = 24;

/** A figure's title line at the top left (none without a title). */
export function svgTitle(title: string | undefined, x: number, color: string): string[] {
  return title ? [`<text x="${x}" y="14" fill="${color}" font-size="12">${escapeXml(title)}</text>`] : [];
}

/** Width and height of a figure made by `svgStart`. */
export function svgSize(svg: string): { width: number; height: number } {
  const m = /^<svg [^>]*?width="([\d.]+)" height="([\d.]+)"/.exec(svg);
  if (!m) throw new Error('not a figure made by svgStart');
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Figures side by side in one SVG (each nested whole, at its own size), `gap` pixels apart, under an optional title. */
export function svgBeside(figures: readonly string[], gap: number, style: { background: string; foreground: string; fontFamily: string }, fontPx: number, title?: string): string {
  const sizes = figures.map(svgSize);
  const titleH = title ? TITLE_HEIGHT : 0;
  const width = sizes.reduce((w, s) => w + s.width, 0) + gap * Math.max(0, figures.length - 1);
  const height = Math.max(0, ...sizes.map((s) => s.height)) + titleH;
  const out = [...svgStart(width, height, style, fontPx), ...svgTitle(title, 6, style.foreground)];
  let x = 0;
  figures.forEach((f, i) => {
    out.push(f.replace(/^<svg /, `<svg x="${svgNumber(x)}" y="${titleH}" `));
    x += sizes[i].width + gap;
  });
  out.push('</svg>');
  return out.join('\n');
}
