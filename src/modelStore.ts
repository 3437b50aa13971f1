/**
 * The models this user can choose, as the extension remembers them: folders added through the
 * picker (global state), `attentionLens.models`, downloads in global storage, the Hugging Face
 * cache; and the chosen one, kept in the user's `attentionLens.model` setting.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings } from './config';
import { hfCacheRoot } from './models/hfCache';
import { type CatalogEntry, buildCatalog } from './models/modelCatalog';
import { type ModelEntry, bundledModels } from './models/modelRegistry';

const ADDED = 'attentionLens.addedModels';
const ONNX_CHOICE = 'attentionLens.onnxChoice';

export class ModelStore {
  constructor(private readonly context: vscode.ExtensionContext) {}

  /** Where Hub downloads are cached. */
  get downloadRoot(): string {
    return path.join(this.context.globalStorageUri.fsPath, 'hub');
  }

  bundled(): ModelEntry[] {
    return bundledModels(this.context.extensionUri.fsPath);
  }

  /** Every model the picker lists. */
  catalog(): CatalogEntry[] {
    return buildCatalog({
      bundled: this.bundled(),
      added: this.context.globalState.get<string[]>(ADDED, []),
      settings: readSettings().models,
      downloadRoot: this.downloadRoot,
      hfCacheRoot: hfCacheRoot(),
    });
  }

  /** The ONNX file chosen for a folder with several, if any. */
  onnxFileFor(folder: string): string | undefined {
    return this.context.globalState.get<Record<string, string>>(ONNX_CHOICE, {})[path.resolve(folder)];
  }

  /** Remembers a folder (and its ONNX file) and makes it the current model. */
  async addAndSelect(folder: string, onnxFile?: string): Promise<void> {
    const added = this.context.globalState.get<string[]>(ADDED, []);
    if (!added.includes(folder)) await this.context.globalState.update(ADDED, [...added, folder]);
    if (onnxFile) {
      const choice = this.context.globalState.get<Record<string, string>>(ONNX_CHOICE, {});
      await this.context.globalState.update(ONNX_CHOICE, { ...choice, [path.resolve(folder)]: onnxFile });
    }
    await this.select(folder);
  }

  /** Makes `modelSetting` (`bundled:<id>` or a folder) the current model, in the user's settings. */
  async select(modelSetting: string): Promise<void> {
    await vscode.workspace.getConfiguration('attentionLens').update('model', modelSetting, vscode.ConfigurationTarget.Global);
  }
}
