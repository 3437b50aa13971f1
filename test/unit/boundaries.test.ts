// House rules on the tree itself: where code runs decides what it may import, and files stay small.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
/** Packages pure core code may use: protobuf for ONNX graphs, fflate for ZIP archives (.npz), jsdiff for aligning two texts, and onnxruntime's types (the module itself is passed in). */
const CORE_PACKAGES = new Set(['onnx-proto', 'protobufjs/minimal', 'fflate', 'diff']);
const CORE_TYPE_ONLY_PACKAGES = new Set(['onnxruntime-web']);

function files(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && f.name.endsWith('.ts'))
    .map((f) => path.relative(ROOT, path.join(f.parentPath, f.name)));
}

interface Import {
  spec: string;
  typeOnly: boolean;
}

/** Every module a source file imports, re-exports, requires or loads dynamically. */
function importsOf(text: string): Import[] {
  const out: Import[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'";]*?\bfrom\s+['"]([^'"]+)['"]/gm)) out.push({ spec: m[3], typeOnly: !!m[2] });
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push({ spec: m[1], typeOnly: false });
  for (const m of text.matchAll(/\b(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1], typeOnly: false });
  return out;
}

/** What is wrong with `file` (relative to the root) importing `imp`, or undefined. */
function violation(file: string, imp: Import): string | undefined {
  const where = (f: string) => (f.startsWith('src/core/') ? 'core' : f.startsWith('src/') ? 'host' : f.startsWith('webview/') ? 'webview' : 'other');
  const from = where(file);
  if (imp.spec.startsWith('.')) {
    const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), imp.spec));
    const to = where(target + '/');
    if (from === 'core' && to !== 'core') return `core imports ${to} code (${imp.spec})`;
    if (from === 'host' && to === 'webview') return `host imports webview code (${imp.spec})`;
    if (from === 'webview' && to === 'host') return `webview imports host code outside src/core (${imp.spec})`;
    return undefined;
  }
  if (imp.spec === 'vscode' && from !== 'host') return `${from} imports vscode`;
  if (from === 'core' && !CORE_PACKAGES.has(imp.spec) && !(CORE_TYPE_ONLY_PACKAGES.has(imp.spec) && imp.typeOnly)) return `core imports the package ${imp.spec}${imp.typeOnly ? '' : ' (at run time)'}`;
  return undefined;
}

describe('module boundaries', () => {
  it.each(['src/core', 'src', 'webview'])('%s imports only what its side may', (dir) => {
    const offenders = files(dir).flatMap((f) => importsOf(fs.readFileSync(path.join(ROOT, f), 'utf8')).map((i) => violation(f, i)).filter(Boolean).map((v) => `${f}: ${v}`));
    expect(offenders).toEqual([]);
  });

  it.each(['src/models', 'src/runs/runRegistry.ts'])('%s stays free of vscode, so the CLI and unit tests can use it', (p) => {
    const list = p.endsWith('.ts') ? [p] : files(p);
    expect(list.filter((f) => importsOf(fs.readFileSync(path.join(ROOT, f), 'utf8')).some((i) => i.spec === 'vscode'))).toEqual([]);
  });

  it('catches each kind of crossing', () => {
    const checks: Array<[string, string, boolean]> = [
      ['src/core/analysis/x.ts', "import { a } from '../../editor/y';", true],
      ['src/core/analysis/x.ts', "import { a } from '../attention';", false],
      ['src/core/x.ts', "import * as fs from 'node:fs';", true],
      ['src/core/x.ts', "import * as ort from 'onnxruntime-web';", true],
      ['src/core/x.ts', "import type * as Ort from 'onnxruntime-web';", false],
      ['src/core/x.ts', "const v = require('vscode');", true],
      ['src/cli.ts', "import { A } from '../webview/panel/runner';", true],
      ['src/cli.ts', "import { A } from './core/engine/attentionEngine';", false],
      ['webview/panel/x.ts', "import { A } from '../../src/models/hub';", true],
      ['webview/panel/x.ts', "export { A } from '../../src/core/attention';", false],
      ['webview/views/x.ts', "import 'vscode';", true],
    ];
    for (const [file, text, bad] of checks) expect([file, text, importsOf(text).some((i) => violation(file, i) !== undefined)]).toEqual([file, text, bad]);
  });

  it('keeps source files under about 400 lines', () => {
    const long = [...files('src'), ...files('webview')].filter((f) => fs.readFileSync(path.join(ROOT, f), 'utf8').split('\n').length > 420);
    expect(long).toEqual([]);
  });
});
