// Bad input through the CLI: each case ends in one specific line on stderr and a non-zero exit.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, expectCliFailure, inspect, runCli } from './cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-errors-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of the bert fixture with `mutate` applied. */
function brokenModel(name: string, mutate: (dir: string) => void): string {
  const dir = path.join(tmp, name);
  fs.cpSync(path.join(FIXTURES, 'models/bert-attn'), dir, { recursive: true });
  mutate(dir);
  return dir;
}

const fails = expectCliFailure;

describe('CLI errors', () => {
  it('says an empty model.onnx is empty, not that it has no graph', () => {
    fails(['inspect', '--model', brokenModel('empty-onnx', (d) => fs.writeFileSync(path.join(d, 'onnx/model.onnx'), '')), '--text', 'hi'], /^attention-lens: onnx\/model\.onnx is empty \(0 bytes\): re-download or re-export it\.$/m);
  });

  it('turns an index out of range in the runtime into a clear message, without onnxruntime log lines', () => {
    // The config claims 4096 positions; the ONNX position table has 1024 rows.
    const dir = path.join(tmp, 'too-many-positions');
    fs.cpSync(path.join(FIXTURES, 'models/gpt2-attn'), dir, { recursive: true });
    const edit = (file: string, patch: object) => fs.writeFileSync(path.join(dir, file), JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')), ...patch }));
    edit('config.json', { n_positions: 4096 });
    edit('tokenizer_config.json', { model_max_length: 4096 });
    fails(['inspect', '--model', dir, '--text', 'the cat sat on the mat. '.repeat(200)], /^attention-lens: The model rejected the input: an index was out of range \(.*Gather.*\)\. The \d+ tokens may exceed the model's position table/);
  });

  it('names a folder that does not exist', () => {
    fails(['inspect', '--model', path.join(tmp, 'nope'), '--text', 'hi'], /Model folder not found: .*nope/);
  });

  it('explains a folder that is not a model', () => {
    const dir = path.join(tmp, 'not-a-model');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    fails(['inspect', '--model', dir, '--text', 'hi'], /config\.json is missing/);
  });

  it('names a missing tokenizer.json', () => {
    fails(['inspect', '--model', brokenModel('no-tok', (d) => fs.rmSync(path.join(d, 'tokenizer.json'))), '--text', 'hi'], /tokenizer\.json is missing/);
  });

  it('names an invalid tokenizer.json', () => {
    const dir = brokenModel('bad-tok', (d) => fs.writeFileSync(path.join(d, 'tokenizer.json'), '{"version": "1.0", "model": 42}'));
    fails(['inspect', '--model', dir, '--text', 'hi'], /tokenizer\.json is not a valid Hugging Face tokenizer/);
  });

  it('names a missing model.onnx', () => {
    fails(['inspect', '--model', brokenModel('no-onnx', (d) => fs.rmSync(path.join(d, 'onnx'), { recursive: true })), '--text', 'hi'], /No ONNX file in .*: expected onnx\/model\.onnx/);
  });

  it('explains a truncated model.onnx', () => {
    const dir = brokenModel('truncated', (d) => {
      const f = path.join(d, 'onnx/model.onnx');
      fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 5000));
    });
    fails(['inspect', '--model', dir, '--text', 'hi'], /onnx\/model\.onnx could not be loaded by onnxruntime .* truncated, corrupt or not an ONNX model/);
  });

  it('explains a file that is not ONNX at all', () => {
    const dir = brokenModel('garbage', (d) => fs.writeFileSync(path.join(d, 'onnx/model.onnx'), 'this is not a model'));
    fails(['inspect', '--model', dir, '--text', 'hi'], /could not be loaded by onnxruntime/);
  });

  it('explains invalid config.json', () => {
    fails(['inspect', '--model', brokenModel('bad-config', (d) => fs.writeFileSync(path.join(d, 'config.json'), '{oops')), '--text', 'hi'], /config\.json is not valid JSON/);
  });

  it('names graph inputs it cannot fill', () => {
    const dir = brokenModel('wrong-inputs', (d) => {
      const f = path.join(d, 'onnx/model.onnx');
      const model = onnx.ModelProto.decode(fs.readFileSync(f));
      const rename = (x: string) => (x === 'input_ids' ? 'input_features' : x);
      for (const n of model.graph!.node!) n.input = n.input!.map(rename);
      for (const i of model.graph!.input!) i.name = rename(i.name!);
      fs.writeFileSync(f, onnx.ModelProto.encode(model).finish());
    });
    fails(['inspect', '--model', dir, '--text', 'hi'], /expects inputs Attention Lens cannot fill: input_features/);
  });

  it('refuses a tokenizer whose ids exceed the embedding table', () => {
    const dir = brokenModel('small-vocab', (d) => {
      const f = path.join(d, 'config.json');
      fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), vocab_size: 100 }));
    });
    fails(['inspect', '--model', dir, '--text', 'the cat sat'], /gives ".*" the id \d+, but the model's embedding table has 100 entries .*does not belong to this model/);
    // The decoder target of an encoder-decoder model goes through the same check.
    const t5 = path.join(tmp, 'small-vocab-t5');
    fs.cpSync(path.join(FIXTURES, 'models/t5-attn'), t5, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(t5, 'config.json'), 'utf8'));
    const short = (JSON.parse(runCli(['inspect', '--model', t5, '--text', 'a', '--json']).stdout) as { tokens: Array<{ id: number }> }).tokens;
    fs.writeFileSync(path.join(t5, 'config.json'), JSON.stringify({ ...cfg, vocab_size: Math.max(...short.map((x) => x.id)) + 1 }));
    expect(runCli(['inspect', '--model', t5, '--text', 'a', '--json']).status).toBe(0);
    fails(['inspect', '--model', t5, '--text', 'a', '--target', 'the cat sat on the mat'], /embedding table has \d+ entries .*does not belong to this model/);
  });

  it('rejects empty text and bad arguments with usage', () => {
    fails(['inspect', '--model', path.join(FIXTURES, 'models/bert-attn'), '--text', ''], /text is empty/);
    fails(['inspect', '--text', 'hi'], /--model is required/);
    fails(['inspect', '--model', 'x'], /exactly one of --text and --text-file/);
    fails(['frobnicate'], /usage: attention-lens inspect/);
    fails(['inspect', '--model', 'x', '--text-file', path.join(tmp, 'missing.txt')], /cannot read --text-file/);
  });
});

describe('CLI long input', () => {
  it('truncates to the model maximum with a warning and still prints complete JSON', () => {
    const file = path.join(tmp, 'long.txt');
    fs.writeFileSync(file, 'the cat sat on the mat because it was tired. '.repeat(80));
    const r = runCli(['inspect', '--model', path.join(FIXTURES, 'models/bert-attn'), '--text-file', file, '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/warning: The selection has \d+ tokens; the model accepts 512/);
    const out = JSON.parse(r.stdout) as ReturnType<typeof inspect>;
    expect(out.tokens).toHaveLength(512);
    expect(out.tokens.at(-1)!.text).toBe('[SEP]');
    expect(out.attention[0].queries).toBe(512);
    for (const row of out.attention[1].weights[3]) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  });

  it('uses --target as the decoder text of an encoder-decoder model', () => {
    const out = inspect(path.join(FIXTURES, 'models/t5-attn'), 'the cat sat', ['--target', 'a dog']) as ReturnType<typeof inspect> & { decoderTokens: Array<{ id: number }> };
    const cross = out.attention.find((a) => a.kind === 'cross')!;
    expect(cross.keys).toBe(out.tokens.length);
    expect(cross.queries).toBe(out.decoderTokens.length);
    expect(out.decoderTokens[0].id).toBe(0); // decoder_start_token_id
  });
});
