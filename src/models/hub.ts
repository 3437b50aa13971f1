/**
 * Downloading models from the Hugging Face Hub (or a mirror) into Attention Lens's cache:
 * `{endpoint}/{id}/resolve/{revision}/{path}`, resumable, cancellable, with progress. A model's
 * external data files come with it (the ones its graph names, checked against the listing before
 * any is fetched). A model appears in the cache only when every file arrived verified, its ONNX
 * file last; partial files live apart, for resume. No vscode import.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatBytes } from '../core/units';
import { type HubFileDigest, cachedDataFiles, expectedBytes, externalDataDigests, modelFileDigests } from './hubFiles';
import { decodersOf, splitSet } from './splitLayout';

/** A Hub model reference: `org/name` with an optional `@revision`. */
export interface HubRef {
  id: string;
  revision: string;
}

/** A download failure with a message for the user. */
export class HubError extends Error {
  constructor(message: string, readonly code: 'bad-id' | 'bad-endpoint' | 'not-found' | 'unauthorized' | 'network' | 'cancelled' | 'http' | 'unsafe-path' | 'corrupt') {
    super(message);
    this.name = 'HubError';
  }
}

const ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;
const REVISION = /^[\w.-]+(\/[\w.-]+)*$/;
/** Files a model needs besides its ONNX file; tokenizer_config.json is optional on the Hub. */
export const MODEL_FILES = ['config.json', 'tokenizer.json'];
export const OPTIONAL_FILES = ['tokenizer_config.json'];

/** Parses `org/name[@revision]`; throws `HubError` for anything else. */
export function parseHubId(text: string): HubRef {
  const t = text.trim();
  const at = t.indexOf('@');
  const id = at < 0 ? t : t.slice(0, at);
  const revision = at < 0 ? 'main' : t.slice(at + 1);
  if (!ID.test(id) || id.includes('..')) throw new HubError(`"${text}" is not a Hub model id: expected org/name, optionally @revision (for example Xenova/bert-base-uncased).`, 'bad-id');
  if (!REVISION.test(revision) || revision.split('/').includes('..')) throw new HubError(`"${revision}" is not a valid revision.`, 'bad-id');
  return { id, revision };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** `https:`, or `http:` to this machine. */
const isSecure = (url: URL) => url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));

/**
 * The Hub endpoint: explicit setting, else HF_ENDPOINT, else huggingface.co. Only `https:` (or
 * plain `http:` to this machine, for local mirrors): tokens and model files never travel in clear.
 */
export function hubEndpoint(setting: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const value = (setting?.trim() || env.HF_ENDPOINT?.trim() || 'https://huggingface.co').replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new HubError(`The Hub endpoint "${value}" is not a URL. Set attentionLens.hubEndpoint (or HF_ENDPOINT) to an https:// address.`, 'bad-endpoint');
  }
  if (!isSecure(url)) {
    throw new HubError(`The Hub endpoint ${value} is not https: models and HF_TOKEN would travel unencrypted. Use an https:// address (plain http is allowed only for 127.0.0.1 or localhost).`, 'bad-endpoint');
  }
  return value;
}

/** Resolves `rel` under `root`, refusing paths that would escape it (`..`, absolute, drive letters). */
export function safeJoin(root: string, rel: string): string {
  const parts = rel.split(/[\\/]+/);
  if (!rel || path.isAbsolute(rel) || /^[A-Za-z]:/.test(rel) || parts.some((p) => p === '..' || p === '')) {
    throw new HubError(`Refusing Hub file path "${rel}": it would leave the model cache.`, 'unsafe-path');
  }
  const full = path.resolve(root, ...parts);
  if (!full.startsWith(path.resolve(root) + path.sep)) throw new HubError(`Refusing Hub file path "${rel}": it would leave the model cache.`, 'unsafe-path');
  return full;
}

// The download cache's layout, written and read only here: `{cache}/{org}--{name}/{revision}`,
// slashes in the revision becoming `--`; partial downloads under `{cache}/.partial/` with the same layout.
const PARTIAL = '.partial';
const layoutPath = (ref: HubRef) => `${ref.id.replace('/', '--')}/${ref.revision.replace(/\//g, '--')}`;

/** Folder of a cached Hub model: `{cache}/{org}--{name}/{revision}`. */
export function cachedModelFolder(cacheRoot: string, ref: HubRef): string {
  return safeJoin(cacheRoot, layoutPath(ref));
}

/** Every model folder in the download cache, with the id and revision it was downloaded as. */
export function downloadedModels(cacheRoot: string): Array<HubRef & { folder: string }> {
  if (!fs.existsSync(cacheRoot)) return [];
  return fs.readdirSync(cacheRoot)
    .filter((repo) => repo !== PARTIAL && !repo.startsWith('.') && repo.includes('--'))
    .flatMap((repo) => fs.readdirSync(path.join(cacheRoot, repo)).map((rev) => ({ id: repo.replace('--', '/'), revision: rev.replace(/--/g, '/'), folder: path.join(cacheRoot, repo, rev) })));
}

/** The Hub model a folder of the download cache holds, when it is one. */
export function hubRefOfFolder(cacheRoot: string, folder: string): HubRef | undefined {
  const hit = downloadedModels(cacheRoot).find((m) => path.resolve(m.folder) === path.resolve(folder));
  return hit && { id: hit.id, revision: hit.revision };
}

/**
 * Downloads a cached model's files again (the way out when a cached model fails to load): removes
 * the cached copies of `o.onnxFile` (first: the folder stops counting as holding it), its data files
 * and the model files, then downloads and verifies them afresh.
 */
export async function redownloadHubModel(ref: HubRef, o: DownloadOptions): Promise<string> {
  const folder = cachedModelFolder(o.cacheRoot, ref);
  const data = cachedDataFiles(ref, folder, o.onnxFile);
  const set = splitSet(o.onnxFile, (f) => fs.existsSync(safeJoin(folder, f)));
  for (const file of [o.onnxFile, ...data, ...(set ? decodersOf(set) : []), ...MODEL_FILES, ...OPTIONAL_FILES]) fs.rmSync(safeJoin(folder, file), { force: true });
  return downloadHubModel(ref, o);
}

/** Progress of a download: the current file's bytes so far, and the whole download's. */
export interface DownloadProgress {
  file: string;
  loaded: number;
  total: number | undefined;
  /** Bytes of every file of the download so far, and in all (an estimate until the ONNX file names its data files). */
  overall?: { loaded: number; total: number };
}

/**
 * Progress over the files of one download: each transfer reports its bytes on top of the files
 * before it. `total` grows or shrinks once the data files are known.
 */
export function progressOver(o: TransferOptions, total: number): { total: number; done(bytes: number): void; options(): TransferOptions } {
  let finished = 0;
  const tally = {
    total,
    done: (bytes: number) => void (finished += bytes),
    options: (): TransferOptions => {
      const before = finished;
      return { ...o, onProgress: o.onProgress && ((p) => o.onProgress!({ ...p, overall: { loaded: before + p.loaded, total: Math.max(tally.total, before + p.loaded) } })) };
    },
  };
  return tally;
}

/** How to reach the Hub and what to do while a file transfers. */
export interface TransferOptions {
  endpoint: string;
  /** Sent as a bearer token, only to `endpoint`'s origin (never to where a redirect leads elsewhere). */
  token?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  fetchImpl?: typeof fetch;
  /** A transfer that receives nothing for this long is stopped (resumable); default STALL_MS. */
  stallMs?: number;
}

/** How long a transfer may receive nothing (no reply, or no bytes) before it is given up. */
export const STALL_MS = 60_000;

/** A model download into the extension's cache. */
export interface DownloadOptions extends TransferOptions {
  cacheRoot: string;
  /** ONNX file to fetch, e.g. `onnx/model.onnx` or `onnx/model_quantized.onnx`. */
  onnxFile: string;
}

/** Where the Hub serves `file` of `ref`'s revision. */
export function resolveUrl(endpoint: string, ref: HubRef, file: string): string {
  return `${endpoint}/${ref.id}/resolve/${encodeURIComponent(ref.revision)}/${file}`;
}

/**
 * The commit a revision names, from the `X-Repo-Commit` header of a HEAD request for one of its
 * files; undefined when the server does not say (a plain mirror).
 */
export async function repoCommit(ref: HubRef, file: string, o: TransferOptions): Promise<string | undefined> {
  try {
    const res = await fetchFollowing(o.fetchImpl ?? fetch, resolveUrl(o.endpoint, ref, file), {}, o, 'HEAD');
    const commit = res.headers.get('x-repo-commit') ?? '';
    return /^[0-9a-f]{40}$/.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Downloads a model into the cache and returns its folder. Already cached models return at once
 * (offline). Interrupted transfers resume from their partial file with an HTTP Range request.
 * The external data files the ONNX file's graph names come with it, each checked against the
 * listing before any is fetched and verified like the others.
 */
export async function downloadHubModel(ref: HubRef, o: DownloadOptions): Promise<string> {
  const final = cachedModelFolder(o.cacheRoot, ref);
  if (fs.existsSync(path.join(final, o.onnxFile)) && MODEL_FILES.every((f) => fs.existsSync(path.join(final, f)))) return final;
  const staging = safeJoin(o.cacheRoot, `${PARTIAL}/${layoutPath(ref)}`);
  safeJoin(staging, o.onnxFile);
  fs.mkdirSync(staging, { recursive: true });
  const doFetch = o.fetchImpl ?? fetch;
  let data: HubFileDigest[];
  /** A split set's decoders, listed before its encoder. */
  let decoders: string[];
  try {
    const { files, listed } = await modelFileDigests(ref, o, o.onnxFile);
    decoders = files.filter((f) => f.path.endsWith('.onnx') && f.path !== o.onnxFile).map((f) => f.path);
    const tally = progressOver(o, expectedBytes(files, listed, o.onnxFile));
    for (const expected of files) {
      await fetchFile(doFetch, safeJoin(staging, expected.path), expected, ref, tally.options());
      tally.done(expected.size);
    }
    data = externalDataDigests(ref, listed, o.onnxFile, safeJoin(staging, o.onnxFile));
    tally.total = [...files, ...data].reduce((sum, f) => sum + f.size, 0);
    for (const expected of data) {
      await fetchFile(doFetch, safeJoin(staging, expected.path), expected, ref, tally.options());
      tally.done(expected.size);
    }
  } catch (e) {
    if (e instanceof HubError && (e.code === 'not-found' || e.code === 'unauthorized' || e.code === 'bad-id' || e.code === 'unsafe-path' || e.code === 'corrupt')) {
      removeStaging(staging); // nothing to resume
    }
    throw e;
  }
  // Merge into the cached folder (another ONNX variant may already be there); the data files move
  // before the ONNX file, which moves last: a folder without it never counts as a cached model.
  for (const file of [...MODEL_FILES, ...OPTIONAL_FILES, ...data.map((d) => d.path), ...decoders, o.onnxFile]) {
    const from = safeJoin(staging, file);
    if (!fs.existsSync(from)) continue;
    const to = safeJoin(final, file);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.renameSync(from, to);
  }
  removeStaging(staging);
  return final;
}

/** Removes a staging folder and the repository folder above it once it is empty. */
function removeStaging(staging: string): void {
  fs.rmSync(staging, { recursive: true, force: true });
  const repo = path.dirname(staging);
  if (fs.existsSync(repo) && fs.readdirSync(repo).length === 0) fs.rmdirSync(repo);
}

/**
 * `fetch` that follows up to five redirects itself, so the token goes only to the endpoint's origin
 * (the Hub redirects LFS files to a CDN, which must not receive it).
 */
async function fetchFollowing(doFetch: typeof fetch, url: string, headers: Record<string, string>, o: TransferOptions, method = 'GET'): Promise<Response> {
  const origin = new URL(o.endpoint).origin;
  let at = url;
  for (let hop = 0; hop <= 5; hop++) {
    const own = new URL(at).origin === origin;
    const res = await doFetch(at, { method, headers: { ...headers, ...(o.token && own ? { authorization: `Bearer ${o.token}` } : {}) }, signal: o.signal, redirect: 'manual' });
    const next = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
    if (!next) return res;
    await res.body?.cancel().catch(() => undefined);
    at = new URL(next, at).toString();
    if (!isSecure(new URL(at))) throw new HubError(`The Hub redirected ${url} to ${new URL(at).origin}, which is not https.`, 'network');
  }
  throw new HubError(`Too many redirects downloading ${url}.`, 'network');
}

/** What a partial file was a part of, kept beside it, so a resume continues the same file or starts over. */
interface PartialMeta {
  size: number;
  etag?: string;
}

/** "bytes 100-199/200" → { start: 100, total: 200 }. */
function contentRange(v: string | null): { start: number; total?: number } | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(v ?? '');
  return m ? { start: Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) } : undefined;
}

/** Whether `file`'s content matches the listing's digest (SHA-256 for LFS files, the git blob id otherwise). */
async function digestMatches(file: string, expected: HubFileDigest): Promise<boolean> {
  if (!expected.sha256 && !expected.gitOid) return true;
  const hash = crypto.createHash(expected.sha256 ? 'sha256' : 'sha1');
  if (!expected.sha256) hash.update(`blob ${expected.size}\0`);
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex') === (expected.sha256 ?? expected.gitOid);
}

/**
 * Fetches one file to `dest`, checked against what the Hub lists: the bytes go to `dest.part`
 * (resumed with Range and If-Range when the server names the file with an ETag), a resume must
 * continue at the right offset of the same file, the length must be the listed size and the
 * content must match the listed digest; only then is the file renamed into place. A partial file
 * that cannot be continued is dropped and the file fetched afresh; one that fails its digest is
 * removed.
 */
export async function fetchFile(doFetch: typeof fetch, dest: string, expected: HubFileDigest, ref: HubRef, o: TransferOptions): Promise<void> {
  if (fs.existsSync(dest)) return;
  const file = expected.path;
  const url = resolveUrl(o.endpoint, ref, file);
  const part = `${dest}.part`;
  const metaFile = `${part}.json`;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const dropPartial = () => {
    fs.rmSync(part, { force: true });
    fs.rmSync(metaFile, { force: true });
  };
  for (let attempt = 0; ; attempt++) {
    let meta: PartialMeta | undefined;
    try {
      meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as PartialMeta;
    } catch {
      meta = undefined;
    }
    // Resume only a partial of this very file: the listed size, and an ETag to ask If-Range with.
    if (fs.existsSync(part) && (!meta?.etag || meta.size !== expected.size || fs.statSync(part).size > expected.size)) dropPartial();
    const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
    const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-`, 'if-range': meta!.etag! } : {};
    // A server that accepts the connection and then sends nothing would hang the download: give it
    // stallMs for the reply and between chunks of the body, then stop (the partial file stays, to resume).
    const stallMs = o.stallMs ?? STALL_MS;
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(), stallMs);
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), stallMs);
    };
    const stalled = (received: number) => new HubError(`The server stopped sending ${file}: nothing arrived for ${stallMs < 1000 ? `${stallMs} ms` : `${Math.round(stallMs / 1000)} s`}${received > 0 ? ` after ${formatBytes(received)}` : ''}. Run the download again to resume where it stopped.`, 'network');
    const signal = o.signal ? AbortSignal.any([o.signal, idle.signal]) : idle.signal;
    let res: Response;
    try {
      res = await fetchFollowing(doFetch, url, headers, { ...o, signal });
      touch();
    } catch (e) {
      clearTimeout(timer);
      if (e instanceof HubError) throw e;
      if (o.signal?.aborted) throw new HubError('Download cancelled; it resumes where it stopped next time.', 'cancelled');
      if (idle.signal.aborted) throw stalled(0);
      throw new HubError(`Cannot reach ${new URL(url).origin} (${(e as Error).message}). Check the network or attentionLens.hubEndpoint / HF_ENDPOINT; models already downloaded keep working offline.`, 'network');
    }
    if (res.status === 404) throw new HubError(`Not found on the Hub: ${ref.id}${ref.revision === 'main' ? '' : `@${ref.revision}`} (${file}). Check the model id, revision and file name.`, 'not-found');
    if (res.status === 401 || res.status === 403) {
      throw new HubError(`${ref.id} needs authorization (HTTP ${res.status}): it may be gated or private. Accept its terms on the Hub and set HF_TOKEN before starting VS Code.`, 'unauthorized');
    }
    // A resume the server cannot continue (416, or a 206 at another offset or of another length): start over, once.
    const range = res.status === 206 ? contentRange(res.headers.get('content-range')) : undefined;
    const badResume = have > 0 && (res.status === 416 || (res.status === 206 && (range?.start !== have || (range.total !== undefined && range.total !== expected.size))));
    if (badResume || (res.status === 206 && have === 0)) {
      await res.body?.cancel().catch(() => undefined);
      dropPartial();
      if (attempt === 0) continue;
      throw new HubError(`The server did not resume ${file} where it stopped (HTTP ${res.status}${range ? `, ${res.headers.get('content-range')}` : ''}), even from the start; the partial file was removed. Try again later.`, 'network');
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel().catch(() => undefined);
      throw new HubError(`Downloading ${file} failed: HTTP ${res.status}.`, 'http');
    }
    if (!res.body) throw new HubError(`Downloading ${file} failed: the reply had no body.`, 'http');
    const append = res.status === 206; // else 200: the whole file (the server ignored the Range, or the ETag changed)
    if (!append) fs.writeFileSync(metaFile, JSON.stringify({ size: expected.size, etag: res.headers.get('etag') ?? undefined } satisfies PartialMeta));
    const out = fs.createWriteStream(part, { flags: append ? 'a' : 'w' });
    let loaded = append ? have : 0;
    const closeOut = () => new Promise<void>((r) => out.end(() => r()));
    try {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        touch();
        if (done) break;
        loaded += value.byteLength;
        if (loaded > expected.size) {
          await reader.cancel().catch(() => undefined);
          await closeOut();
          dropPartial();
          throw new HubError(`The server sent more of ${file} than the ${formatBytes(expected.size)} the Hub lists (an error page, or another file?); it was removed. Try again later.`, 'corrupt');
        }
        if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
        o.onProgress?.({ file, loaded, total: expected.size });
      }
    } catch (e) {
      if (e instanceof HubError) throw e;
      await closeOut();
      if (o.signal?.aborted) throw new HubError('Download cancelled; it resumes where it stopped next time.', 'cancelled');
      if (idle.signal.aborted) throw stalled(loaded);
      throw new HubError(`The transfer of ${file} was interrupted after ${loaded} bytes (${(e as Error).message}); run the download again to resume.`, 'network');
    } finally {
      clearTimeout(timer);
    }
    await closeOut();
    if (loaded !== expected.size) {
      throw new HubError(`The transfer of ${file} stopped at ${formatBytes(loaded)} of the ${formatBytes(expected.size)} the Hub lists; run the download again to resume.`, 'network');
    }
    if (!(await digestMatches(part, expected))) {
      dropPartial();
      throw new HubError(`${file} failed verification: its ${expected.sha256 ? 'SHA-256' : 'git blob id'} is not the one the Hub lists (${(expected.sha256 ?? expected.gitOid)!.slice(0, 12)}…). It was removed; run the download again.`, 'corrupt');
    }
    fs.renameSync(part, dest);
    fs.rmSync(metaFile, { force: true });
    return;
  }
}
