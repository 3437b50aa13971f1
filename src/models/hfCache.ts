/**
 * Finds ONNX models already in the user's Hugging Face cache (`~/.cache/huggingface/hub`,
 * `$HF_HOME/hub` or `$HF_HUB_CACHE`): `models--org--name/snapshots/<rev>/…`. No vscode import.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findOnnxFiles } from './modelFolder';

/** A model snapshot in the Hugging Face cache. */
export interface CachedHubModel {
  id: string;
  revision: string;
  folder: string;
}

/** The Hugging Face hub cache folder for this environment. */
export function hfCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  return path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface', 'hub');
}

/** Snapshots in the cache that have config.json, tokenizer.json and at least one ONNX file. */
export function discoverHfCache(root: string = hfCacheRoot()): CachedHubModel[] {
  if (!fs.existsSync(root)) return [];
  const out: CachedHubModel[] = [];
  for (const repo of fs.readdirSync(root)) {
    if (!repo.startsWith('models--')) continue;
    const snapshots = path.join(root, repo, 'snapshots');
    if (!fs.existsSync(snapshots)) continue;
    const id = repo.slice('models--'.length).replace('--', '/');
    for (const revision of fs.readdirSync(snapshots)) {
      const folder = path.join(snapshots, revision);
      if (fs.existsSync(path.join(folder, 'config.json')) && fs.existsSync(path.join(folder, 'tokenizer.json')) && findOnnxFiles(folder).length > 0) {
        out.push({ id, revision, folder });
      }
    }
  }
  return out;
}
