/**
 * What a Hub repository holds, asked before downloading anything: its ONNX files with sizes, and
 * which of them cannot work here. Listing uses the official `@huggingface/hub` client. No vscode import.
 */
import { listFiles } from '@huggingface/hub';
import { HubError, type HubRef, MODEL_FILES, OPTIONAL_FILES } from './hub';

/** One ONNX file of a repository. */
export interface HubOnnxFile {
  path: string;
  /** Bytes (the LFS object's size for LFS files). */
  size: number;
  /** Why the file cannot be run here; undefined when it can. */
  problem?: string;
}

/** Where and how to ask. */
export interface HubListOptions {
  endpoint: string;
  token?: string;
  fetchImpl?: typeof fetch;
}

/** Sibling files that hold external weights of `onnx`, as exporters name them. */
function externalData(onnx: string, paths: Set<string>): string | undefined {
  return [`${onnx}_data`, `${onnx}.data`, onnx.replace(/\.onnx$/, '.onnx_data')].find((p) => paths.has(p));
}

/** What the Hub says a file is: its size, and a digest to check the bytes against. */
export interface HubFileDigest {
  path: string;
  /** Bytes (the LFS object's size for LFS files). */
  size: number;
  /** SHA-256 of the content, for LFS files. */
  sha256?: string;
  /** Git blob id (SHA-1 of "blob <size>\0" + content), for files kept in git. */
  gitOid?: string;
}

/**
 * Every file of the repository at `ref.revision` with its size and digest (the listing the
 * downloads are verified against); throws `HubError` when the Hub cannot be reached, the
 * repository does not exist or is gated.
 */
export async function listHubFiles(ref: HubRef, o: HubListOptions): Promise<HubFileDigest[]> {
  const entries: HubFileDigest[] = [];
  // The token goes in the header here rather than through `accessToken`, which accepts only hf_…
  // tokens: mirrors (attentionLens.hubEndpoint) may issue others.
  const base = o.fetchImpl ?? fetch;
  const origin = new URL(o.endpoint).origin;
  const authorized: typeof fetch = (url, init) => {
    const sameOrigin = new URL(String(url)).origin === origin; // never send the token elsewhere (e.g. a paging link)
    return base(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...(o.token && sameOrigin ? { authorization: `Bearer ${o.token}` } : {}) } });
  };
  try {
    for await (const f of listFiles({ repo: { type: 'model', name: ref.id }, revision: ref.revision, recursive: true, hubUrl: o.endpoint, fetch: authorized })) {
      if (f.type !== 'file') continue;
      const hex = (v: string | undefined, n: number) => (v && new RegExp(`^[0-9a-f]{${n}}$`).test(v) ? v : undefined);
      entries.push({ path: f.path, size: f.lfs?.size ?? f.size, sha256: hex(f.lfs?.oid, 64), gitOid: f.lfs ? undefined : hex(f.oid, 40) });
    }
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    const where = ref.revision === 'main' ? ref.id : `${ref.id}@${ref.revision}`;
    if (status === 404) throw new HubError(`Not found on the Hub: ${where}. Check the model id and revision.`, 'not-found');
    if (status === 401 || status === 403) throw new HubError(`${ref.id} needs authorization (HTTP ${status}): it may be gated or private. Accept its terms on the Hub and set HF_TOKEN before starting VS Code.`, 'unauthorized');
    if (status !== undefined) throw new HubError(`The Hub answered HTTP ${status} when asked what ${where} holds.`, 'http');
    throw new HubError(`Cannot reach ${o.endpoint} (${(e as Error).message}). Check the network or attentionLens.hubEndpoint / HF_ENDPOINT; models already downloaded keep working offline.`, 'network');
  }
  return entries;
}

/**
 * What the files of a model download must be (size, SHA-256 or git blob id), from the listing:
 * config.json, tokenizer.json, tokenizer_config.json when the repository has one, and `onnxFile`.
 * Throws `HubError` (not-found) naming a required file the revision lacks, before anything is fetched.
 */
export async function modelFileDigests(ref: HubRef, o: HubListOptions, onnxFile: string): Promise<HubFileDigest[]> {
  const listed = new Map((await listHubFiles(ref, o)).map((f) => [f.path, f]));
  return [...MODEL_FILES, ...OPTIONAL_FILES, onnxFile].flatMap((file) => {
    const expected = listed.get(file);
    if (expected) return [expected];
    if (OPTIONAL_FILES.includes(file)) return [];
    throw new HubError(`Not found on the Hub: ${ref.id}${ref.revision === 'main' ? '' : `@${ref.revision}`} has no ${file}. Check the model id, revision and file name.`, 'not-found');
  });
}

/**
 * The repository's ONNX files, `onnx/model.onnx` first, each with its size and any problem; throws
 * `HubError` when the Hub cannot be reached, the repository does not exist or is gated, or it lacks
 * the files every model needs (config.json, tokenizer.json) or any ONNX file.
 */
export async function listHubOnnxFiles(ref: HubRef, o: HubListOptions): Promise<HubOnnxFile[]> {
  const entries = await listHubFiles(ref, o);
  const paths = new Set(entries.map((e) => e.path));
  const missing = MODEL_FILES.filter((f) => !paths.has(f));
  if (missing.length > 0) throw new HubError(`${ref.id} has no ${missing.join(' or ')}: Attention Lens needs the model's config.json and tokenizer.json next to the ONNX file.`, 'not-found');
  const onnx = entries.filter((e) => e.path.endsWith('.onnx'));
  if (onnx.length === 0) throw new HubError(`${ref.id} has no ONNX file. Choose a repository with an ONNX export (for example one from Xenova or onnx-community).`, 'not-found');
  return onnx
    .map((e) => {
      const data = externalData(e.path, paths);
      return { path: e.path, size: e.size, ...(data ? { problem: `weights in ${data} (external data), which Attention Lens cannot load` } : {}) };
    })
    .sort((a, b) => Number(b.path === 'onnx/model.onnx') - Number(a.path === 'onnx/model.onnx') || a.path.localeCompare(b.path));
}
