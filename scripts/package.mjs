// Builds one VSIX per platform, each carrying only that platform's `tokenizers` binary and
// onnxruntime-node build (the native engine; none for linux-armhf, Alpine and darwin-x64, where
// onnxruntime-node has no build and the panel's own engines run everything).
// usage: node scripts/package.mjs [--target linux-x64 ...]   (default: every target below)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TARGETS, ignoreFileFor } from './vsixFiles.mjs';

const root = path.resolve(import.meta.dirname, '..');

const args = process.argv.slice(2);
const wanted = args.flatMap((a, i) => (args[i - 1] === '--target' ? [a] : []));
const targets = wanted.length ? wanted : Object.keys(TARGETS);
for (const t of targets) ignoreFileFor(t); // an unknown target fails before the build

// vsce runs `vscode:prepublish` (npm run build) before packaging each target: dist/ is built there.
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const vsce = path.join(root, 'node_modules/@vscode/vsce/vsce');
const outDir = path.join(root, 'out');
fs.mkdirSync(outDir, { recursive: true });
for (const target of targets) {
  const ignore = ignoreFileFor(target);
  const out = path.join(outDir, `${pkg.name}-${target}-${pkg.version}.vsix`);
  execFileSync(process.execPath, [vsce, 'package', '--target', target, '--ignoreFile', ignore, '--out', out, '--no-rewrite-relative-links', '--allow-missing-repository'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  console.log(`${target}: ${out} (${(fs.statSync(out).size / 1048576).toFixed(1)} MB)`);
}
