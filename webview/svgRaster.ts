/** SVG figures as PNG in the browser: drawn on a canvas at `scale` times their size. Browser only. */

/** `svg` rasterised at `scale`× its size, as PNG bytes. */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const img = new Image();
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth * scale;
  canvas.height = img.naturalHeight * scale;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no canvas to draw the PNG on');
  ctx.scale(scale, scale);
  ctx.drawImage(img, 0, 0);
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error(`the figure is too large for a PNG (${canvas.width} × ${canvas.height} pixels); export SVG instead`);
  return new Uint8Array(await blob.arrayBuffer());
}
