/** HTML and Content Security Policy for Attention Lens webviews: one strict page shell for every view. */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { inlineSafe } from '../core/inlineScript';
import type { ExplorerPlace } from '../core/protocol/explorer';

/** A fresh nonce for one page load. */
export function nonce(): string {
  return crypto.randomBytes(18).toString('base64url');
}

/** What differs between pages: title, stylesheet and script (paths under the extension), body markup and data attributes. */
interface PageParts {
  title: string;
  css: string[];
  script: string[];
  /** Static markup written here; never model- or document-provided text. */
  body: string;
  /** `data-*` attributes of `<body>`: extension paths turned into webview URIs. */
  dataUris?: Record<string, string[]>;
  /** Plain `data-*` attributes of `<body>` (fixed words written here, never user text). */
  data?: Record<string, string>;
}

/** Extension files inlined into pages, by path, with the modification time they were read at (a watch build rewrites them). */
const inlined = new Map<string, { mtimeMs: number; text: string }>();

/** `file`'s text, read once per version. */
function fileText(file: string): string {
  const mtimeMs = fs.statSync(file).mtimeMs;
  const hit = inlined.get(file);
  if (hit?.mtimeMs === mtimeMs) return hit.text;
  const text = fs.readFileSync(file, 'utf8');
  inlined.set(file, { mtimeMs, text });
  return text;
}

/**
 * A page with a strict CSP (nonce, wasm-unsafe-eval, no remote origins). Its script and stylesheet
 * are inlined, under the page's nonce: a webview fetches its own resources through a service
 * worker and the extension host, which took 0.5–0.7 s for the first file in code-server (the
 * panel's start, measured by `npm run bench:first-picture`), where the page's HTML arrives at once.
 */
function page(webview: vscode.Webview, extensionUri: vscode.Uri, p: PageParts): string {
  const n = nonce();
  const uri = (parts: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...parts)).toString();
  const file = (parts: string[]) => vscode.Uri.joinPath(extensionUri, ...parts).fsPath;
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${n}' ${webview.cspSource} 'wasm-unsafe-eval'`,
    `worker-src ${webview.cspSource} blob:`,
    `connect-src ${webview.cspSource}`,
    `style-src ${webview.cspSource} 'nonce-${n}'`,
    `img-src ${webview.cspSource} data:`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  const data = [...Object.entries(p.dataUris ?? {}).map(([k, v]) => ` data-${k}="${uri(v)}"`), ...Object.entries(p.data ?? {}).map(([k, v]) => ` data-${k}="${v}"`)].join('');
  // The source map's address is relative to the script's, which an inlined script no longer has.
  const map = [...p.script.slice(0, -1), `${p.script[p.script.length - 1]}.map`];
  const script = fileText(file(p.script)).replace(/\/\/# sourceMappingURL=\S+\s*$/, `//# sourceMappingURL=${uri(map)}\n`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${n}">
${inlineSafe(fileText(file(p.css)))}
</style>
<title>${p.title}</title>
</head>
<body${data}>
${p.body}
<script type="module" nonce="${n}">
${inlineSafe(script)}
</script>
</body>
</html>`;
}

/** The attention panel page. */
export function attentionPanelHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  return page(webview, extensionUri, {
    title: 'Attention Lens',
    css: ['media', 'attentionPanel.css'],
    script: ['dist', 'webview.js'],
    dataUris: {
      'ort-wasm-bundle': ['dist', 'ort', 'ort.wasm.bundle.min.mjs'],
      'ort-wasm-mjs': ['dist', 'ort', 'ort-wasm-simd-threaded.mjs'],
      'ort-webgpu-bundle': ['dist', 'ort', 'ort.webgpu.bundle.min.mjs'],
      'ort-webgpu-mjs': ['dist', 'ort', 'ort-wasm-simd-threaded.asyncify.mjs'],
      'report-script': ['dist', 'report.js'],
    },
    body: `<div id="app" role="main">
  <header class="toolbar" role="toolbar" aria-label="Attention view controls">
    <select id="view-mode" aria-label="View"></select>
    <label>Attention <select id="layer-select" aria-label="Layer"></select></label>
    <div id="heads" class="heads" role="group" aria-label="Heads: click to show or hide, double-click or Shift+Enter to show only this head"></div>
    <select id="aggregate" aria-label="Heads or an aggregate"></select>
    <select id="rollout-fusion" aria-label="Rollout: how each layer's heads are fused" title="Rollout (Abnar &amp; Zuidema): each layer's heads fused by their mean, max or min (vit-explain's head fusion)" hidden></select>
    <select id="rollout-discard" aria-label="Rollout: the share of each layer's smallest weights dropped" title="Rollout: drop each fused layer's smallest weights first (vit-explain's discard ratio)" hidden></select>
    <label title="Merge subword tokens into words (the tokenizer's word ids)"><input type="checkbox" id="words"> Words</label>
    <select id="hide" aria-label="Hide tokens"></select>
    <select id="weighting" aria-label="Link strength: attention weights, or each head's contributions (norm of weight × value through the output projection)" title="Weights α, or contributions ‖α·v·W_O‖ (Kobayashi et al. 2020), normalised per query and head"></select>
    <button id="export" class="export" title="Export the head view (SVG, PNG) or the run's data (JSON, NumPy)…">Export…</button>
    <button id="compare" class="export" title="Run the selection through two models and compare their attention (Compare Models…)">Compare…</button>
    <button id="generate" class="export" title="Continue the selection with the model (an encoder-decoder model writes an output for it), showing what each new token was chosen from (Generate with Attention)">Generate</button>
    <span id="status" class="status" role="status" aria-live="polite">Waiting for a selection…</span>
  </header>
  <div id="compare-bar" class="toolbar compare-bar" role="toolbar" aria-label="Comparison controls" hidden>
    <select id="compare-show" aria-label="Comparison display"></select>
    <label>Model B <select id="layer-b" aria-label="Layer of model B compared with the layer on screen"></select></label>
    <span id="compare-models" class="compare-models"></span>
  </div>
  <section id="generation" class="generation" aria-label="Generated tokens" hidden>
    <div class="gen-head">
      <span id="gen-status" class="gen-status" role="status" aria-live="polite"></span>
      <button id="gen-stop" class="export" title="Stop generating after the step in progress; what was made is shown">Stop</button>
      <button id="gen-insert" class="export" title="Insert the generated text into the editor after the selection">Insert into Editor</button>
      <button id="gen-copy" class="export" title="Copy the generated text">Copy</button>
    </div>
    <div id="gen-tokens" class="gen-tokens" role="listbox" tabindex="0" aria-label="Generated tokens: left and right arrows move between steps"></div>
    <input type="range" id="gen-slider" class="gen-slider" aria-label="Generation step" hidden>
    <div id="gen-detail" class="gen-detail"></div>
    <details class="gen-list">
      <summary>Steps as text</summary>
      <ol id="gen-steps"></ol>
    </details>
  </section>
  <div id="notice" class="notice" hidden></div>
  <div id="prediction" class="prediction" role="status" title="The model's labels (config.json's id2label) by probability, a softmax over its logits" hidden></div>
  <div id="progress" class="progress" hidden><div class="bar"></div><span id="progress-text"></span></div>
  <div id="error" class="error" role="alert" hidden></div>
  <div class="views">
  <div id="view" class="view" tabindex="0" aria-label="Head view: queries on the left, keys on the right. Arrow keys move between tokens."></div>
  <div id="matrix" class="view" tabindex="0" hidden aria-label="Matrix view: queries down, keys across. Arrow keys move between queries; drag to zoom, double-click or Escape to zoom out."></div>
  <div id="view-b" class="view side-b" tabindex="0" hidden aria-label="Head view of model B, beside model A's: hover and scrolling follow A's."></div>
  <div id="matrix-b" class="view side-b" tabindex="0" hidden aria-label="Matrix view of model B, beside model A's."></div>
  <div id="correspondence" class="view correspondence" tabindex="0" hidden aria-label="Head correspondence: Jensen-Shannon distance from every head of A to every head of B; arrow keys move, Enter shows the pair side by side."></div>
  <div id="arcs" class="view" tabindex="0" hidden aria-label="Text view: the input with arcs to the tokens the hovered token attends to. Arrow keys move between tokens."></div>
  <div id="image-view" class="view" tabindex="0" hidden aria-label="Image view: the image's patches; hover one, or move with the arrow keys, to see a heat map of what it attends to."></div>
  <div id="mechanism" class="view mechanism" hidden aria-label="Mechanism view: one head's attention for one query token, step by step: query, keys, products, scores, weights, weighted values, output."></div>
  </div>
  <div id="tooltip" class="tooltip" role="tooltip" hidden></div>
  <details id="text-view" class="text-view">
    <summary id="link-list-title">Strongest links as text</summary>
    <ol id="link-list"></ol>
  </details>
</div>`,
  });
}

/** The head explorer page, for the sidebar view or an editor tab (`place`: the grid's scale, and an Open in Editor button in the sidebar). */
export function headExplorerHtml(webview: vscode.Webview, extensionUri: vscode.Uri, place: ExplorerPlace): string {
  const openInEditor = place === 'sidebar' ? '\n      <button id="open-editor" title="Open the head explorer full size in the editor area (Attention Lens: Open Head Explorer in Editor)">Open in Editor</button>' : '';
  return page(webview, extensionUri, {
    title: 'Head Explorer',
    css: ['media', 'headExplorer.css'],
    script: ['dist', 'explorer.js'],
    data: { place },
    body: `<div id="app">
  <p id="empty" class="empty">Select text and run <strong>Show Attention</strong>: every layer and head appears here.</p>
  <div id="measuring" class="empty" hidden><span id="measuring-text" role="status"></span> <button id="measuring-action"></button></div>
  <div id="main" hidden>
    <div class="controls" role="toolbar" aria-label="Head explorer controls">
      <label>Colour <select id="color-by" aria-label="Colour cells by"></select></label>
      <label>Sort <select id="sort-by" aria-label="Sort heads in each layer by"></select></label>
      <label>Label <select id="label-filter" aria-label="Show only heads with this label"></select></label>
      <button id="export" title="Export the grid as shown (SVG or PNG)…">Export…</button>${openInEditor}
    </div>
    <div id="title" class="title"></div>
    <div id="details" class="details" aria-live="polite"></div>
    <div id="grid" class="grid" tabindex="0" role="grid" aria-label="Heads: arrow keys move, Enter selects, Shift+Enter adds to the selection"></div>
    <details id="legend" class="legend" open>
      <summary>Legend</summary>
      <div id="legend-body"></div>
    </details>
  </div>
  <div id="tooltip" class="tooltip" role="tooltip" hidden></div>
</div>`,
  });
}
