/**
 * What a Hub repository holds, asked before downloading anything: its ONNX files with their data
 * files and sizes, and which of them cannot work here; once an ONNX file is downloaded, what the
 * external data files its graph names must be; and which data files a cached copy has. Listing
 * uses the official `@huggingface/hub` client. No vscode import.
 */
import { listFiles } from '@huggingface/hub';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LIMITS } from '../core/engine/backendLimits';
import { type ExternalFile, externalFiles, firstUnsafe } from '../core/engine/modelWeights';
import { type ModelScan, ScanError } from '../core/engine/onnxScan';
import { formatBytes } from '../core/units';
import { HubError, type HubRef, MODEL_FILES, OPTIONAL_FILES, safeJoin } from './hub';
import { scanOnnxFile } from './modelFiles';
import { decodersOf, splitSet } from './splitLayout';

/** One ONNX file of a repository. */
export interface HubOnnxFile {
  path: string;
  /** Bytes to download: the ONNX file and its data files (LFS objects' sizes for LFS files). */
  size: number;
  /** Its external data files beside it, as exporters name them (`model.onnx_data`, `model.onnx_data_1`, …, `model.onnx.data`). */
  dataFiles: string[];
  /** A split encoder-decoder set (`path` is its encoder): its decoders, downloaded with it and counted in `size`. */
  decoders?: string[];
  /** Why the file cannot be run at all; undefined when it can. */
  problem?: string;
}

/** Where and how to ask. */
export interface HubListOptions {
  endpoint: string;
  token?: string;
  fetchImpl?: typeof fetch;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The files beside `onnx` that hold its external weights, as exporters name them: Transformers.js
 * and Optimum's `model.onnx_data`, `model.onnx_data_1`, …, onnxruntime-genai's `model.onnx.data`;
 * in chunk order.
 */
export function siblingDataFiles(onnx: string, paths: Iterable<string>): string[] {
  const name = new RegExp(`^${escapeRegExp(onnx)}(?:_data(?:_(\\d+))?|\\.data)$`);
  const chunk = (p: string) => {
    const m = name.exec(p)!;
    return m[0].endsWith('.data') ? Infinity : Number(m[1] ?? 0);
  };
  return [...paths].filter((p) => name.test(p)).sort((a, b) => chunk(a) - chunk(b));
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

/** What a model download must fetch, from the listing. */
export interface ModelDigests {
  /** config.json, tokenizer.json, tokenizer_config.json when the repository has one, and the ONNX file, last. */
  files: HubFileDigest[];
  /** Every file of the revision, by path: where the data files the ONNX file's graph names are looked up. */
  listed: ReadonlyMap<string, HubFileDigest>;
}

/**
 * What the files of a model download must be (size, SHA-256 or git blob id), from the listing.
 * Throws `HubError` (not-found) naming a required file the revision lacks, before anything is fetched.
 */
export async function modelFileDigests(ref: HubRef, o: HubListOptions, onnxFile: string): Promise<ModelDigests> {
  const listed = new Map((await listHubFiles(ref, o)).map((f) => [f.path, f]));
  // A split set's decoders come before its encoder, the ONNX file named.
  const set = splitSet(onnxFile, (f) => listed.has(f));
  const files = [...MODEL_FILES, ...OPTIONAL_FILES, ...(set ? decodersOf(set) : []), onnxFile].flatMap((file) => {
    const expected = listed.get(file);
    if (expected) return [expected];
    if (OPTIONAL_FILES.includes(file)) return [];
    throw new HubError(`Not found on the Hub: ${refLabel(ref)} has no ${file}. Check the model id, revision and file name.`, 'not-found');
  });
  return { files, listed };
}

const refLabel = (ref: HubRef) => `${ref.id}${ref.revision === 'main' ? '' : `@${ref.revision}`}`;

/** One external data file an ONNX file's graph names. */
export interface GraphDataFile extends ExternalFile {
  /** Where it is in the repository: `location` relative to the ONNX file's folder. */
  path: string;
}

/**
 * The external data files `localOnnx` (a copy of the repository's `onnxFile`, scanned without
 * reading its weights) names; none when it is not a protobuf (the engine says what is wrong when
 * it opens it). Throws `HubError` (unsafe-path) for a location outside the ONNX file's folder.
 */
export function graphDataFiles(ref: HubRef, onnxFile: string, localOnnx: string): GraphDataFile[] {
  let scan: ModelScan;
  try {
    scan = scanOnnxFile(localOnnx);
  } catch (e) {
    if (e instanceof ScanError) return [];
    throw e;
  }
  const files = externalFiles(scan);
  const unsafe = firstUnsafe(files);
  if (unsafe) throw new HubError(`${onnxFile} of ${refLabel(ref)} names external data at "${unsafe.location}", which Attention Lens refuses: ${unsafe.reason}. A model may only read files beside it, so none of its data was downloaded; choose another ONNX file or repository.`, 'unsafe-path');
  return files.map((f) => ({ ...f, path: path.posix.join(path.posix.dirname(onnxFile), f.location.replace(/\\/g, '/')) }));
}

/**
 * What the external data files of a downloaded ONNX file must be, from the listing: every file its
 * graph names (see `graphDataFiles`). Throws `HubError` before any data is fetched: unsafe-path for
 * a location outside the ONNX file's folder, not-found for a file the revision lacks, corrupt for
 * one shorter than what the graph reads from it.
 */
export function externalDataDigests(ref: HubRef, listed: ReadonlyMap<string, HubFileDigest>, onnxFile: string, localOnnx: string): HubFileDigest[] {
  return graphDataFiles(ref, onnxFile, localOnnx).map((f) => {
    const expected = listed.get(f.path);
    if (!expected) throw new HubError(`Not found on the Hub: ${onnxFile} keeps ${formatBytes(f.needed)} of its weights (${f.tensors} tensors) in ${f.path}, which ${refLabel(ref)} does not have. The repository is incomplete: choose another ONNX file or revision.`, 'not-found');
    if (expected.size < f.needed) {
      throw new HubError(`${f.path} is ${formatBytes(expected.size)} (${expected.size} bytes) on the Hub, but ${onnxFile} reads ${formatBytes(f.needed)} (${f.needed} bytes) from it: the files of ${refLabel(ref)} do not belong together. Choose another ONNX file or revision.`, 'corrupt');
    }
    return expected;
  });
}

/** The bytes a download of `files` and the data files beside its ONNX file is expected to take. */
export function expectedBytes(files: readonly HubFileDigest[], listed: ReadonlyMap<string, HubFileDigest>, onnxFile: string): number {
  return [...files.map((f) => f.size), ...siblingDataFiles(onnxFile, listed.keys()).map((d) => listed.get(d)!.size)].reduce((a, b) => a + b, 0);
}

/**
 * The external data files of a cached ONNX file, relative to the model folder: the ones its graph
 * names (when it can be read and names only files beside it) and the siblings exporters name.
 */
export function cachedDataFiles(ref: HubRef, folder: string, onnxFile: string): string[] {
  const onnx = safeJoin(folder, onnxFile);
  const dir = path.posix.dirname(onnxFile);
  const siblings = fs.existsSync(path.dirname(onnx)) ? fs.readdirSync(path.dirname(onnx)).map((f) => (dir === '.' ? f : `${dir}/${f}`)) : [];
  let named: string[];
  try {
    named = fs.existsSync(onnx) ? graphDataFiles(ref, onnxFile, onnx).map((f) => f.path) : [];
  } catch {
    named = []; // a location outside the folder: nothing there is touched
  }
  return [...new Set([...named, ...siblingDataFiles(onnxFile, siblings)])];
}

/**
 * The repository's ONNX files, `onnx/model.onnx` first, each with its data files, the bytes to
 * download and any problem; throws `HubError` when the Hub cannot be reached, the repository does
 * not exist or is gated, or it lacks the files every model needs (config.json, tokenizer.json) or
 * any ONNX file.
 */
export async function listHubOnnxFiles(ref: HubRef, o: HubListOptions): Promise<HubOnnxFile[]> {
  const entries = await listHubFiles(ref, o);
  const sizes = new Map(entries.map((e) => [e.path, e.size]));
  const missing = MODEL_FILES.filter((f) => !sizes.has(f));
  if (missing.length > 0) throw new HubError(`${ref.id} has no ${missing.join(' or ')}: Attention Lens needs the model's config.json and tokenizer.json next to the ONNX file.`, 'not-found');
  const onnx = entries.filter((e) => e.path.endsWith('.onnx'));
  if (onnx.length === 0) throw new HubError(`${ref.id} has no ONNX file. Choose a repository with an ONNX export (for example one from Xenova or onnx-community).`, 'not-found');
  const has = (f: string) => sizes.has(f);
  return onnx
    .map((e) => ({ e, set: splitSet(e.path, has) }))
    // A split encoder-decoder set is one choice, named by its encoder.
    .filter(({ e, set }) => !set || set.encoder === e.path)
    .map(({ e, set }): HubOnnxFile => {
      const decoders = set ? decodersOf(set) : [];
      const dataFiles = siblingDataFiles(e.path, sizes.keys());
      const size = [...dataFiles, ...decoders].reduce((sum, d) => sum + sizes.get(d)!, e.size);
      const tooBig = e.size > LIMITS.protobuf && dataFiles.length === 0;
      return { path: e.path, size, dataFiles, ...(decoders.length ? { decoders } : {}), ...(tooBig ? { problem: `${formatBytes(e.size)} in one protobuf, over its 2 GB limit, with no external data file beside it: no ONNX runtime can read it` } : {}) };
    })
    .sort((a, b) => Number(b.path === 'onnx/model.onnx') - Number(a.path === 'onnx/model.onnx') || a.path.localeCompare(b.path));
}
