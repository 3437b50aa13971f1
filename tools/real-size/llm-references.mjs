#!/usr/bin/env node
// Writes test/fixtures/llm/<shape>.json: for every LLM stand-in variant (tools/real-size/llm.mjs,
// tiny size) the attention a plain PyTorch module computes from the weights in that variant's
// files (tools/real-size/llm_reference.py), and the SHA-256 of those files, so that the tests know
// the reference still belongs to what the generator makes. Needs Debian's python3-torch,
// python3-onnx and python3-numpy (run with /usr/bin/python3). Run after changing the generator:
//
//   node tools/real-size/llm-references.mjs
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from 'tokenizers';
import { LLM_SHAPES, LLM_VARIANTS, LLM_VERSION, ensureLlmVariant } from './llm.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../..');
/** The text every reference is computed for (a sliding window of 4 matters at this length). */
export const LLM_REFERENCE_TEXT = 'The quick brown fox jumps over the lazy dog, then naps.';

const out = path.join(ROOT, 'test/fixtures/llm');
fs.mkdirSync(out, { recursive: true });
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-llm-ref-'));
try {
  for (const shape of Object.keys(LLM_SHAPES)) {
    let folder, genai;
    for (const v of Object.keys(LLM_VARIANTS)) {
      const r = ensureLlmVariant(cache, shape, v, { tiny: true });
      if (v === 'genai') genai = r.folder;
      else folder = r.folder;
    }
    const tokenizer = await Tokenizer.fromFile(path.join(folder, 'tokenizer.json'));
    const ids = Array.from((await tokenizer.encode(LLM_REFERENCE_TEXT)).getIds());
    const file = path.join(cache, `${shape}.json`);
    const r = spawnSync('/usr/bin/python3', [path.join(here, 'llm_reference.py'), folder, genai, JSON.stringify(ids), file], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`llm_reference.py failed for ${shape}`);
    const variants = JSON.parse(fs.readFileSync(file, 'utf8'));
    const doc = { shape, generator: `tools/real-size/llm.mjs ${LLM_VERSION} (tiny)`, computedBy: 'tools/real-size/llm_reference.py (PyTorch, float64)', text: LLM_REFERENCE_TEXT, ids, variants };
    fs.writeFileSync(path.join(out, `${shape}.json`), `${JSON.stringify(doc, null, 1)}\n`);
    console.log(`${shape}: ${ids.length} tokens, ${Object.keys(variants).length} variants → test/fixtures/llm/${shape}.json`);
  }
} finally {
  fs.rmSync(cache, { recursive: true, force: true });
}
