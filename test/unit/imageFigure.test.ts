// The image view as an SVG figure: the embedded image, the patch grid, the heat map of one row
// relative to its strongest patch, the query outlined; text inert.
import { describe, expect, it } from 'vitest';
import { imageSvg } from '../../src/core/figure/imageFigure';
import { distanceChartSvg } from '../../src/core/figure/distanceFigure';
import { LIGHT_STYLE } from '../../src/core/figure/headViewFigure';
import { imageTokens } from '../../src/core/image/patches';

describe('imageSvg', () => {
  // A 40 × 20 image resized to 16 × 16, 8-pixel patches: [CLS] and a 2 × 2 grid.
  const tokens = imageTokens({ original: { width: 40, height: 20 }, resized: { width: 16, height: 16 }, crop: { left: 0, top: 0, width: 16, height: 16 } }, 8, 5);
  const base = { href: 'data:image/png;base64,AAAA', width: 40, height: 20, scale: 2, tokens, style: LIGHT_STYLE, accent: '#f0a030', focus: '#007fd4' };

  it('draws the image, the grid, and the row as tints relative to its strongest patch, with the query outlined', () => {
    const svg = imageSvg({ ...base, row: { query: 2, weights: [0.5, 0.1, 0.2, 0.0, 0.2] }, title: 'photo <1>.png · what patch 0,1 attends to' });
    expect(svg).toContain('<image href="data:image/png;base64,AAAA" x="0" y="0" width="80" height="40"');
    const tints = [...svg.matchAll(/fill="#f0a030" fill-opacity="([\d.]+)"/g)].map((m) => Number(m[1]));
    // Patches 0,0 (0.1), 0,1 (0.2), 1,1 (0.2); 1,0 has no weight; the class token's 0.5 is not drawn.
    expect(tints).toEqual([0.4, 0.8, 0.8]);
    // Patch 0,1 spans x 20–40 of the image's 40 pixels, drawn at 2×: 40–80.
    expect(svg).toContain('<rect x="40" y="0" width="40" height="20" fill="none" stroke="#007fd4" stroke-width="2"/>');
    expect(svg.match(/stroke="#ffffff"/g)).toHaveLength(4);
    expect(svg).toContain('photo &lt;1&gt;.png');
  });

  it('without a row, draws the image and the grid alone', () => {
    const svg = imageSvg(base);
    expect(svg).not.toContain('fill="#f0a030"');
    expect(svg.match(/stroke="#ffffff"/g)).toHaveLength(4);
  });
});

describe('distanceChartSvg', () => {
  it('puts one dot per head at its layer and distance, on a scale up to the largest', () => {
    const svg = distanceChartSvg([{ layer: 0, head: 0, value: 10 }, { layer: 0, head: 1, value: 20 }, { layer: 1, head: 0, value: 5 }], 2, LIGHT_STYLE, '#f0a030', 260, 150);
    const dots = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    // x: 34 (layer 1) and 252 (layer 2); y: 8 at the top (20 px), 122 at 0.
    expect(dots).toEqual([[34, 65], [34, 8], [252, 93.5]]);
    expect(svg).toContain('<title>layer 1, head 2: 20 px</title>');
    expect(svg).toContain('>20</text>');
  });
});
