/** HTML and Content Security Policy for Attention Lens webviews. */
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';

/** A fresh nonce for one page load. */
export function nonce(): string {
  return crypto.randomBytes(18).toString('base64url');
}

/** The panel page: a strict CSP (nonce, wasm-unsafe-eval, no remote origins) and the webview bundle. */
export function attentionPanelHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const n = nonce();
  const uri = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p)).toString();
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${n}' ${webview.cspSource} 'wasm-unsafe-eval'`,
    `worker-src ${webview.cspSource} blob:`,
    `connect-src ${webview.cspSource}`,
    `style-src ${webview.cspSource} 'nonce-${n}'`,
    `img-src ${webview.cspSource} data:`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${uri('media', 'attentionPanel.css')}" nonce="${n}">
<title>Attention Lens</title>
</head>
<body data-ort="${uri('dist', 'ort', 'ort.webgpu.bundle.min.mjs')}"
      data-ort-wasm-mjs="${uri('dist', 'ort', 'ort-wasm-simd-threaded.asyncify.mjs')}"
      data-ort-wasm="${uri('dist', 'ort', 'ort-wasm-simd-threaded.asyncify.wasm')}">
<div id="app" role="main">
  <header class="toolbar" role="toolbar" aria-label="Attention view controls">
    <label>Attention <select id="layer-select" aria-label="Layer"></select></label>
    <div id="heads" class="heads" role="group" aria-label="Heads: click to show or hide, double-click or Shift+Enter to show only this head"></div>
    <span id="status" class="status" role="status" aria-live="polite">Waiting for a selection…</span>
  </header>
  <div id="notice" class="notice" hidden></div>
  <div id="progress" class="progress" hidden><div class="bar"></div><span id="progress-text"></span></div>
  <div id="error" class="error" role="alert" hidden></div>
  <div id="view" class="view" tabindex="0" aria-label="Head view: queries on the left, keys on the right. Arrow keys move between tokens."></div>
  <div id="tooltip" class="tooltip" role="tooltip" hidden></div>
  <details id="text-view" class="text-view">
    <summary>Strongest links as text</summary>
    <ol id="link-list"></ol>
  </details>
</div>
<script type="module" nonce="${n}" src="${uri('dist', 'webview.js')}"></script>
</body>
</html>`;
}
