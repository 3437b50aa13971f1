/**
 * Downloading models from the Hugging Face Hub (or a mirror) into Attention Lens's cache:
 * `{endpoint}/{id}/resolve/{revision}/{path}`, resumable, cancellable, with progress. A model
 * folder appears in the cache only when every file arrived; partial files live apart, for resume.
 * No vscode import.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatBytes } from '../core/units';

/** A Hub model reference: `org/name` with an optional `@revision`. */
export interface HubRef {
  id: string;
  revision: string;
}

/** A download failure with a message for the user. */
export class HubError extends Error {
  constructor(message: string, readonly code: 'bad-id' | 'bad-endpoint' | 'not-found' | 'unauthorized' | 'network' | 'cancelled' | 'http' | 'unsafe-path' | 'too-large') {
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

/** Progress of a download: bytes so far over all files, and the current file. */
export interface DownloadProgress {
  file: string;
  loaded: number;
  total: number | undefined;
}

export interface DownloadOptions {
  endpoint: string;
  cacheRoot: string;
  /** ONNX file to fetch, e.g. `onnx/model.onnx` or `onnx/model_quantized.onnx`. */
  onnxFile: string;
  /** Sent as a bearer token, only to `endpoint`'s origin (never to where a redirect leads elsewhere). */
  token?: string;
  /** The largest ONNX file to accept (bytes); a longer transfer is stopped and its partial file removed. */
  maxBytes?: number;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  fetchImpl?: typeof fetch;
}

/**
 * Downloads a model into the cache and returns its folder. Already cached models return at once
 * (offline). Interrupted transfers resume from their partial file with an HTTP Range request.
 */
export async function downloadHubModel(ref: HubRef, o: DownloadOptions): Promise<string> {
  const final = cachedModelFolder(o.cacheRoot, ref);
  if (fs.existsSync(path.join(final, o.onnxFile)) && MODEL_FILES.every((f) => fs.existsSync(path.join(final, f)))) return final;
  const staging = safeJoin(o.cacheRoot, `${PARTIAL}/${layoutPath(ref)}`);
  safeJoin(staging, o.onnxFile);
  fs.mkdirSync(staging, { recursive: true });
  const doFetch = o.fetchImpl ?? fetch;
  const files = [...MODEL_FILES, ...OPTIONAL_FILES, o.onnxFile];
  try {
    for (const file of files) {
      const optional = OPTIONAL_FILES.includes(file);
      const ok = await fetchFile(doFetch, `${o.endpoint}/${ref.id}/resolve/${encodeURIComponent(ref.revision)}/${file}`, safeJoin(staging, file), file, ref, o, optional);
      if (!ok && !optional) throw new HubError(`${ref.id} has no ${file} at revision ${ref.revision}.`, 'not-found');
    }
  } catch (e) {
    if (e instanceof HubError && (e.code === 'not-found' || e.code === 'unauthorized' || e.code === 'bad-id' || e.code === 'too-large')) {
      removeStaging(staging); // nothing to resume
    }
    throw e;
  }
  // Merge into the cached folder (another ONNX variant may already be there); the ONNX file
  // moves last, and a folder without it never counts as a cached model.
  for (const file of files) {
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
async function fetchFollowing(doFetch: typeof fetch, url: string, headers: Record<string, string>, o: DownloadOptions): Promise<Response> {
  const origin = new URL(o.endpoint).origin;
  let at = url;
  for (let hop = 0; hop <= 5; hop++) {
    const own = new URL(at).origin === origin;
    const res = await doFetch(at, { headers: { ...headers, ...(o.token && own ? { authorization: `Bearer ${o.token}` } : {}) }, signal: o.signal, redirect: 'manual' });
    const next = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
    if (!next) return res;
    await res.body?.cancel().catch(() => undefined);
    at = new URL(next, at).toString();
    if (!isSecure(new URL(at))) throw new HubError(`The Hub redirected ${url} to ${new URL(at).origin}, which is not https.`, 'network');
  }
  throw new HubError(`Too many redirects downloading ${url}.`, 'network');
}

/** Fetches one file to `dest` (resuming `dest.part`); false when it does not exist and is optional. */
async function fetchFile(doFetch: typeof fetch, url: string, dest: string, file: string, ref: HubRef, o: DownloadOptions, optional: boolean): Promise<boolean> {
  if (fs.existsSync(dest)) return true;
  const part = `${dest}.part`;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  const headers: Record<string, string> = {};
  if (have > 0) headers.range = `bytes=${have}-`;
  let res: Response;
  try {
    res = await fetchFollowing(doFetch, url, headers, o);
  } catch (e) {
    if (e instanceof HubError) throw e;
    if (o.signal?.aborted) throw new HubError('Download cancelled; it resumes where it stopped next time.', 'cancelled');
    throw new HubError(`Cannot reach ${new URL(url).origin} (${(e as Error).message}). Check the network or attentionLens.hubEndpoint / HF_ENDPOINT; models already downloaded keep working offline.`, 'network');
  }
  if (res.status === 404) {
    if (optional) return false;
    throw new HubError(`Not found on the Hub: ${ref.id}${ref.revision === 'main' ? '' : `@${ref.revision}`} (${file}). Check the model id, revision and file name.`, 'not-found');
  }
  if (res.status === 401 || res.status === 403) {
    throw new HubError(`${ref.id} needs authorization (HTTP ${res.status}): it may be gated or private. Accept its terms on the Hub and set HF_TOKEN before starting VS Code.`, 'unauthorized');
  }
  if (res.status === 416 && have > 0) {
    fs.renameSync(part, dest); // the partial file was already complete
    return true;
  }
  if (!res.ok || !res.body) throw new HubError(`Downloading ${file} failed: HTTP ${res.status}.`, 'http');
  const append = res.status === 206 && have > 0;
  const length = Number(res.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? length + (append ? have : 0) : undefined;
  const limit = file.endsWith('.onnx') ? o.maxBytes : undefined;
  const tooLarge = (n: number) => new HubError(`${file} is larger than attentionLens.maxModelSizeMB (${formatBytes(limit!)}; ${formatBytes(n)} so far): the download was stopped and removed. Choose a smaller (quantized) file or raise the limit.`, 'too-large');
  if (limit !== undefined && total !== undefined && total > limit) {
    await res.body.cancel().catch(() => undefined);
    fs.rmSync(part, { force: true });
    throw tooLarge(total);
  }
  const out = fs.createWriteStream(part, { flags: append ? 'a' : 'w' });
  let loaded = append ? have : 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
      loaded += value.byteLength;
      if (limit !== undefined && loaded > limit) {
        await reader.cancel().catch(() => undefined);
        await new Promise<void>((r) => out.end(() => r()));
        fs.rmSync(part, { force: true });
        throw tooLarge(loaded);
      }
      o.onProgress?.({ file, loaded, total });
    }
  } catch (e) {
    if (e instanceof HubError) throw e;
    await new Promise<void>((r) => out.end(() => r()));
    if (o.signal?.aborted) throw new HubError('Download cancelled; it resumes where it stopped next time.', 'cancelled');
    throw new HubError(`The transfer of ${file} was interrupted after ${loaded} bytes (${(e as Error).message}); run the download again to resume.`, 'network');
  }
  await new Promise<void>((r) => out.end(() => r()));
  if (total !== undefined && loaded !== total) {
    throw new HubError(`The transfer of ${file} stopped at ${loaded} of ${total} bytes; run the download again to resume.`, 'network');
  }
  fs.renameSync(part, dest);
  return true;
}
