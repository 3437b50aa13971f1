/**
 * Downloads a Hub model into the standard Hugging Face cache layout, so a model fetched from a
 * terminal (`attention-lens download`) appears in the model picker and Python tools see it too:
 * `models--org--name/blobs/<sha256 or git blob id>`, `snapshots/<commit>/<path>` linking to the
 * blob, `refs/<revision>` holding the commit. The folder name comes from `@huggingface/hub`; the
 * transfers are ours (verified against the Hub's listing, resumable, with progress), and so is the
 * order: the ONNX file's external data files are linked before it, and its link comes last.
 * No vscode import.
 */
import { getRepoFolderName } from '@huggingface/hub';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type HubRef, MODEL_FILES, OPTIONAL_FILES, type TransferOptions, fetchFile, progressOver, repoCommit, safeJoin } from './hub';
import { type HubFileDigest, cachedDataFiles, expectedBytes, externalDataDigests, modelFileDigests } from './hubFiles';
import { decodersOf, splitSet } from './splitLayout';

/** A download into a Hugging Face cache folder (`HF_HUB_CACHE`, `HF_HOME/hub` or `~/.cache/huggingface/hub`). */
export interface HfCacheDownloadOptions extends TransferOptions {
  cacheDir: string;
  /** ONNX file to fetch, e.g. `onnx/model.onnx` or `onnx/model_quantized.onnx`. */
  onnxFile: string;
}

/**
 * Downloads (or finds already downloaded) the model's files; returns the snapshot folder. The data
 * files the ONNX file's graph names are checked against the listing before any is fetched, and
 * linked before the ONNX file: a snapshot shows a model only once all of it is there, verified.
 */
export async function downloadToHfCache(ref: HubRef, o: HfCacheDownloadOptions): Promise<string> {
  const { files, listed } = await modelFileDigests(ref, o, o.onnxFile);
  const repo = safeJoin(o.cacheDir, getRepoFolderName({ name: ref.id, type: 'model' }));
  // The snapshot is named by the commit the revision points to (what Hugging Face's own tools do);
  // a server that does not say (a plain mirror) gets the revision's name.
  const commit = /^[0-9a-f]{40}$/.test(ref.revision) ? ref.revision : (await repoCommit(ref, 'config.json', o)) ?? ref.revision;
  const snapshot = safeJoin(repo, `snapshots/${commit.replace(/\//g, '--')}`);
  const blobs = safeJoin(repo, 'blobs');
  const doFetch = o.fetchImpl ?? fetch;
  const tally = progressOver(o, expectedBytes(files, listed, o.onnxFile));
  /** The verified blob of `expected` (fetched unless it is there), named by its digest. */
  const blobOf = async (expected: HubFileDigest): Promise<string> => {
    // Without a digest (a mirror that lists none), named by the SHA-256 of the verified bytes.
    const named = expected.sha256 ?? expected.gitOid;
    const dest = named ? path.join(blobs, named) : path.join(blobs, `.download-${crypto.createHash('sha256').update(`${ref.id}@${commit}/${expected.path}`).digest('hex').slice(0, 16)}`);
    await fetchFile(doFetch, dest, expected, ref, tally.options());
    tally.done(expected.size);
    if (named) return dest;
    const blob = path.join(blobs, await sha256Of(dest));
    fs.renameSync(dest, blob);
    return blob;
  };
  const link = (file: string, blob: string) => {
    const at = safeJoin(snapshot, file);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.rmSync(at, { force: true }); // a dangling link left by a removed blob
    try {
      fs.symlinkSync(path.relative(path.dirname(at), blob), at);
    } catch {
      fs.copyFileSync(blob, at); // no symlinks here (Windows without the privilege): a copy, as huggingface_hub does
    }
  };
  /** Fetches and links `expected` unless its link is there. */
  const place = async (expected: HubFileDigest) => {
    if (fs.existsSync(safeJoin(snapshot, expected.path))) return tally.done(expected.size);
    link(expected.path, await blobOf(expected));
  };
  const onnx = files.find((f) => f.path === o.onnxFile)!;
  for (const expected of files) if (expected !== onnx) await place(expected);
  const onnxLink = safeJoin(snapshot, o.onnxFile);
  const onnxBlob = fs.existsSync(onnxLink) ? undefined : await blobOf(onnx);
  if (!onnxBlob) tally.done(onnx.size);
  const data = externalDataDigests(ref, listed, o.onnxFile, onnxBlob ?? onnxLink);
  tally.total = [...files, ...data].reduce((sum, f) => sum + f.size, 0);
  for (const expected of data) await place(expected);
  if (onnxBlob) link(o.onnxFile, onnxBlob);
  if (commit !== ref.revision) {
    const refFile = safeJoin(repo, `refs/${ref.revision}`);
    fs.mkdirSync(path.dirname(refFile), { recursive: true });
    fs.writeFileSync(refFile, commit);
  }
  return snapshot;
}

/** The Hub model of a snapshot folder of a Hugging Face cache (`…/models--org--name/snapshots/<commit>`), when it is one. */
export function hfRefOfFolder(folder: string): HubRef | undefined {
  const m = /(?:^|[\\/])models--([^\\/]+?)--([^\\/]+)[\\/]snapshots[\\/]([^\\/]+)[\\/]?$/.exec(path.resolve(folder));
  return m ? { id: `${m[1]}/${m[2]}`, revision: m[3] } : undefined;
}

/**
 * Fetches a cached snapshot's files again (the way out when it fails to load): removes their links
 * and the blobs they point to (the ONNX file's first, then its data files', then the others), then
 * downloads and verifies them afresh into the same snapshot.
 */
export async function redownloadToHfCache(ref: HubRef, o: HfCacheDownloadOptions): Promise<string> {
  const repo = safeJoin(o.cacheDir, getRepoFolderName({ name: ref.id, type: 'model' }));
  const snapshot = safeJoin(repo, `snapshots/${ref.revision.replace(/\//g, '--')}`);
  const data = cachedDataFiles(ref, snapshot, o.onnxFile);
  const set = splitSet(o.onnxFile, (f) => fs.existsSync(safeJoin(snapshot, f)));
  for (const file of [o.onnxFile, ...data, ...(set ? decodersOf(set) : []), ...MODEL_FILES, ...OPTIONAL_FILES]) {
    const link = safeJoin(snapshot, file);
    let target: string | undefined;
    try {
      target = path.resolve(path.dirname(link), fs.readlinkSync(link));
    } catch {
      target = undefined; // a copy, or absent
    }
    if (target && target.startsWith(path.join(repo, 'blobs') + path.sep)) fs.rmSync(target, { force: true });
    fs.rmSync(link, { force: true });
  }
  return downloadToHfCache(ref, o);
}

async function sha256Of(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
