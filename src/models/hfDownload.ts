/**
 * Downloads a Hub model into the standard Hugging Face cache layout, so a model fetched from a
 * terminal (`attention-lens download`) appears in the model picker and Python tools see it too:
 * `models--org--name/blobs/<sha256 or git blob id>`, `snapshots/<commit>/<path>` linking to the
 * blob, `refs/<revision>` holding the commit. The folder name comes from `@huggingface/hub`; the
 * transfers are ours (verified against the Hub's listing, resumable, with progress and size caps).
 * No vscode import.
 */
import { getRepoFolderName } from '@huggingface/hub';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type HubRef, MODEL_FILES, OPTIONAL_FILES, type TransferOptions, fetchFile, repoCommit, safeJoin } from './hub';
import { modelFileDigests } from './hubFiles';

/** A download into a Hugging Face cache folder (`HF_HUB_CACHE`, `HF_HOME/hub` or `~/.cache/huggingface/hub`). */
export interface HfCacheDownloadOptions extends TransferOptions {
  cacheDir: string;
  /** ONNX file to fetch, e.g. `onnx/model.onnx` or `onnx/model_quantized.onnx`. */
  onnxFile: string;
}

/** Downloads (or finds already downloaded) the model's files; returns the snapshot folder. */
export async function downloadToHfCache(ref: HubRef, o: HfCacheDownloadOptions): Promise<string> {
  const files = await modelFileDigests(ref, o, o.onnxFile);
  const repo = safeJoin(o.cacheDir, getRepoFolderName({ name: ref.id, type: 'model' }));
  // The snapshot is named by the commit the revision points to (what Hugging Face's own tools do);
  // a server that does not say (a plain mirror) gets the revision's name.
  const commit = /^[0-9a-f]{40}$/.test(ref.revision) ? ref.revision : (await repoCommit(ref, 'config.json', o)) ?? ref.revision;
  const snapshot = safeJoin(repo, `snapshots/${commit.replace(/\//g, '--')}`);
  const doFetch = o.fetchImpl ?? fetch;
  for (const expected of files) {
    const file = expected.path;
    const link = safeJoin(snapshot, file);
    if (fs.existsSync(link)) continue;
    // Blobs are named by their digest; without one (a mirror that lists none), by the SHA-256 of the verified bytes.
    const named = expected.sha256 ?? expected.gitOid;
    const blobs = safeJoin(repo, 'blobs');
    const dest = named ? path.join(blobs, named) : path.join(blobs, `.download-${crypto.createHash('sha256').update(`${ref.id}@${commit}/${file}`).digest('hex').slice(0, 16)}`);
    await fetchFile(doFetch, dest, expected, ref, o);
    let blob = dest;
    if (!named) {
      blob = path.join(blobs, await sha256Of(dest));
      fs.renameSync(dest, blob);
    }
    fs.mkdirSync(path.dirname(link), { recursive: true });
    try {
      fs.symlinkSync(path.relative(path.dirname(link), blob), link);
    } catch {
      fs.copyFileSync(blob, link); // no symlinks here (Windows without the privilege): a copy, as huggingface_hub does
    }
  }
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
 * and the blobs they point to, then downloads and verifies them afresh into the same snapshot.
 */
export async function redownloadToHfCache(ref: HubRef, o: HfCacheDownloadOptions): Promise<string> {
  const repo = safeJoin(o.cacheDir, getRepoFolderName({ name: ref.id, type: 'model' }));
  const snapshot = safeJoin(repo, `snapshots/${ref.revision.replace(/\//g, '--')}`);
  for (const file of [...MODEL_FILES, ...OPTIONAL_FILES, o.onnxFile]) {
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
