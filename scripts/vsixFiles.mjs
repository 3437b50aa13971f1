// What each platform's VSIX carries: .vscodeignore plus that platform's tokenizers binary and
// onnxruntime-node build. Used by scripts/package.mjs and by the test that checks `vsce ls`.
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

/** Writes the ignore file for `target` (.vscodeignore, then what that platform needs) to a temporary file; its path. */
export function ignoreFileFor(target) {
  if (!TARGETS[target]) throw new Error(`unknown target ${target}; known: ${Object.keys(TARGETS).join(', ')}`);
  const base = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8');
  const native = NATIVE[target] ? [...NATIVE_JS, `node_modules/onnxruntime-node/bin/napi-v6/${NATIVE[target]}/**`].map((p) => `!${p}`) : [];
  const file = path.join(os.tmpdir(), `attention-lens-${target}.vscodeignore`);
  fs.writeFileSync(file, [base, `!node_modules/tokenizers/${TARGETS[target]}`, ...native, ''].join('\n'));
  return file;
}
