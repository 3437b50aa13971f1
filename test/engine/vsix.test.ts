// What a VSIX carries, as `vsce ls` lists it with the ignore file `npm run package` uses for each
// platform: everything the extension reads or shows (the manifest's icon, pictures and main, the
// README's pictures, the bundles, runtimes and bundled models, its platform's native binaries) and
// nothing else (no sources, tests, source maps, tools, nor another platform's binaries).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cli';

interface Vsix {
  TARGETS: Record<string, string>;
  NATIVE: Record<string, string>;
  ignoreFileFor(target: string): string;
}

async function listed(target: string): Promise<{ files: string[]; vsix: Vsix }> {
  const vsix = (await import(path.join(ROOT, 'scripts/vsixFiles.mjs'))) as Vsix;
  const out = execFileSync(process.execPath, [path.join(ROOT, 'node_modules/@vscode/vsce/vsce'), 'ls', '--ignoreFile', vsix.ignoreFileFor(target)], { cwd: ROOT, encoding: 'utf8' });
  return { files: out.split('\n').map((l) => l.trim()).filter(Boolean), vsix };
}

/** Every file the manifest names: main, icon, view and walkthrough pictures. */
function manifestFiles(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const found = new Set<string>([`${pkg.main.replace(/^\.\//, '')}`, pkg.icon]);
  const walk = (v: unknown): void => {
    if (typeof v === 'string' && /^(media|dist|docs|sample)\/[\w./-]+\.\w+$/.test(v)) found.add(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(pkg.contributes);
  return [...found];
}

/** The README's pictures and the pages it links to. */
function readmeFiles(): string[] {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  return [...text.matchAll(/\]\(((?:docs|media)\/[^)#\s]+)\)/g)].map((m) => m[1]);
}

describe('the VSIX of each platform', () => {
  it.each(['linux-x64', 'darwin-x64'])('%s carries what the extension reads and shows, and nothing else', async (target) => {
    expect(fs.existsSync(path.join(ROOT, 'dist/extension.js')), 'run npm run build first').toBe(true);
    const { files, vsix } = await listed(target);
    const set = new Set(files);
    const needed = [
      ...manifestFiles(),
      ...readmeFiles(),
      'README.md', 'CHANGELOG.md', 'LICENSE', 'package.json',
      'dist/extension.js', 'dist/nativeWorker.js', 'dist/webview.js', 'dist/explorer.js', 'dist/report.js', 'dist/mozjpeg_dec.wasm', 'dist/webp_dec.wasm',
      'dist/ort/ort-wasm-simd-threaded.wasm.gz', 'dist/ort/ort-wasm-simd-threaded.asyncify.wasm.gz',
      'media/models/models.json', 'media/models/tiny-causal/onnx/model.onnx', 'media/models/tiny-masked/tokenizer.json',
      'sample/story.md',
      `node_modules/tokenizers/${vsix.TARGETS[target]}`,
    ];
    expect(needed.filter((f) => !set.has(f)), 'needed but not packaged').toEqual([]);
    const allowed = /^(package\.json|README\.md|CHANGELOG\.md|LICENSE|sample\/story\.md|docs\/[\w-]+\.(png|md)|media\/[\w./-]+|dist\/[\w-]+\.(js|wasm|png)|dist\/ort\/[\w.-]+\.(mjs|wasm\.gz)|node_modules\/(tokenizers|onnxruntime-node|onnxruntime-common)\/[\w./-]+)$/;
    expect(files.filter((f) => !allowed.test(f)), 'packaged but not needed').toEqual([]);
    expect(files.filter((f) => /\.(ts|map)$|^(src|test|tools|webview|bench|scripts)\//.test(f))).toEqual([]);
    // One platform's binaries: its tokenizers build, and its onnxruntime-node build where there is one.
    expect(files.filter((f) => f.endsWith('.node') && f.startsWith('node_modules/tokenizers/'))).toEqual([`node_modules/tokenizers/${vsix.TARGETS[target]}`]);
    const native = files.filter((f) => f.startsWith('node_modules/onnxruntime-node/bin/'));
    if (vsix.NATIVE[target]) {
      expect(native.length).toBeGreaterThan(0);
      expect(native.filter((f) => !f.startsWith(`node_modules/onnxruntime-node/bin/napi-v6/${vsix.NATIVE[target]}/`))).toEqual([]);
    } else expect(files.filter((f) => f.startsWith('node_modules/onnxruntime-'))).toEqual([]);
  }, 120_000);
});
