// Hub downloads against a local server with the Hub's URL layout: layout of the cache, resume,
// 404, authorization, no network, cancellation, path safety, HF cache discovery, and models whose
// weights are in external data chunks.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverHfCache, hfCacheRoot } from '../../src/models/hfCache';
import { type DownloadProgress, HubError, cachedModelFolder, downloadHubModel, downloadedModels, hubEndpoint, hubRefOfFolder, parseHubId, redownloadHubModel, safeJoin } from '../../src/models/hub';
import { listHubOnnxFiles } from '../../src/models/hubFiles';
import { readModelFolder } from '../../src/models/modelFolder';
import { FIXTURES, inspect } from './cli';
import { type ExternalDataRepos, type HubServer, type Misbehaviour, externalDataRepos, startHubServer } from './hubServer';

const BERT = path.join(FIXTURES, 'models/bert-plain');
let hub: HubServer;
let tmp: string;
let llm: ExternalDataRepos;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-hub-'));
  llm = await externalDataRepos(path.join(tmp, 'llm-repos'));
  hub = await startHubServer({
    'test-org/tiny-bert': BERT, 'test-org/gated-bert': BERT,
    'test-org/llm': llm.whole, 'test-org/llm-missing-chunk': llm.missingChunk, 'test-org/llm-short-chunk': llm.shortChunk, 'test-org/llm-unsafe': llm.unsafe,
  }, ['test-org/gated-bert']);
});
afterAll(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cache = (name: string) => path.join(tmp, name);
/** A copy of the fixture that also publishes onnx/model_quantized.onnx. */
function variantFolder(): string {
  const dir = path.join(tmp, 'variant-repo');
  fs.cpSync(BERT, dir, { recursive: true });
  fs.copyFileSync(path.join(BERT, 'onnx/model.onnx'), path.join(dir, 'onnx/model_quantized.onnx'));
  return dir;
}
const opts = (cacheRoot: string, extra: object = {}) => ({ endpoint: hub.endpoint, cacheRoot, onnxFile: 'onnx/model.onnx', ...extra });
const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof HubError ? e.code : String(e)));

describe('Hub ids and paths', () => {
  it('parses ids with and without revision, and rejects others', () => {
    expect(parseHubId('Xenova/bert-base-uncased')).toEqual({ id: 'Xenova/bert-base-uncased', revision: 'main' });
    expect(parseHubId(' onnx-community/gpt2@refs/pr/3 ')).toEqual({ id: 'onnx-community/gpt2', revision: 'refs/pr/3' });
    for (const bad of ['bert', '../etc/passwd', 'a/b/c', 'org/name@../x', '/abs/path', 'org/..']) expect(() => parseHubId(bad)).toThrow(HubError);
  });

  it('never lets a file path escape the cache', () => {
    const root = cache('safe');
    expect(safeJoin(root, 'onnx/model.onnx')).toBe(path.join(root, 'onnx', 'model.onnx'));
    for (const bad of ['../x', 'onnx/../../x', '/etc/passwd', 'C:/x', '..\\x', '']) expect(() => safeJoin(root, bad)).toThrow(/would leave the model cache/);
    expect(cachedModelFolder(root, parseHubId('org/name@refs/pr/1'))).toBe(path.join(root, 'org--name', 'refs--pr--1'));
  });

  it('honours the setting, then HF_ENDPOINT, then huggingface.co', () => {
    expect(hubEndpoint('https://mirror.local/', { HF_ENDPOINT: 'https://x' })).toBe('https://mirror.local');
    expect(hubEndpoint('', { HF_ENDPOINT: 'https://hf-mirror.example/' })).toBe('https://hf-mirror.example');
    expect(hubEndpoint(undefined, {})).toBe('https://huggingface.co');
  });
});

describe('downloadHubModel', () => {
  it('downloads the model files into the cache, and the model runs', async () => {
    const progress: number[] = [];
    const folder = await downloadHubModel(parseHubId('test-org/tiny-bert'), opts(cache('a'), { onProgress: (p: { loaded: number }) => progress.push(p.loaded) }));
    expect(folder).toBe(path.join(cache('a'), 'test-org--tiny-bert', 'main'));
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
      expect(fs.readFileSync(path.join(folder, f)).equals(fs.readFileSync(path.join(BERT, f)))).toBe(true);
    }
    expect(progress.length).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(cache('a'), '.partial', 'test-org--tiny-bert'))).toBe(false);
    expect(inspect(folder, 'the cat').attention).toHaveLength(2);
  });

  it('serves a cached model offline', async () => {
    const offline = (() => Promise.reject(new Error('offline'))) as typeof fetch;
    const folder = await downloadHubModel(parseHubId('test-org/tiny-bert'), opts(cache('a'), { fetchImpl: offline }));
    expect(fs.existsSync(path.join(folder, 'onnx/model.onnx'))).toBe(true);
  });

  it('resumes an interrupted transfer with a Range request, and shows nothing half-written', async () => {
    hub.interruptNext('onnx/model.onnx', 100_000);
    const ref = parseHubId('test-org/tiny-bert');
    expect(await code(downloadHubModel(ref, opts(cache('b'))))).toBe('network');
    expect(fs.existsSync(cachedModelFolder(cache('b'), ref))).toBe(false);
    const part = path.join(cache('b'), '.partial', 'test-org--tiny-bert', 'main', 'onnx', 'model.onnx.part');
    const kept = fs.statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(fs.statSync(path.join(BERT, 'onnx/model.onnx')).size);
    const folder = await downloadHubModel(ref, opts(cache('b')));
    expect(hub.requests.some((r) => r.url.endsWith('/onnx/model.onnx') && r.range === `bytes=${kept}-`)).toBe(true);
    expect(fs.readFileSync(path.join(folder, 'onnx/model.onnx')).equals(fs.readFileSync(path.join(BERT, 'onnx/model.onnx')))).toBe(true);
  });

  it('adds a second ONNX variant next to the first', async () => {
    const ref = parseHubId('test-org/tiny-bert');
    const first = await downloadHubModel(ref, opts(cache('variants')));
    const variants = await startHubServer({ 'test-org/tiny-bert': variantFolder() });
    try {
      const again = await downloadHubModel(ref, { ...opts(cache('variants')), endpoint: variants.endpoint, onnxFile: 'onnx/model_quantized.onnx' });
      expect(again).toBe(first);
      expect(fs.existsSync(path.join(first, 'onnx/model.onnx'))).toBe(true);
      expect(fs.existsSync(path.join(first, 'onnx/model_quantized.onnx'))).toBe(true);
    } finally {
      await variants.close();
    }
  });

  it('reports a model that does not exist and leaves nothing in the cache', async () => {
    await expect(downloadHubModel(parseHubId('test-org/missing'), opts(cache('c')))).rejects.toThrow(/Not found on the Hub: test-org\/missing\. Check the model id/);
    expect(fs.readdirSync(path.join(cache('c'), '.partial'))).toEqual([]);
  });

  it('reports a missing ONNX file by name', async () => {
    await expect(downloadHubModel(parseHubId('test-org/tiny-bert'), opts(cache('d'), { onnxFile: 'onnx/model_fp16.onnx' }))).rejects.toThrow(/onnx\/model_fp16\.onnx/);
  });

  it('asks for HF_TOKEN on gated models and sends it when given', async () => {
    await expect(downloadHubModel(parseHubId('test-org/gated-bert'), opts(cache('e')))).rejects.toThrow(/gated or private.*HF_TOKEN/);
    const folder = await downloadHubModel(parseHubId('test-org/gated-bert'), opts(cache('e'), { token: 'secret' }));
    expect(fs.existsSync(path.join(folder, 'onnx/model.onnx'))).toBe(true);
  });

  it('explains when there is no network', async () => {
    const err = await downloadHubModel(parseHubId('test-org/tiny-bert'), { ...opts(cache('f')), endpoint: 'http://127.0.0.1:9' }).catch((e: Error) => e);
    expect((err as HubError).code).toBe('network');
    expect((err as Error).message).toMatch(/Cannot reach http:\/\/127\.0\.0\.1:9.*offline/);
  });

  it('stops when cancelled', async () => {
    const ac = new AbortController();
    const p = downloadHubModel(parseHubId('test-org/tiny-bert'), opts(cache('g'), { signal: ac.signal, onProgress: () => ac.abort() }));
    expect(await code(p)).toBe('cancelled');
    expect(fs.existsSync(cachedModelFolder(cache('g'), parseHubId('test-org/tiny-bert')))).toBe(false);
  });
});

describe('Hugging Face cache discovery', () => {
  it('finds snapshots with an ONNX model under HF_HOME', () => {
    const home = cache('hf-home');
    const snap = path.join(home, 'hub', 'models--Xenova--tiny-bert', 'snapshots', 'abc123');
    fs.mkdirSync(path.join(snap, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(BERT, f), path.join(snap, f));
    fs.copyFileSync(path.join(BERT, 'onnx/model.onnx'), path.join(snap, 'onnx/model_quantized.onnx'));
    fs.mkdirSync(path.join(home, 'hub', 'models--org--no-onnx', 'snapshots', 'x'), { recursive: true });
    const root = hfCacheRoot({ HF_HOME: home });
    expect(root).toBe(path.join(home, 'hub'));
    expect(discoverHfCache(root)).toEqual([{ id: 'Xenova/tiny-bert', revision: 'abc123', folder: snap }]);
    expect(hfCacheRoot({ HF_HUB_CACHE: '/x/hub', HF_HOME: '/y' })).toBe('/x/hub');
    expect(discoverHfCache(path.join(tmp, 'nothing-here'))).toEqual([]);
  });
});

describe('listHubOnnxFiles (asking the Hub before downloading)', () => {
  it('lists the ONNX files with their data files and total sizes, onnx/model.onnx first', async () => {
    const repo = path.join(tmp, 'listing-repo');
    fs.cpSync(BERT, repo, { recursive: true });
    fs.writeFileSync(path.join(repo, 'onnx/model_fp16.onnx'), Buffer.alloc(1234));
    fs.writeFileSync(path.join(repo, 'onnx/model_large.onnx'), Buffer.alloc(10));
    fs.writeFileSync(path.join(repo, 'onnx/model_large.onnx_data'), Buffer.alloc(20));
    const server = await startHubServer({ 'org/listed': repo });
    try {
      const files = await listHubOnnxFiles(parseHubId('org/listed'), { endpoint: server.endpoint });
      expect(files.map((f) => [f.path, f.size, f.dataFiles, f.problem])).toEqual([
        ['onnx/model.onnx', fs.statSync(path.join(BERT, 'onnx/model.onnx')).size, [], undefined],
        ['onnx/model_fp16.onnx', 1234, [], undefined],
        ['onnx/model_large.onnx', 30, ['onnx/model_large.onnx_data'], undefined],
      ]);
      expect(server.requests[0].url).toMatch(/^\/api\/models\/org\/listed\/tree\/main\?recursive=true/);
    } finally {
      await server.close();
    }
  });

  it('counts every chunk of an external-data model in its size, in chunk order', async () => {
    const [file] = await listHubOnnxFiles(parseHubId('test-org/llm'), { endpoint: hub.endpoint });
    const bytes = (f: string) => fs.statSync(path.join(llm.whole, f)).size;
    expect(file.path).toBe('onnx/model.onnx');
    expect(file.dataFiles).toEqual(llm.chunks);
    expect(llm.chunks.length).toBeGreaterThan(1);
    expect(file.size).toBe([llm.onnx, ...llm.chunks].reduce((sum, f) => sum + bytes(f), 0));
    expect(file.problem).toBeUndefined();
  });

  it('flags only a file no runtime can read: a protobuf over 2 GB with no data file beside it', async () => {
    const lfs = (p: string, size: number) => ({ type: 'file', path: p, size: 134, oid: '0'.repeat(40), lfs: { oid: 'a'.repeat(64), size, pointerSize: 134 } });
    const tree = [
      { type: 'file', path: 'config.json', size: 2, oid: '1'.repeat(40) }, { type: 'file', path: 'tokenizer.json', size: 2, oid: '2'.repeat(40) },
      lfs('onnx/model.onnx', 3e9), lfs('onnx/model_fp16.onnx', 3e9), lfs('onnx/model_fp16.onnx_data', 1e9), lfs('model.onnx', 1e5), lfs('model.onnx.data', 4e9),
    ];
    const fakeHub = (async () => new Response(JSON.stringify(tree), { headers: { 'content-type': 'application/json' } })) as typeof fetch;
    const files = await listHubOnnxFiles(parseHubId('org/big'), { endpoint: 'https://hub.example', fetchImpl: fakeHub });
    expect(files.map((f) => [f.path, f.size, f.dataFiles])).toEqual([
      ['onnx/model.onnx', 3e9, []],
      ['model.onnx', 1e5 + 4e9, ['model.onnx.data']],
      ['onnx/model_fp16.onnx', 4e9, ['onnx/model_fp16.onnx_data']],
    ]);
    expect(files.map((f) => f.problem)).toEqual([expect.stringMatching(/3(\.0)? GB in one protobuf, over its 2 GB limit, with no external data file/), undefined, undefined]);
  });

  it('says at once when the repository is missing, gated, incomplete, or the Hub cannot be reached', async () => {
    const list = (id: string, extra: object = {}) => code(listHubOnnxFiles(parseHubId(id), { endpoint: hub.endpoint, ...extra }));
    expect(await list('test-org/nothing')).toBe('not-found');
    expect(await list('test-org/gated-bert')).toBe('unauthorized');
    expect(await list('test-org/gated-bert', { token: 'secret' })).toBe('ok');
    const noTokenizer = path.join(tmp, 'no-tokenizer-repo');
    fs.cpSync(BERT, noTokenizer, { recursive: true });
    fs.rmSync(path.join(noTokenizer, 'tokenizer.json'));
    const server = await startHubServer({ 'org/no-tok': noTokenizer });
    try {
      await expect(listHubOnnxFiles(parseHubId('org/no-tok'), { endpoint: server.endpoint })).rejects.toThrow(/has no tokenizer\.json/);
    } finally {
      await server.close();
    }
    await expect(listHubOnnxFiles(parseHubId('a/b'), { endpoint: 'http://127.0.0.1:9' })).rejects.toThrow(/Cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});

describe('Hub transport safety', () => {
  it('accepts only https endpoints, or plain http to this machine', () => {
    expect(hubEndpoint('https://mirror.example/')).toBe('https://mirror.example');
    expect(hubEndpoint('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(hubEndpoint('http://localhost:9')).toBe('http://localhost:9');
    expect(() => hubEndpoint('http://mirror.example')).toThrow(/not https/);
    expect(() => hubEndpoint('ftp://mirror.example')).toThrow(/not https/);
    expect(() => hubEndpoint('not a url')).toThrow(/not a URL/);
    expect(() => hubEndpoint(undefined, { HF_ENDPOINT: 'http://10.0.0.5' })).toThrow(/not https/);
  });

  it('sends HF_TOKEN to the endpoint but not to where it redirects a file', async () => {
    const cdn = await startHubServer({ 'test-org/gated-bert': BERT });
    try {
      hub.redirect('onnx/model.onnx', cdn.endpoint);
      const before = hub.requests.length;
      const folder = await downloadHubModel(parseHubId('test-org/gated-bert'), opts(cache('redirected'), { token: 'secret' }));
      expect(fs.existsSync(path.join(folder, 'onnx/model.onnx'))).toBe(true);
      expect(cdn.requests.map((r) => [r.url, r.authorization])).toEqual([['/test-org/gated-bert/resolve/main/onnx/model.onnx', undefined]]);
      const own = hub.requests.slice(before);
      expect(own.length).toBeGreaterThan(0);
      expect(own.every((r) => r.authorization === 'Bearer secret')).toBe(true);
    } finally {
      hub.redirect('onnx/model.onnx', '');
      await cdn.close();
    }
  });
});

describe('verified transfers: a misbehaving server never leaves an unverified file in the cache', () => {
  const ref = () => parseHubId('test-org/tiny-bert');
  const onnx = 'onnx/model.onnx';
  const original = () => fs.readFileSync(path.join(BERT, onnx));
  const cachedOnnx = (root: string) => path.join(cachedModelFolder(root, ref()), onnx);
  /** The cache holds no ONNX file, or exactly the original one. */
  const cacheIsClean = (root: string) => !fs.existsSync(cachedOnnx(root)) || fs.readFileSync(cachedOnnx(root)).equals(original());

  it('a body without Content-Length that stops early is not taken for the file, and the next try completes it', async () => {
    const root = cache('short');
    hub.misbehaveNext(onnx, { kind: 'short-without-length', bytes: 50_000 });
    expect(await code(downloadHubModel(ref(), opts(root)))).toBe('network');
    expect(fs.existsSync(cachedOnnx(root))).toBe(false);
    const folder = await downloadHubModel(ref(), opts(root));
    expect(fs.readFileSync(path.join(folder, onnx)).equals(original())).toBe(true);
  });

  it('a server that stops sending mid-file is given up after the stall time, and the next try resumes', async () => {
    const root = cache('stall');
    hub.misbehaveNext(onnx, { kind: 'stall', bytes: 50_000 });
    const started = Date.now();
    const failure = await downloadHubModel(ref(), { ...opts(root), stallMs: 300 }).then(() => undefined, (e: HubError) => e);
    expect(failure?.code).toBe('network');
    expect(failure?.message).toMatch(/stopped sending onnx\/model\.onnx: nothing arrived for 300 ms after .*Run the download again to resume/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(fs.existsSync(cachedOnnx(root))).toBe(false);
    const folder = await downloadHubModel(ref(), opts(root));
    expect(fs.readFileSync(path.join(folder, onnx)).equals(original())).toBe(true);
    // The second try continued the partial file instead of starting over.
    expect(hub.requests.filter((r) => r.url.endsWith(onnx)).at(-1)?.range).toBe('bytes=50000-');
  });

  /** A transfer cut short, then a resume the server answers as `how`; the download must end with the original file. */
  async function resumeAnsweredWith(root: string, how: Misbehaviour): Promise<void> {
    hub.interruptNext(onnx, 60_000);
    expect(await code(downloadHubModel(ref(), opts(root)))).toBe('network');
    hub.misbehaveNext(onnx, how);
    const folder = await downloadHubModel(ref(), opts(root));
    expect(fs.readFileSync(path.join(folder, onnx)).equals(original())).toBe(true);
  }

  it('a 416 to a resume is not taken as "complete": the file is fetched afresh', async () => {
    await resumeAnsweredWith(cache('416'), { kind: 'resume-416' });
    expect(hub.requests.filter((r) => r.url.endsWith(onnx)).slice(-2).map((r) => r.range)).toEqual([expect.stringMatching(/^bytes=\d+-$/), undefined]);
  });

  it('a 206 that starts at the wrong offset is not spliced in', async () => {
    await resumeAnsweredWith(cache('offset'), { kind: 'resume-wrong-offset' });
  });

  it('a resume asks If-Range with the ETag, and a file changed meanwhile is fetched whole, not spliced', async () => {
    const root = cache('changed');
    const server = await startHubServer({ 'test-org/tiny-bert': BERT });
    try {
      server.interruptNext(onnx, 60_000);
      expect(await code(downloadHubModel(ref(), { ...opts(root), endpoint: server.endpoint }))).toBe('network');
      const changed = Buffer.from(original());
      changed[10] ^= 0xff; // a new upload at the same revision name, same size
      server.replace(onnx, changed);
      const folder = await downloadHubModel(ref(), { ...opts(root), endpoint: server.endpoint });
      const resume = server.requests.filter((r) => r.url.endsWith(onnx)).at(-1)!;
      expect(resume.range).toMatch(/^bytes=\d+-$/);
      expect(resume.ifRange).toMatch(/^".+"$/);
      expect(fs.readFileSync(path.join(folder, onnx)).equals(changed)).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('an HTML error page with 200, or a flipped byte, fails verification and leaves nothing behind', async () => {
    for (const kind of ['html-200', 'flipped-byte'] as const) {
      const root = cache(`bad-${kind}`);
      hub.misbehaveNext(onnx, { kind });
      const err = await downloadHubModel(ref(), opts(root)).then(() => undefined, (e: unknown) => e as HubError);
      expect([kind, err?.code]).toEqual([kind, kind === 'flipped-byte' ? 'corrupt' : 'network']);
      expect(err?.message).toMatch(kind === 'flipped-byte' ? /failed verification: its SHA-256 is not the one the Hub lists/ : /stopped at .* of the .* the Hub lists/);
      expect(cacheIsClean(root)).toBe(true);
      expect(fs.existsSync(cachedOnnx(root))).toBe(false);
      if (kind === 'flipped-byte') expect(fs.readdirSync(root, { recursive: true }).filter((f) => String(f).endsWith('.part'))).toEqual([]);
      const folder = await downloadHubModel(ref(), opts(root));
      expect(fs.readFileSync(path.join(folder, onnx)).equals(original())).toBe(true);
    }
  });

  it('Re-download really fetches a cached model again (downloading again alone serves the broken copy)', async () => {
    const root = cache('redownload');
    const folder = await downloadHubModel(ref(), opts(root));
    fs.truncateSync(path.join(folder, onnx), 1000); // damaged on disk after it was cached
    expect(await downloadHubModel(ref(), opts(root))).toBe(folder);
    expect(fs.statSync(path.join(folder, onnx)).size).toBe(1000);
    const found = hubRefOfFolder(root, folder)!;
    expect(found).toEqual({ id: 'test-org/tiny-bert', revision: 'main' });
    expect(hubRefOfFolder(root, BERT)).toBeUndefined();
    const again = await redownloadHubModel(found, opts(root));
    expect(again).toBe(folder);
    expect(fs.readFileSync(path.join(folder, onnx)).equals(original())).toBe(true);
  });
});

describe('external data: the chunks come with the model, checked and verified', () => {
  const same = (folder: string, file: string) => fs.readFileSync(path.join(folder, file)).equals(fs.readFileSync(path.join(llm.whole, file)));
  /** Requests for any data file of `repo`, or for a file outside its onnx folder. */
  const dataRequests = (repo: string) => hub.requests.filter((r) => r.url.startsWith(`/test-org/${repo}/resolve/`) && /onnx_data|outside\.bin/.test(r.url));
  const partFiles = (root: string) => (fs.existsSync(root) ? fs.readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith('.part')) : []);

  it('downloads every chunk the graph names, the .onnx last, into a folder the model reader and inspect accept', async () => {
    const progress: DownloadProgress[] = [];
    const folder = await downloadHubModel(parseHubId('test-org/llm'), opts(cache('llm'), { onProgress: (p: DownloadProgress) => progress.push(p) }));
    for (const f of ['config.json', 'tokenizer.json', llm.onnx, ...llm.chunks]) expect([f, same(folder, f)]).toEqual([f, true]);
    const info = readModelFolder(folder, llm.onnx);
    expect(info.external.map((e) => `onnx/${e.location}`)).toEqual(llm.chunks);
    // Each chunk reported as it arrived, and the whole download counted over all the files.
    for (const f of llm.chunks) expect(progress.some((p) => p.file === f && p.loaded === p.total)).toBe(true);
    const last = progress.at(-1)!.overall!;
    expect(last.loaded).toBe(last.total);
    expect(last.total).toBe(['config.json', 'tokenizer.json', 'tokenizer_config.json', llm.onnx, ...llm.chunks].reduce((sum, f) => sum + fs.statSync(path.join(llm.whole, f)).size, 0));
    expect(progress.every((p, i) => i === 0 || p.overall!.loaded >= progress[i - 1].overall!.loaded)).toBe(true);
    expect(inspect(folder, 'the cat sat').attention.length).toBeGreaterThan(0);
  });

  it('a tampered chunk fails verification: nothing of it is cached, and the model does not count as downloaded', async () => {
    const root = cache('llm-tampered');
    hub.misbehaveNext(llm.chunks[1], { kind: 'flipped-byte' });
    const err = await downloadHubModel(parseHubId('test-org/llm'), opts(root)).then(() => undefined, (e: unknown) => e as HubError);
    expect(err?.code).toBe('corrupt');
    expect(err?.message).toContain(`${llm.chunks[1]} failed verification: its SHA-256 is not the one the Hub lists`);
    expect(downloadedModels(root)).toEqual([]);
    expect(fs.existsSync(path.join(cachedModelFolder(root, parseHubId('test-org/llm')), llm.onnx))).toBe(false);
    expect(partFiles(root)).toEqual([]);
    const folder = await downloadHubModel(parseHubId('test-org/llm'), opts(root));
    expect(llm.chunks.every((f) => same(folder, f))).toBe(true);
  });

  it('a chunk the listing lacks is named, and no data is fetched', async () => {
    const root = cache('llm-missing');
    const err = await downloadHubModel(parseHubId('test-org/llm-missing-chunk'), opts(root)).then(() => undefined, (e: unknown) => e as HubError);
    expect(err?.code).toBe('not-found');
    expect(err?.message).toMatch(new RegExp(`keeps .* of its weights \\(\\d+ tensors\\) in ${llm.chunks.at(-1)!.replace(/\./g, '\\.')}, which test-org/llm-missing-chunk does not have`));
    expect(dataRequests('llm-missing-chunk')).toEqual([]);
    expect(downloadedModels(root)).toEqual([]);
  });

  it('a chunk the listing says is shorter than the graph reads is refused with both sizes, and no data is fetched', async () => {
    const root = cache('llm-short');
    const err = await downloadHubModel(parseHubId('test-org/llm-short-chunk'), opts(root)).then(() => undefined, (e: unknown) => e as HubError);
    const listed = fs.statSync(path.join(llm.shortChunk, llm.chunks.at(-1)!)).size;
    expect(err?.code).toBe('corrupt');
    expect(err?.message).toContain(`${llm.chunks.at(-1)} is `);
    expect(err?.message).toMatch(new RegExp(`\\(${listed} bytes\\) on the Hub, but onnx/model\\.onnx reads .* \\((\\d+) bytes\\) from it`));
    expect(dataRequests('llm-short-chunk')).toEqual([]);
    expect(downloadedModels(root)).toEqual([]);
  });

  it('a location outside the ONNX file folder is refused before any data is fetched', async () => {
    const root = cache('llm-unsafe');
    const err = await downloadHubModel(parseHubId('test-org/llm-unsafe'), opts(root)).then(() => undefined, (e: unknown) => e as HubError);
    expect(err?.code).toBe('unsafe-path');
    expect(err?.message).toMatch(/onnx\/model\.onnx of test-org\/llm-unsafe names external data at "\.\.\/outside\.bin".*A model may only read files beside it/);
    expect(dataRequests('llm-unsafe')).toEqual([]);
    expect(downloadedModels(root)).toEqual([]);
    expect(fs.existsSync(path.join(root, '.partial', 'test-org--llm-unsafe'))).toBe(false);
  });

  it('Re-download fetches the data chunks again', async () => {
    const root = cache('llm-redownload');
    const ref = parseHubId('test-org/llm');
    const folder = await downloadHubModel(ref, opts(root));
    fs.truncateSync(path.join(folder, llm.chunks[0]), 1000); // damaged on disk after it was cached
    expect(() => readModelFolder(folder, llm.onnx)).toThrow(/truncated/);
    await redownloadHubModel(ref, opts(root));
    expect(llm.chunks.every((f) => same(folder, f))).toBe(true);
    expect(readModelFolder(folder, llm.onnx).external).toHaveLength(llm.chunks.length);
  });
});
