/**
 * A standalone HTML report of a run: one file with the text, the head view, the matrix, every
 * head as a thumbnail grid and the head statistics, interactive (layer and head choice, hover) in
 * any modern browser, offline, with nothing outside the file. The page's script (the report
 * bundle) and style are inline and allowed by their SHA-256 hashes in a Content-Security-Policy
 * that forbids everything else, network included; the run travels as JSON with each layer's
 * float32 weights in base64 (full precision). Written as a stream of text chunks. Pure.
 */
import type { AttentionLayer } from '../attention';
import type { TokenInfo } from '../tokens';
import { escapeXml } from '../figure/svg';
import { inlineSafe } from '../inlineScript';

/** What the report shows. */
export interface ReportRun {
  title: string;
  model: string;
  text: string;
  tokens: readonly TokenInfo[];
  decoderTokens?: readonly TokenInfo[];
  causal: boolean;
  layers: readonly AttentionLayer[];
  /** An image model's run: the image file (drawn under the heat map), its type and size in pixels. */
  image?: { name: string; mime: string; width: number; height: number; bytes: Uint8Array };
}

/** The JSON the page reads (`#report-data`): the run, with `data` in base64 per layer (and the image's bytes). */
export interface ReportData extends Omit<ReportRun, 'layers' | 'image'> {
  created: string;
  layers: Array<Omit<AttentionLayer, 'data'> & { data: string }>;
  image?: Omit<NonNullable<ReportRun['image']>, 'bytes'> & { data: string };
}

/** The report's style: light and dark follow the reader's system; the views read these variables as VS Code's. */
export const REPORT_CSS = `
:root { color-scheme: light dark;
  --vscode-editor-background: #ffffff; --vscode-editor-foreground: #1f1f1f; --vscode-foreground: #1f1f1f;
  --vscode-descriptionForeground: #6e6e6e; --vscode-focusBorder: #0066b8; --vscode-panel-border: #d4d4d4;
  --vscode-charts-blue: #1a85ff; --vscode-charts-red: #e51400; --vscode-charts-orange: #d18616;
  --vscode-editor-font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; --vscode-font-family: system-ui, sans-serif; }
@media (prefers-color-scheme: dark) { :root {
  --vscode-editor-background: #1e1e1e; --vscode-editor-foreground: #d4d4d4; --vscode-foreground: #cccccc;
  --vscode-descriptionForeground: #9d9d9d; --vscode-focusBorder: #3794ff; --vscode-panel-border: #3c3c3c; } }
body { margin: 0; padding: 12px 16px; color: var(--vscode-foreground); background: var(--vscode-editor-background); font-family: var(--vscode-font-family); font-size: 13px; }
h1 { font-size: 16px; margin: 0 0 4px; } .meta { color: var(--vscode-descriptionForeground); margin: 0 0 12px; }
.text { white-space: pre-wrap; font-family: var(--vscode-editor-font-family); border-left: 3px solid var(--vscode-panel-border); padding: 4px 8px; margin: 0 0 12px; max-height: 8em; overflow: auto; }
.controls { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; padding: 8px 0; background: var(--vscode-editor-background); border-bottom: 1px solid var(--vscode-panel-border); }
.heads { display: flex; flex-wrap: wrap; gap: 4px; }
button.head { min-width: 26px; padding: 2px 6px; color: #fff; background: var(--head-color); border: 2px solid transparent; border-radius: 3px; cursor: pointer; font: inherit; }
button.head.off { color: var(--vscode-descriptionForeground); background: transparent; border-color: var(--head-color); opacity: 0.6; }
.panes { display: grid; grid-template-columns: minmax(320px, 1fr) minmax(320px, 1fr); gap: 16px; margin-top: 8px; }
.view { position: relative; height: 70vh; min-height: 240px; overflow: auto; border: 1px solid var(--vscode-panel-border); }
.head-view .stage { position: sticky; top: 0; } .head-view .sizer { width: 1px; } .head-view canvas { position: absolute; left: 0; top: 0; }
.matrix-view { overflow: hidden; } .matrix-view canvas { position: absolute; left: 0; top: 0; } .matrix-view canvas.matrix-overlay { pointer-events: none; }
.tooltip { position: fixed; z-index: 3; padding: 4px 8px; pointer-events: none; background: var(--vscode-editor-background); border: 1px solid var(--vscode-panel-border); font-family: var(--vscode-editor-font-family); font-size: 12px; white-space: pre; }
h2 { font-size: 14px; margin: 16px 0 6px; }
.grid { display: grid; gap: 4px; align-items: center; } .grid .row-label { color: var(--vscode-descriptionForeground); font-size: 12px; }
.grid canvas { width: 48px; height: 48px; image-rendering: pixelated; border: 1px solid var(--vscode-panel-border); cursor: pointer; }
.grid canvas.selected { outline: 2px solid var(--vscode-focusBorder); }
table.stats { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 12px; }
.image-view { display: flex; flex-direction: column; gap: 4px; } .image-specials { display: flex; flex-wrap: wrap; gap: 4px; }
.image-special { font: inherit; font-family: var(--vscode-editor-font-family); color: var(--vscode-foreground); background: transparent; border: 1px solid var(--vscode-panel-border); padding: 0 6px; cursor: pointer; }
.image-special.current, .image-special:focus-visible { outline: 1px solid var(--vscode-focusBorder); } .image-caption { color: var(--vscode-descriptionForeground); }
table.stats th, table.stats td { padding: 2px 8px; text-align: right; border-bottom: 1px solid var(--vscode-panel-border); } table.stats td:last-child, table.stats th:last-child { text-align: left; }
`;

/** Bytes of base64 encoded per piece (a multiple of 3, so pieces join without padding). */
const BASE64_PIECE = 3 * 64 * 1024;

/** `bytes` (a float32 layer's little-endian bytes, an image file) in base64, piece by piece. */
function* base64Pieces(bytes: Uint8Array): Generator<string> {
  for (let at = 0; at < bytes.length; at += BASE64_PIECE) {
    const piece = bytes.subarray(at, at + BASE64_PIECE);
    let binary = '';
    for (let i = 0; i < piece.length; i += 8192) binary += String.fromCharCode(...piece.subarray(i, i + 8192));
    yield btoa(binary);
  }
}

/** JSON inside a <script> element: `<` escaped so no text can close the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/**
 * The report as text chunks, in order; `script` is the report page's bundle (dist/report.js).
 * Layers are written one at a time, so a large run never becomes one string.
 */
export async function* htmlReportChunks(run: ReportRun, script: string, created = new Date().toISOString()): AsyncGenerator<string> {
  const safeScript = inlineSafe(script);
  const csp = `default-src 'none'; script-src 'sha256-${await sha256(safeScript)}'; style-src 'sha256-${await sha256(REPORT_CSS)}'; img-src data:`;
  yield `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(run.title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<noscript>This report needs JavaScript to draw its views; the data is in the #report-data element of this file.</noscript>
<script type="application/json" id="report-data">`;
  const { layers, image, ...rest } = run;
  const picture = image && { name: image.name, mime: image.mime, width: image.width, height: image.height, data: [...base64Pieces(image.bytes)].join('') };
  const head = scriptJson({ ...rest, ...(picture ? { image: picture } : {}), created });
  yield `${head.slice(0, -1)},"layers":[`;
  for (const [i, l] of layers.entries()) {
    const { data, ...meta } = l;
    const m = scriptJson(meta);
    yield `${i > 0 ? ',' : ''}${m.slice(0, -1)},"data":"`;
    yield* base64Pieces(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    yield '"}';
  }
  yield `]}</script>
<script>${safeScript}</script>
</body>
</html>
`;
}
