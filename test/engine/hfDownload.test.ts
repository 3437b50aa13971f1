// `attention-lens download` against the stand-in Hub: the standard Hugging Face cache layout
// (blobs named by digest, snapshot links, refs), verified transfers, a model the extension's
// picker and `inspect` then find, external data chunks linked before the .onnx, and one-line
// failures that leave nothing unverified behind.
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverHfCache } from '../../src/models/hfCache';
import { downloadToHfCache, hfRefOfFolder, redownloadToHfCache } from '../../src/models/hfDownload';
import { HubError, parseHubId } from '../../src/models/hub';
import { listHubOnnxFiles } from '../../src/models/hubFiles';
import { readModelFolder } from '../../src/models/modelFolder';
import { FIXTURES, ROOT, inspect } from './cli';
import { type ExternalDataRepos, type HubServer, REPO_COMMIT, externalDataRepos, startHubServer } from './hubServer';

const BERT = path.join(FIXTURES, 'models/bert-plain');
let hub: HubServer;
let tmp: string;
let llm: ExternalDataRepos;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-hfdl-'));
  const repo = path.join(tmp, 'repo');
  fs.cpSync(BERT, repo, { recursive: true });
  fs.copyFileSync(path.join(BERT, 'onnx/model.onnx'), path.join(repo, 'onnx/model_quantized.onnx'));
  llm = await externalDataRepos(path.join(tmp, 'llm-repos'));
  hub = await startHubServer({ 'test-org/tiny-bert': repo, 'test-org/llm': llm.whole, 'test-org/llm-unsafe': llm.unsafe, 'test-org/t5': path.join(FIXTURES, 'models/t5-split') });
});
afterAll(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs the built CLI without blocking this process (the stand-in Hub answers from it). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), ...args], { env: { ...process.env, HF_ENDPOINT: hub.endpoint, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const repoDir = (cache: string) => path.join(cache, 'models--test-org--tiny-bert');

describe('attention-lens download', () => {
  it('writes the Hugging Face cache layout, verified, where the picker and inspect find the model', async () => {
    const cache = path.join(tmp, 'cache');
    const r = await cli(['download', 'test-org/tiny-bert', '--cache-dir', cache]);
    expect([r.status, r.stderr.split('\n').filter((l) => /^onnx\/model\.onnx: 100 %/.test(l)).length]).toEqual([0, 1]);
    const snapshot = path.join(repoDir(cache), 'snapshots', REPO_COMMIT);
    expect(r.stdout.trim()).toBe(snapshot);
    expect(fs.readFileSync(path.join(repoDir(cache), 'refs/main'), 'utf8')).toBe(REPO_COMMIT);
    for (const file of ['config.json', 'tokenizer.json', 'onnx/model.onnx']) {
      const link = path.join(snapshot, file);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      const target = path.resolve(path.dirname(link), fs.readlinkSync(link));
      expect(path.dirname(target)).toBe(path.join(repoDir(cache), 'blobs'));
      // Blobs are named by digest: SHA-256 (64 hex) for the LFS ONNX file, the git blob id (40 hex) for the others.
      expect(path.basename(target)).toMatch(file.endsWith('.onnx') ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{40}$/);
      expect(fs.readFileSync(link).equals(fs.readFileSync(path.join(BERT, file)))).toBe(true);
    }
    expect(discoverHfCache(cache)).toEqual([{ id: 'test-org/tiny-bert', revision: REPO_COMMIT, folder: snapshot }]);
    expect(inspect(snapshot, 'hello world').attention.length).toBeGreaterThan(0);
    // A second ONNX variant shares the cache: a new blob link beside the first, nothing re-downloaded.
    const before = hub.requests.length;
    const q = await cli(['download', 'test-org/tiny-bert', '--file', 'onnx/model_quantized.onnx', '--cache-dir', cache]);
    expect(q.status).toBe(0);
    expect(fs.existsSync(path.join(snapshot, 'onnx/model_quantized.onnx'))).toBe(true);
    expect(hub.requests.slice(before).filter((x) => x.method === 'GET' && /resolve\/main\/(config|tokenizer)\.json$/.test(x.url)).length).toBe(0);
  });

  it('exits non-zero with one line when a transfer cannot be verified, and caches nothing unverified', async () => {
    const cache = path.join(tmp, 'bad-cache');
    hub.misbehaveNext('onnx/model.onnx', { kind: 'flipped-byte' });
    const r = await cli(['download', 'test-org/tiny-bert', '--cache-dir', cache]);
    expect(r.status).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('attention-lens:'));
    expect(errors).toEqual([expect.stringMatching(/^attention-lens: onnx\/model\.onnx failed verification: its SHA-256 is not the one the Hub lists/)]);
    const blobs = fs.readdirSync(path.join(repoDir(cache), 'blobs'));
    expect(blobs.filter((b) => /^[0-9a-f]{64}$/.test(b))).toEqual([]); // no ONNX blob
    expect(fs.existsSync(path.join(repoDir(cache), 'snapshots', REPO_COMMIT, 'onnx/model.onnx'))).toBe(false);
    expect(discoverHfCache(cache)).toEqual([]);
  });

  it('says what to type for a bad id or a missing file', async () => {
    const bad = await cli(['download', 'not an id']);
    expect([bad.status, bad.stderr.trim().split('\n').length]).toEqual([1, 1]);
    const missing = await cli(['download', 'test-org/tiny-bert', '--file', 'onnx/model_fp16.onnx', '--cache-dir', path.join(tmp, 'c3')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/has no onnx\/model_fp16\.onnx/);
  });

  it('Re-download replaces a damaged blob of a cached snapshot with a verified one', async () => {
    const cache = path.join(tmp, 'redownload-cache');
    const r = await cli(['download', 'test-org/tiny-bert', '--cache-dir', cache]);
    const snapshot = r.stdout.trim();
    const onnx = path.join(snapshot, 'onnx/model.onnx');
    const blob = path.resolve(path.dirname(onnx), fs.readlinkSync(onnx));
    fs.truncateSync(blob, 100); // the blob was damaged on disk
    const ref = hfRefOfFolder(snapshot)!;
    expect(ref).toEqual({ id: 'test-org/tiny-bert', revision: REPO_COMMIT });
    expect(hfRefOfFolder(BERT)).toBeUndefined();
    const again = await redownloadToHfCache(ref, { endpoint: hub.endpoint, cacheDir: cache, onnxFile: 'onnx/model.onnx' });
    expect(again).toBe(snapshot);
    expect(fs.readFileSync(onnx).equals(fs.readFileSync(path.join(BERT, 'onnx/model.onnx')))).toBe(true);
  });
});

describe('a split encoder-decoder export (Optimum’s layout) on the Hub', () => {
  it('is offered as one choice, by its encoder, and downloads with its decoders, linked before it', async () => {
    const t5 = parseHubId('test-org/t5');
    const listed = await listHubOnnxFiles(t5, { endpoint: hub.endpoint });
    const onnx = path.join(FIXTURES, 'models/t5-split/onnx');
    const size = (f: string) => fs.statSync(path.join(onnx, f)).size;
    expect(listed.map((f) => [f.path, f.decoders, f.size])).toEqual([['onnx/encoder_model.onnx', ['onnx/decoder_model.onnx', 'onnx/decoder_with_past_model.onnx'], size('encoder_model.onnx') + size('decoder_model.onnx') + size('decoder_with_past_model.onnx')]]);
    const cache = path.join(tmp, 'cache-t5');
    const r = await cli(['download', 'test-org/t5', '--file', 'onnx/encoder_model.onnx', '--cache-dir', cache]);
    expect(r.status).toBe(0);
    const done = r.stderr.split('\n').filter((l) => / 100 % of /.test(l)).map((l) => l.split(':')[0]);
    expect(done.filter((f) => f.endsWith('.onnx'))).toEqual(['onnx/decoder_model.onnx', 'onnx/decoder_with_past_model.onnx', 'onnx/encoder_model.onnx']);
    const info = readModelFolder(r.stdout.trim());
    expect([info.onnxPath, info.decoders?.decoder, info.decoders?.withPast].map((f) => f && fs.readFileSync(f).equals(fs.readFileSync(path.join(onnx, path.basename(f)))))).toEqual([true, true, true]);
    // Re-download fetches the decoders again too.
    const before = hub.requests.length;
    await redownloadToHfCache({ id: 'test-org/t5', revision: REPO_COMMIT }, { endpoint: hub.endpoint, cacheDir: cache, onnxFile: 'onnx/encoder_model.onnx' });
    expect(hub.requests.slice(before).filter((x) => x.method === 'GET' && /\.onnx$/.test(x.url)).map((x) => x.url.split('/').at(-1)).sort()).toEqual(['decoder_model.onnx', 'decoder_with_past_model.onnx', 'encoder_model.onnx']);
  });
});

describe('attention-lens download of a model with external data', () => {
  const llmDir = (cache: string) => path.join(cache, 'models--test-org--llm');
  const snapshotOf = (cache: string) => path.join(llmDir(cache), 'snapshots', REPO_COMMIT);
  const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(path.join(llm.whole, file))).digest('hex');

  it('links every chunk the graph names to its verified blob, and the model runs from the snapshot', async () => {
    const cache = path.join(tmp, 'llm-cache');
    const r = await cli(['download', 'test-org/llm', '--cache-dir', cache]);
    expect([r.status, r.stderr.split('\n').filter((l) => l.startsWith('attention-lens:'))]).toEqual([0, []]);
    const snapshot = snapshotOf(cache);
    expect(r.stdout.trim()).toBe(snapshot);
    for (const f of llm.chunks) {
      expect(r.stderr).toMatch(new RegExp(`^${f.replace(/\./g, '\\.')}: 100 % of .* \\(\\d+ % of .* in all\\)$`, 'm'));
      const link = path.join(snapshot, f);
      expect(path.resolve(path.dirname(link), fs.readlinkSync(link))).toBe(path.join(llmDir(cache), 'blobs', sha256(f)));
    }
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/\(100 % of .* in all\)$/);
    expect(readModelFolder(snapshot, llm.onnx).external.map((e) => `onnx/${e.location}`)).toEqual(llm.chunks);
    expect(discoverHfCache(cache)).toEqual([{ id: 'test-org/llm', revision: REPO_COMMIT, folder: snapshot }]);
    expect(inspect(snapshot, 'the cat sat').attention.length).toBeGreaterThan(0);
  });

  it('a tampered chunk exits with one line naming it; no blob of it, no .onnx link, no model in the cache', async () => {
    const cache = path.join(tmp, 'llm-tampered');
    hub.misbehaveNext(llm.chunks[1], { kind: 'flipped-byte' });
    const r = await cli(['download', 'test-org/llm', '--cache-dir', cache]);
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('attention-lens:'))).toEqual([`attention-lens: ${llm.chunks[1]} failed verification: its SHA-256 is not the one the Hub lists (${sha256(llm.chunks[1]).slice(0, 12)}…). It was removed; run the download again.`]);
    const blobs = fs.readdirSync(path.join(llmDir(cache), 'blobs'));
    expect(blobs.filter((b) => b === sha256(llm.chunks[1]) || b.endsWith('.part'))).toEqual([]);
    expect(fs.existsSync(path.join(snapshotOf(cache), llm.onnx))).toBe(false);
    expect(discoverHfCache(cache)).toEqual([]);
  });

  it('refuses a location outside the ONNX file folder before fetching any data', async () => {
    const cache = path.join(tmp, 'llm-unsafe');
    const before = hub.requests.length;
    const err = await downloadToHfCache(parseHubId('test-org/llm-unsafe'), { endpoint: hub.endpoint, cacheDir: cache, onnxFile: llm.onnx }).then(() => undefined, (e: unknown) => e as HubError);
    expect(err?.code).toBe('unsafe-path');
    expect(err?.message).toMatch(/names external data at "\.\.\/outside\.bin"/);
    expect(hub.requests.slice(before).filter((x) => /onnx_data|outside\.bin/.test(x.url))).toEqual([]);
    expect(discoverHfCache(cache)).toEqual([]);
  });

  it('Re-download replaces a damaged chunk blob', async () => {
    const cache = path.join(tmp, 'llm-redownload');
    const snapshot = await downloadToHfCache(parseHubId('test-org/llm'), { endpoint: hub.endpoint, cacheDir: cache, onnxFile: llm.onnx });
    const chunk = path.join(snapshot, llm.chunks[0]);
    fs.truncateSync(path.resolve(path.dirname(chunk), fs.readlinkSync(chunk)), 100);
    expect(() => readModelFolder(snapshot, llm.onnx)).toThrow(/truncated/);
    await redownloadToHfCache(hfRefOfFolder(snapshot)!, { endpoint: hub.endpoint, cacheDir: cache, onnxFile: llm.onnx });
    expect(fs.readFileSync(chunk).equals(fs.readFileSync(path.join(llm.whole, llm.chunks[0])))).toBe(true);
    expect(readModelFolder(snapshot, llm.onnx).external).toHaveLength(llm.chunks.length);
  });
});
