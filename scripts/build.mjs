// Bundles the extension host, the CLI, the webviews (panel, head explorer) and the HTML report's page with esbuild, copies the
// onnxruntime-web runtime files the webview loads from extension files, and draws the Marketplace icon.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const watch = process.argv.includes('--watch');
// WebAssembly runs load the WASM-only bundle (14 MB binary); only WebGPU runs need the asyncify build (26 MB).
const ORT_FILES = ['ort.wasm.bundle.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort.webgpu.bundle.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs'];
// The binaries travel gzipped (14 → 3.7 MB, 26 → 6.6 MB): the host sends them to the panel by message,
// which moves a few MB/s in code-server, and the page inflates them with DecompressionStream.
const ORT_BINARIES = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.wasm'];

const ortOut = path.join(dist, 'ort');
fs.rmSync(ortOut, { recursive: true, force: true });
fs.mkdirSync(ortOut, { recursive: true });
for (const f of ORT_FILES) fs.copyFileSync(path.join(root, 'node_modules/onnxruntime-web/dist', f), path.join(ortOut, f));
for (const f of ORT_BINARIES) {
  const gz = zlib.gzipSync(fs.readFileSync(path.join(root, 'node_modules/onnxruntime-web/dist', f)), { level: 9 });
  fs.writeFileSync(path.join(ortOut, `${f}.gz`), gz);
}

// The Marketplace's icon: a 128 × 128 PNG (it takes no SVG), drawn from the activity icon's SVG.
const { Resvg } = await import('@resvg/resvg-js');
fs.writeFileSync(path.join(dist, 'icon.png'), new Resvg(fs.readFileSync(path.join(root, 'media/icon.svg')), { fitTo: { mode: 'width', value: 128 }, background: '#1e1e1e' }).render().asPng());

// The JPEG and WebP decoders' WebAssembly (MozJPEG, libwebp), read beside the bundles by the CLI and the extension host.
fs.copyFileSync(path.join(root, 'node_modules/@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'), path.join(dist, 'mozjpeg_dec.wasm'));
fs.copyFileSync(path.join(root, 'node_modules/@jsquash/webp/codec/dec/webp_dec.wasm'), path.join(dist, 'webp_dec.wasm'));

const common = { bundle: true, sourcemap: true, logLevel: 'warning', absWorkingDir: root };
// The panel's layer worker (a long input's layers computed off the page's thread), as text inside
// the panel's script: a webview's files are of another origin, which a worker may not load.
const layerWorker = await esbuild.build({ entryPoints: ['webview/panel/layerWorker.ts'], bundle: true, write: false, absWorkingDir: root, platform: 'browser', format: 'iife', target: 'es2022', minify: true, logLevel: 'warning' });
const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', platform: 'node', format: 'cjs', target: 'node20', external: ['vscode', 'tokenizers', 'onnxruntime-node'] },
  // The native engine's worker thread in the extension host (onnxruntime-node's run() blocks its thread).
  { ...common, entryPoints: ['src/native/nativeWorker.ts'], outfile: 'dist/nativeWorker.js', platform: 'node', format: 'cjs', target: 'node20', external: ['onnxruntime-node'] },
  { ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.mjs', platform: 'node', format: 'esm', target: 'node20', external: ['tokenizers', 'onnxruntime-web', 'onnxruntime-node', '@resvg/resvg-js'], banner: { js: '#!/usr/bin/env node\nimport { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' } },
  // The pages are minified (webview.js 616 → 340 KB): each byte crosses code-server's connection as the panel starts.
  { ...common, entryPoints: ['webview/panel/main.ts'], outfile: 'dist/webview.js', platform: 'browser', format: 'esm', target: 'es2022', external: ['onnxruntime-web'], minify: true, define: { __LAYER_WORKER__: JSON.stringify(layerWorker.outputFiles[0].text) } },
  { ...common, entryPoints: ['webview/explorer/main.ts'], outfile: 'dist/explorer.js', platform: 'browser', format: 'esm', target: 'es2022', minify: true },
  // The HTML report's page: inlined into each report, so minified and without a source map.
  { ...common, entryPoints: ['webview/report/main.ts'], outfile: 'dist/report.js', platform: 'browser', format: 'iife', target: 'es2022', minify: true, sourcemap: false, legalComments: 'none' },
];

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('watching…');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  fs.chmodSync(path.join(dist, 'cli.mjs'), 0o755);
}
