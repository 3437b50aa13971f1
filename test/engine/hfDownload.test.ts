// `attention-lens download` against the stand-in Hub: the standard Hugging Face cache layout
// (blobs named by digest, snapshot links, refs), verified transfers, a model the extension's
// picker and `inspect` then find, and one-line failures that leave nothing unverified behind.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverHfCache } from '../../src/models/hfCache';
import { hfRefOfFolder, redownloadToHfCache } from '../../src/models/hfDownload';
import { FIXTURES, ROOT, inspect } from './cli';
import { type HubServer, REPO_COMMIT, startHubServer } from './hubServer';

const BERT = path.join(FIXTURES, 'models/bert-plain');
let hub: HubServer;
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-hfdl-'));
  const repo = path.join(tmp, 'repo');
  fs.cpSync(BERT, repo, { recursive: true });
  fs.copyFileSync(path.join(BERT, 'onnx/model.onnx'), path.join(repo, 'onnx/model_quantized.onnx'));
  hub = await startHubServer({ 'test-org/tiny-bert': repo });
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
