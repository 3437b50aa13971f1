// Data exports from the CLI (--export): the JSON document and NumPy archives, read back with the
// .npy reader in test/npy.ts, and files written whole or not at all.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import { unzipSync } from 'fflate';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { MIN_LINK_WEIGHT } from '../../src/core/analysis/thresholds';
import { writeAtomically } from '../../src/export/fileExport';
import { FIXTURES, type InspectJson, runCli } from './cli';
import { readNpy } from '../npy';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-export-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function exportBoth(model: string, text: string): { json: InspectJson; npz: Record<string, Uint8Array>; jsonFile: string } {
  const base = path.join(tmp, `${path.basename(model)}-${Math.random().toString(36).slice(2)}`);
  const r1 = runCli(['inspect', '--model', model, '--text', text, '--export', `${base}.npz`]);
  expect(r1.status, r1.stderr).toBe(0);
  expect(r1.stderr).toMatch(/wrote .*\.npz \(/);
  const r2 = runCli(['inspect', '--model', model, '--text', text, '--export', `${base}.json`]);
  expect(r2.status, r2.stderr).toBe(0);
  const json = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as InspectJson;
  // The file holds exactly what --json prints.
  const printed = runCli(['inspect', '--model', model, '--text', text, '--json']);
  expect(fs.readFileSync(`${base}.json`, 'utf8')).toBe(printed.stdout.trimEnd());
  return { json, npz: unzipSync(fs.readFileSync(`${base}.npz`)), jsonFile: `${base}.json` };
}

describe.each([
  ['gpt2-attn', 'The cat sat on the mat.', ['attentions']],
  ['t5-attn', 'The cat sat on the mat.', ['encoder_attentions', 'decoder_attentions', 'cross_attentions']],
])('%s exported with --export', (name, text, arrays) => {
  it('.npz: float32 attention per kind in C order, int64 ids, offsets and texts, equal to the JSON', () => {
    const { json, npz } = exportBoth(path.join(FIXTURES, 'models', name), text);
    for (const kind of arrays) {
      const a = readNpy(npz[`${kind}.npy`]);
      const layers = json.attention.filter((l) => `${l.kind === 'self' ? '' : `${l.kind}_`}attentions` === kind);
      expect(a.descr).toBe('<f4');
      expect(a.fortran).toBe(false);
      expect(a.shape).toEqual([layers.length, layers[0].heads, layers[0].queries, layers[0].keys]);
      // C order: the last axis (keys) varies fastest, then queries, heads, layers.
      expect(a.values).toEqual(layers.flatMap((l) => l.weights.flat(2)).map((v) => Math.fround(v)));
    }
    const ids = readNpy(npz['input_ids.npy']);
    expect(ids.descr).toBe('<i8');
    expect(ids.values).toEqual(json.tokens.map((t) => BigInt(t.id)));
    expect(readNpy(npz['offsets.npy']).values).toEqual(json.tokens.flatMap((t) => [BigInt(t.start), BigInt(t.end)]));
    expect(readNpy(npz['offsets.npy']).shape).toEqual([json.tokens.length, 2]);
    expect(readNpy(npz['tokens.npy']).values).toEqual(json.tokens.map((t) => t.text));
    const tokens = JSON.parse(new TextDecoder().decode(npz['tokens.json'])) as { text: string; tokens: Array<{ start: number; end: number }>; arrays: string[] };
    expect(tokens.text).toBe(text);
    expect(tokens.tokens.map((t) => text.slice(t.start, t.end)).join('')).toContain('cat');
    expect(tokens.arrays.sort()).toEqual(Object.keys(npz).filter((n) => n.endsWith('.npy')).sort());
    if (name === 't5-attn') expect(readNpy(npz['decoder_input_ids.npy']).values.length).toBeGreaterThan(0);
  });
});

describe('exports are written whole or not at all', () => {
  it('a sink failing half way leaves neither the file nor a temporary one', async () => {
    const file = path.join(tmp, 'half.npz');
    await expect(writeAtomically(file, async (sink) => {
      await sink(new Uint8Array(1024));
      throw new Error('disk full');
    })).rejects.toThrow('disk full');
    expect(fs.readdirSync(tmp).filter((f) => f.includes('half'))).toEqual([]);
  });

  it('an existing file stays as it was when the new export fails', async () => {
    const file = path.join(tmp, 'keep.json');
    fs.writeFileSync(file, 'old');
    await expect(writeAtomically(file, async () => {
      throw new Error('cancelled');
    })).rejects.toThrow('cancelled');
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
  });

  it('the CLI refuses formats it does not write, and folders that do not exist, without leaving files', () => {
    const model = path.join(FIXTURES, 'models/gpt2-attn');
    const r = runCli(['inspect', '--model', model, '--text', 'Hi', '--export', path.join(tmp, 'out.xlsx')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--export writes \.json, \.npz, \.svg, \.png, \.html files \(got ".*out\.xlsx"\)/);
    const missing = runCli(['inspect', '--model', model, '--text', 'Hi', '--export', path.join(tmp, 'no/such/dir/out.npz')]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/cannot write .*out\.npz: the folder .*dir does not exist/);
    expect(fs.existsSync(path.join(tmp, 'no'))).toBe(false);
  });
});

describe('figures', () => {
  it('.svg: the head view of --layer/--head as XML, one line per drawn link, concrete colours, text as text', () => {
    const model = path.join(FIXTURES, 'models/gpt2-attn');
    const text = 'The cat sat on the mat <b>&</b>.';
    const file = path.join(tmp, 'figure.svg');
    const r = runCli(['inspect', '--model', model, '--text', text, '--export', file, '--layer', '2', '--head', '3']);
    expect(r.status, r.stderr).toBe(0);
    const svg = fs.readFileSync(file, 'utf8');
    const errors: string[] = [];
    const doc = new DOMParser({ onError: (level, msg) => errors.push(`${level}: ${msg}`) }).parseFromString(svg, 'image/svg+xml');
    expect(errors).toEqual([]);
    expect(doc.documentElement!.nodeName).toBe('svg');
    // Every link of head 3 in layer 2 at or above the drawing threshold (a causal model: keys up to the query).
    const json = JSON.parse(runCli(['inspect', '--model', model, '--text', text, '--json']).stdout) as InspectJson;
    const weights = json.attention[1].weights[2];
    const expected = weights.flatMap((row, q) => row.filter((w, k) => k <= q && w >= MIN_LINK_WEIGHT)).length;
    const lines = Array.from(doc.getElementsByTagName('line'));
    expect(lines.length).toBe(expected);
    expect(new Set(lines.map((l) => (l.parentNode!.parentNode as unknown as Element).getAttribute('data-head')))).toEqual(new Set(['2']));
    for (const l of lines) expect(Number(l.getAttribute('data-weight'))).toBeCloseTo(weights[Number(l.getAttribute('data-query'))][Number(l.getAttribute('data-key'))], 5);
    // Colours are values, not theme variables.
    expect(svg).not.toMatch(/var\(--/);
    for (const attr of svg.matchAll(/(?:fill|stroke)="([^"]*)"/g)) expect(attr[1]).toMatch(/^#[0-9a-f]{6}$/i);
    // Token texts are text elements, the document's markup escaped (inert).
    const labels = Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent);
    expect(labels[0]).toBe('gpt2-attn · Layer 2 · head 3');
    expect(labels).toContain('·<');
    expect(svg).not.toContain('<b>');
  });

  it('.png: the same head view rasterised at twice the SVG’s size, with its pixels drawn', () => {
    const model = path.join(FIXTURES, 'models/bert-attn');
    const args = ['inspect', '--model', model, '--text', 'The cat sat on the mat.', '--layer', '1'];
    const svgFile = path.join(tmp, 'same.svg'), pngFile = path.join(tmp, 'same.png');
    expect(runCli([...args, '--export', svgFile]).status).toBe(0);
    const r = runCli([...args, '--export', pngFile]);
    expect(r.status, r.stderr).toBe(0);
    const root = new DOMParser().parseFromString(fs.readFileSync(svgFile, 'utf8'), 'image/svg+xml').documentElement!;
    const png = PNG.sync.read(fs.readFileSync(pngFile));
    expect([png.width, png.height]).toEqual([2 * Number(root.getAttribute('width')), 2 * Number(root.getAttribute('height'))]);
    // Not a blank page: the background is white and links and labels put other colours on it.
    let ink = 0;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i] < 200 || png.data[i + 1] < 200 || png.data[i + 2] < 200) ink++;
    expect(ink).toBeGreaterThan(png.width * png.height * 0.01);
  });
});
