// Bad LLM files through the CLI (issue 22): a missing or truncated external data chunk, a chunk
// count that disagrees with config.json, a location outside the model's folder, a model too large
// for every backend, an operator the backend lacks. Each ends in one line that names the file, the
// sizes and the way forward; nothing outside the model's folder is ever opened.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llmGenerator } from '../llmStandIns';
import { expectCliFailure, runCli } from './cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-llm-errors-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let pristine: string;

beforeAll(async () => {
  const { ensureLlmVariant } = await llmGenerator();
  pristine = ensureLlmVariant(path.join(tmp, 'cache'), 'smollm2-135m', 'fp32', { tiny: true }).folder;
});

/** A copy of the tiny SmolLM2 stand-in (weights in onnx/model.onnx_data, _1, _2) with `mutate` applied. */
function broken(name: string, mutate: (dir: string) => void): string {
  const dir = path.join(tmp, name);
  fs.cpSync(pristine, dir, { recursive: true });
  mutate(dir);
  return dir;
}

/** Rewrites onnx/model.onnx of `dir` (its weights stay in their data files). */
function editGraph(dir: string, edit: (model: onnx.ModelProto) => void): void {
  const file = path.join(dir, 'onnx/model.onnx');
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  edit(model);
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
}

/** The initializer the graph keeps in `location`, last of them. */
const lastIn = (model: onnx.ModelProto, location: string) => model.graph!.initializer!.filter((t) => t.externalData?.some((e) => e.key === 'location' && e.value === location)).at(-1)!;

function fails(dir: string, pattern: RegExp, backend = 'native'): void {
  expectCliFailure(['inspect', '--model', dir, '--text', 'The quick brown fox', '--backend', backend], pattern);
}

describe('bad LLM files', () => {
  it('names a missing data chunk, what the graph keeps in it, and what to download', () => {
    fails(broken('missing', (d) => fs.rmSync(path.join(d, 'onnx/model.onnx_data_1'))), /^attention-lens: onnx\/model\.onnx keeps \d+\.\d MB of its weights \(\d+ tensors\) in model\.onnx_data_1, which is missing from .*\/onnx\. Download every data file of the model with it/);
  });

  it('names a truncated data chunk with both sizes', () => {
    const dir = broken('truncated', (d) => {
      const f = path.join(d, 'onnx/model.onnx_data_1');
      fs.truncateSync(f, fs.statSync(f).size - 100);
    });
    fails(dir, /^attention-lens: model\.onnx_data_1 is \d+\.\d MB \(\d+ bytes\), but onnx\/model\.onnx reads \d+\.\d MB \(\d+ bytes\) from it: the file is truncated, perhaps by an interrupted download\. Download it again\.$/m);
  });

  it('runs a model whose config.json announces another chunk count, and says it loads what the graph names', () => {
    const dir = broken('config-count', (d) => {
      const file = path.join(d, 'config.json');
      const config = JSON.parse(fs.readFileSync(file, 'utf8'));
      config['transformers.js_config'].use_external_data_format = { 'model.onnx': 5 };
      fs.writeFileSync(file, JSON.stringify(config));
    });
    const r = runCli(['inspect', '--model', dir, '--text', 'The quick brown fox', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: config\.json's transformers\.js_config announces 5 external data files for model\.onnx, but its graph names 3 \(model\.onnx_data, model\.onnx_data_1, model\.onnx_data_2\): Attention Lens loads what the graph names\.$/m);
    expect(JSON.parse(r.stdout).attention).toHaveLength(2);
  });

  it('refuses external data outside the model folder without opening it', () => {
    // The file outside is a named pipe: opening it to read would block, and the test would time out.
    execFileSync('mkfifo', [path.join(tmp, 'outside.bin')]);
    const climbing = broken('outside', (d) => editGraph(d, (m) => {
      for (const e of lastIn(m, 'model.onnx_data_2').externalData!) if (e.key === 'location') e.value = '../../outside.bin';
    }));
    fails(climbing, /^attention-lens: onnx\/model\.onnx names external data at "\.\.\/\.\.\/outside\.bin", which Attention Lens refuses: it climbs out of the folder with "\.\."\. A model may only read files in its own folder/);
    const absolute = broken('absolute', (d) => editGraph(d, (m) => {
      for (const e of lastIn(m, 'model.onnx_data_2').externalData!) if (e.key === 'location') e.value = path.join(tmp, 'outside.bin');
    }));
    fails(absolute, /names external data at ".*outside\.bin", which Attention Lens refuses: it is an absolute path/);
  });

  it('refuses a model too large for WebAssembly before reading it, with its size and each limit', () => {
    // One tensor said to be 5 GB, in a sparse file of that size (nothing is written or read).
    const dir = broken('too-large', (d) => {
      editGraph(d, (m) => {
        const t = lastIn(m, 'model.onnx_data_2');
        for (const e of t.externalData!) if (e.key === 'length') e.value = String(5e9);
        t.dims = [5e9 / 4];
      });
      fs.truncateSync(path.join(d, 'onnx/model.onnx_data_2'), 6e9);
    });
    fails(dir, /^attention-lens: onnx\/model\.onnx is too large to load here \(5\.0 GB of weights, 5\.0 GB in external data; largest tensor 5\.0 GB\)\. WebAssembly: WebAssembly would hold 5\.0 GB, past the 3\.8 GB its 32-bit memory leaves for weights; its largest tensor \(.*\) is past the 2\.1 GB WebAssembly takes in one piece; one external data file is 6\.0 GB, past .*\. Choose a smaller variant of the model/, 'wasm');
  });

  it('names an operator the backend lacks, and the way forward', () => {
    const dir = broken('unknown-op', (d) => editGraph(d, (m) => {
      const n = m.graph!.node!.find((x) => x.opType === 'Sigmoid')!;
      n.opType = 'FastSigmoid';
      n.domain = 'com.microsoft';
    }));
    fails(dir, /^attention-lens: onnx\/model\.onnx uses the operator com\.microsoft FastSigmoid, which onnxruntime's WebAssembly build does not have \(.*\)\. Choose another variant of the model/, 'wasm');
    fails(dir, /^attention-lens: onnx\/model\.onnx uses the operator com\.microsoft FastSigmoid, which onnxruntime-node's CPU provider does not have \(.*\)\. Choose another variant of the model/, 'native');
  });
});
