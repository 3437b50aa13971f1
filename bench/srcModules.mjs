// Modules of src/ for the node benchmarks, bundled as dist/cli.mjs is (protobuf inside; onnxruntime
// and tokenizers external), written under node_modules so the externals resolve, imported, and the
// bundle file removed.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');

/** The module made of `lines` (`export { … } from './src/…';`), with `external` left to node. */
export async function importFromSrc(lines, external = ['onnxruntime-web', 'onnxruntime-node', 'tokenizers']) {
  const cacheDir = path.join(root, 'node_modules', '.cache', 'attention-lens-bench');
  fs.mkdirSync(cacheDir, { recursive: true });
  const file = path.join(cacheDir, `src-${process.pid}.mjs`);
  await esbuild.build({
    stdin: { contents: lines.join('\n'), resolveDir: root, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external,
    banner: { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' },
    outfile: file,
    logLevel: 'error',
  });
  try {
    return await import(pathToFileURL(file).href);
  } finally {
    fs.rmSync(file, { force: true });
  }
}
