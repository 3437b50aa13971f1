// Builds one VSIX per platform, each carrying only that platform's `tokenizers` binary and
// onnxruntime-node build (the native engine; none for linux-armhf, Alpine and darwin-x64, where
// onnxruntime-node has no build and the panel's own engines run everything).
// usage: node scripts/package.mjs [--target linux-x64 ...]   (default: every target below)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
/** VS Code target → file name of the tokenizers binary it needs. */
export const TARGETS = {
  'linux-x64': 'tokenizers.linux-x64-gnu.node',
  'linux-arm64': 'tokenizers.linux-arm64-gnu.node',
  'linux-armhf': 'tokenizers.linux-arm-gnueabihf.node',
  'alpine-x64': 'tokenizers.linux-x64-musl.node',
  'alpine-arm64': 'tokenizers.linux-arm64-musl.node',
  'darwin-x64': 'tokenizers.darwin-x64.node',
  'darwin-arm64': 'tokenizers.darwin-arm64.node',
  'win32-x64': 'tokenizers.win32-x64-msvc.node',
  'win32-arm64': 'tokenizers.win32-arm64-msvc.node',
};

/** VS Code target → onnxruntime-node's binary folder for it (bin/napi-v6/<platform>/<arch>). */
export const NATIVE = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};
/** onnxruntime-node's JavaScript, and the onnxruntime-common it requires, for every target that has a build. */
const NATIVE_JS = [
  'node_modules/onnxruntime-node/package.json',
  'node_modules/onnxruntime-node/dist/*.js',
  'node_modules/onnxruntime-common/package.json',
  'node_modules/onnxruntime-common/dist/cjs/**/*.js',
  'node_modules/onnxruntime-common/dist/cjs/package.json',
];

const args = process.argv.slice(2);
const wanted = args.flatMap((a, i) => (args[i - 1] === '--target' ? [a] : []));
const targets = wanted.length ? wanted : Object.keys(TARGETS);
for (const t of targets) if (!TARGETS[t]) throw new Error(`unknown target ${t}; known: ${Object.keys(TARGETS).join(', ')}`);

execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
const base = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const vsce = path.join(root, 'node_modules/@vscode/vsce/vsce');
const outDir = path.join(root, 'out');
fs.mkdirSync(outDir, { recursive: true });
for (const target of targets) {
  const ignore = path.join(os.tmpdir(), `attention-lens-${target}.vscodeignore`);
  const native = NATIVE[target] ? [...NATIVE_JS, `node_modules/onnxruntime-node/bin/napi-v6/${NATIVE[target]}/**`].map((p) => `!${p}`) : [];
  fs.writeFileSync(ignore, [base, `!node_modules/tokenizers/${TARGETS[target]}`, ...native, ''].join('\n'));
  const out = path.join(outDir, `${pkg.name}-${target}-${pkg.version}.vsix`);
  execFileSync(process.execPath, [vsce, 'package', '--target', target, '--ignoreFile', ignore, '--out', out, '--no-rewrite-relative-links', '--allow-missing-repository'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  console.log(`${target}: ${out} (${(fs.statSync(out).size / 1048576).toFixed(1)} MB)`);
}
