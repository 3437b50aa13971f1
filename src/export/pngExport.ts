/**
 * PNG figures for the CLI: an SVG figure rasterised at twice its size (as the panel does) by resvg,
 * with the system's fonts. Kept apart from the other exports: resvg is a native module only the CLI
 * loads (the panel rasterises in the browser).
 */
import { Resvg } from '@resvg/resvg-js';
import { writeAtomically } from './fileExport';

/** Writes `svg` to `file` as a PNG at 2×, atomically; returns the bytes written. */
export function exportPng(file: string, svg: string): Promise<number> {
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans Mono' } }).render().asPng();
  return writeAtomically(file, (sink) => Promise.resolve(sink(new Uint8Array(png.buffer, png.byteOffset, png.byteLength))));
}
