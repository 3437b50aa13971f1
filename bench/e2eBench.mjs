// Runs a benchmark that drives the real VS Code through the e2e harness (TypeScript):
// `node bench/e2eBench.mjs firstPicture` bundles bench/firstPicture.ts with esbuild and calls its
// `main`. The bundle sits in out/bench/, two folders below the root like the harness, so the
// harness finds the repository. Needs the linux-x64 VSIX (npm run package -- --target linux-x64).
import * as esbuild from 'esbuild';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const name = process.argv[2];
if (!/^\w+$/.test(name ?? '')) throw new Error('usage: node bench/e2eBench.mjs <firstPicture|soak|llm|native|long|generation> [args]');
const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'out/bench', `${name}.mjs`);
/**
 * Packages stay node's to load, except the CommonJS ones src/core imports by name (onnx-proto,
 * protobufjs/minimal): node's ESM loader finds no named exports in them, so they are bundled.
 */
const BUNDLED = /^(onnx-proto|protobufjs)(\/|$)/;
const packagesOutside = {
  name: 'packages-outside',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => (args.kind === 'entry-point' || BUNDLED.test(args.path) ? undefined : { path: args.path, external: true }));
  },
};
await esbuild.build({
  entryPoints: [path.join(root, 'bench', `${name}.ts`)], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: out, plugins: [packagesOutside], logLevel: 'warning',
  banner: { js: 'import { fileURLToPath as __f } from "node:url"; import { dirname as __d } from "node:path"; import { createRequire as __cr } from "node:module"; const __dirname = __d(__f(import.meta.url)); const require = __cr(import.meta.url);' },
});
const mod = await import(pathToFileURL(out).href);
await mod.main();
