/**
 * Everything the model picker lists, described for people: bundled models, folders the user
 * added or listed in settings, downloaded Hub models, and ONNX models in the Hugging Face cache.
 * No vscode import.
 */
import * as path from 'node:path';
import { formatBytes } from '../core/units';
import { discoverHfCache } from './hfCache';
import { downloadedModels } from './hub';
import { findOnnxFile, findOnnxFiles, readModelFolder } from './modelFolder';
import type { ModelEntry } from './modelRegistry';

/** Where a listed model comes from. */
export type ModelSource = 'bundled' | 'added' | 'settings' | 'downloaded' | 'hf-cache';

/** One picker row. */
export interface CatalogEntry {
  entry: ModelEntry;
  source: ModelSource;
  /** e.g. "GPT2LMHeadModel · 12 layers × 12 heads · 498 MB", or why the folder is unusable. */
  description: string;
  usable: boolean;
}

/** Inputs of the catalogue: each list as the extension knows it. */
export interface CatalogSources {
  bundled: ModelEntry[];
  added: string[];
  settings: string[];
  downloadRoot: string;
  hfCacheRoot: string;
}

/** Describes a model folder in one line, or says why it cannot be used. */
export function describeFolder(folder: string, onnxFile?: string): { description: string; usable: boolean } {
  try {
    const info = readModelFolder(folder, onnxFile ?? (findOnnxFile(folder) ? undefined : findOnnxFiles(folder)[0]));
    const shape = info.layers && info.heads ? ` · ${info.layers} layers × ${info.heads} heads` : '';
    const quantized = info.footprint.quantization ? ` · ${info.footprint.quantization}` : '';
    return { description: `${info.architecture}${shape}${quantized} · ${formatBytes(info.footprint.weightBytes)}`, usable: true };
  } catch (e) {
    return { description: (e as Error).message, usable: false };
  }
}

/** Every model the picker offers, without duplicates (first source wins). */
export function buildCatalog(s: CatalogSources): CatalogEntry[] {
  const out: CatalogEntry[] = [];
  const seen = new Set<string>();
  const add = (entry: ModelEntry, source: ModelSource) => {
    const key = path.resolve(entry.folder);
    if (seen.has(key)) return;
    seen.add(key);
    const d = describeFolder(entry.folder);
    out.push({ entry, source, description: d.description, usable: d.usable });
  };
  const folderEntry = (folder: string, label = path.basename(folder)): ModelEntry => ({ id: folder, label, folder, bundled: false });
  s.bundled.forEach((e) => add(e, 'bundled'));
  s.added.forEach((f) => add(folderEntry(f), 'added'));
  s.settings.forEach((f) => add(folderEntry(f), 'settings'));
  downloadedModels(s.downloadRoot).forEach((m) => add(folderEntry(m.folder, m.revision === 'main' ? m.id : `${m.id}@${m.revision}`), 'downloaded'));
  discoverHfCache(s.hfCacheRoot).forEach((m) => add(folderEntry(m.folder, `${m.id} (${m.revision.slice(0, 7)})`), 'hf-cache'));
  return out;
}
