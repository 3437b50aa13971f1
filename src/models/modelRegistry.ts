/**
 * Which models Attention Lens can run: the bundled ones (listed in media/models/models.json)
 * and a folder the user named in `attentionLens.model`. No vscode import.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFolderError } from './modelFolder';

/** A model the user can choose. */
export interface ModelEntry {
  id: string;
  label: string;
  folder: string;
  bundled: boolean;
  description?: string;
  /** The ONNX file to run, relative to the folder, when the setting named one (a variant such as onnx/model_q4.onnx). */
  onnxFile?: string;
}

interface ManifestEntry {
  id: string;
  label: string;
  folder: string;
  description?: string;
  default?: boolean;
}

/** Reads the bundled model manifest; the default model comes first. */
export function bundledModels(extensionPath: string): ModelEntry[] {
  const dir = path.join(extensionPath, 'media', 'models');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'models.json'), 'utf8')) as ManifestEntry[];
  const entries = manifest.map((m) => ({
    id: `bundled:${m.id}`,
    label: m.label,
    folder: path.join(dir, m.folder),
    bundled: true,
    description: m.description,
    isDefault: m.default === true,
  }));
  entries.sort((a, b) => Number(b.isDefault) - Number(a.isDefault));
  return entries.map(({ isDefault: _d, ...e }) => e);
}

/**
 * Resolves the `attentionLens.model` setting: empty → default, `bundled:<id>`, an absolute folder
 * path, or an absolute path to an ONNX file in a model folder (`…/onnx/model_q4.onnx`: the folder
 * is the one above `onnx/`, else the file's own).
 */
export function resolveModel(setting: string, bundled: ModelEntry[]): ModelEntry {
  if (!setting) {
    if (bundled.length === 0) throw new ModelFolderError('No bundled model found: the extension installation is incomplete. Reinstall Attention Lens.');
    return bundled[0];
  }
  if (setting.startsWith('bundled:')) {
    const hit = bundled.find((m) => m.id === setting);
    if (!hit) throw new ModelFolderError(`attentionLens.model names ${setting}, which is not a bundled model. Bundled models: ${bundled.map((m) => m.id).join(', ')}.`);
    return hit;
  }
  if (!path.isAbsolute(setting)) {
    throw new ModelFolderError(`attentionLens.model must be an absolute path to a model folder (got "${setting}").`);
  }
  if (setting.toLowerCase().endsWith('.onnx')) {
    const dir = path.dirname(setting);
    const folder = path.basename(dir) === 'onnx' ? path.dirname(dir) : dir;
    const onnxFile = path.relative(folder, setting);
    return { id: setting, label: `${path.basename(folder)} (${path.basename(setting)})`, folder, bundled: false, onnxFile };
  }
  return { id: setting, label: path.basename(setting), folder: setting, bundled: false };
}
