/** Choosing and adding models: Select Model…, Add Model Folder…, Add Model from Hugging Face Hub…. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings } from '../config';
import { formatBytes } from '../core/units';
import { showError } from '../errorMessages';
import { downloadToHfCache, hfRefOfFolder, redownloadToHfCache } from '../models/hfDownload';
import { hfCacheRoot } from '../models/hfCache';
import { type DownloadProgress, HubError, type HubRef, hubEndpoint, hubRefOfFolder, parseHubId, redownloadHubModel } from '../models/hub';
import { type HubOnnxFile, listHubOnnxFiles } from '../models/hubFiles';
import { ModelFolderError, findOnnxFiles, readModelFolder } from '../models/modelFolder';
import type { ModelStore } from '../modelStore';

const SOURCE_LABEL = { bundled: 'Bundled', added: 'Added', settings: 'From settings', downloaded: 'Downloaded from the Hub', 'hf-cache': 'Hugging Face cache' } as const;
/** Called with a label for people once a model is the current one. */
export type OnModelSelected = (label: string) => void;


/**
 * The ONNX file to use, asking when a folder has several (`current`, when given, marked and
 * preselected): null when it has none, undefined when cancelled.
 */
export async function chooseOnnx(folder: string, title = `${path.basename(folder)} has several ONNX files`, current?: string): Promise<string | undefined | null> {
  const files = findOnnxFiles(folder);
  if (files.length === 0) return null;
  if (files.length === 1) return files[0];
  const items = files.map((f) => ({ label: f, description: `${formatBytes(fs.statSync(path.join(folder, f)).size)}${f === current ? ' · current' : ''}` }));
  const pick = await quickPick(items, { title, placeholder: 'Choose the one to run (fp32 runs everywhere; fp16 needs WebGPU shader-f16)' }, items.find((i) => i.label === current));
  return pick?.label;
}

/** A quick pick of `items` with `active` preselected (which showQuickPick cannot do): the item accepted, undefined when dismissed. */
async function quickPick<T extends vscode.QuickPickItem>(items: T[], options: Partial<Pick<vscode.QuickPick<T>, 'title' | 'placeholder' | 'matchOnDescription' | 'matchOnDetail'>>, active: T | undefined): Promise<T | undefined> {
  const qp = vscode.window.createQuickPick<T>();
  Object.assign(qp, options);
  qp.items = items;
  if (active) qp.activeItems = [active];
  try {
    return await new Promise<T | undefined>((resolve) => {
      qp.onDidAccept(() => resolve(qp.selectedItems[0]));
      qp.onDidHide(() => resolve(undefined));
      qp.show();
    });
  } finally {
    qp.dispose();
  }
}

/** `attentionLens.addModelFolder`: pick a local Hugging Face-style folder. */
export function registerAddModelFolder(store: ModelStore, onSelected: OnModelSelected): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.addModelFolder', async () => {
    const uris = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Use this model', title: 'Model folder with config.json, tokenizer.json and an ONNX file' });
    const folder = uris?.[0]?.fsPath;
    if (!folder) return;
    const onnx = await chooseOnnx(folder);
    if (onnx === undefined) return;
    try {
      const info = readModelFolder(folder, onnx ?? undefined); // with no ONNX file, throws the specific reason
      await store.addAndSelect(folder, onnx ?? undefined);
      onSelected(`${path.basename(folder)} (${info.architecture}, ${formatBytes(info.onnxBytes)})`);
    } catch (e) {
      showError(e);
    }
  });
}

/** `attentionLens.addHubModel`: download a model by Hub id into the cache. */
export function registerAddHubModel(store: ModelStore, onSelected: OnModelSelected): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.addHubModel', async () => {
    const text = await vscode.window.showInputBox({
      title: 'Hugging Face Hub model',
      prompt: 'A model with ONNX files, e.g. Xenova/bert-base-uncased or onnx-community/gpt2@main',
      placeHolder: 'org/name[@revision]',
      validateInput: (v) => {
        try {
          parseHubId(v);
          return undefined;
        } catch (e) {
          return (e as Error).message;
        }
      },
    });
    if (!text) return;
    const ref = parseHubId(text);
    const settings = readSettings();
    let endpoint: string;
    let files;
    try {
      endpoint = hubEndpoint(settings.hubEndpoint);
      files = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Asking the Hub what ${ref.id} holds…` }, () =>
        listHubOnnxFiles(ref, { endpoint, token: process.env.HF_TOKEN }));
    } catch (e) {
      return showError(e);
    }
    const pick = await vscode.window.showQuickPick(
      // A zero-width space after `$` keeps a remote path from rendering as a codicon.
      files.map((f) => ({ label: `${f.problem ? '$(warning) ' : ''}${f.path.replace(/\$\(/g, '$\u200b(')}`, description: sizeDescription(f), detail: f.problem ? `Cannot be used: ${f.problem}` : undefined, file: f })),
      { title: `${ref.id}: which ONNX file?`, placeHolder: 'onnx/model.onnx is usually the full-precision export; quantized files are smaller (fp16 needs WebGPU shader-f16)' },
    );
    if (!pick) return;
    if (pick.file.problem) return showError(new Error(`${pick.file.path} cannot be used: ${pick.file.problem}. Choose another file (a quantized one is smaller), or re-export the model with external data.`));
    const onnxFile = pick.file.path;
    try {
      // Into the Hugging Face cache, where the terminal (`attention-lens download`) and Python find it too.
      const folder = await downloadWithProgress(ref, (extra) => downloadToHfCache(ref, { endpoint, cacheDir: hfCacheRoot(), onnxFile, ...extra }));
      readModelFolder(folder, onnxFile);
      await store.addAndSelect(folder, onnxFile);
      onSelected(ref.id);
    } catch (e) {
      if (e instanceof HubError && e.code === 'cancelled') void vscode.window.showInformationMessage(`Attention Lens: ${e.message}`);
      else showError(e);
    }
  });
}

/** What the Hub picker says of an ONNX file: the bytes to download, and how many data files come with it. */
function sizeDescription(f: HubOnnxFile): string {
  const n = f.dataFiles.length;
  const parts = f.decoders?.length ? ` with ${f.decoders.map((d) => d.slice(d.lastIndexOf('/') + 1)).join(', ')}` : '';
  return `${formatBytes(f.size)}${n === 0 ? '' : ` (.onnx + ${n} data file${n === 1 ? '' : 's'})`}${parts}`;
}

/** What a download gets from its progress notification. */
interface ProgressHooks {
  token?: string;
  signal: AbortSignal;
  onProgress(p: DownloadProgress): void;
}

/** Runs a (re)download in a cancellable progress notification. */
function downloadWithProgress(ref: HubRef, download: (hooks: ProgressHooks) => Promise<string>): Promise<string> {
  return Promise.resolve(vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Downloading ${ref.id}`, cancellable: true },
    (progress, token) => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      let last = 0;
      return download({
        token: process.env.HF_TOKEN,
        signal: ac.signal,
        onProgress: ({ file, loaded, total, overall }) => {
          // The bar follows the whole download (the model files and every data file), not one file.
          const pct = overall && overall.total > 0 ? (overall.loaded / overall.total) * 100 : last;
          const all = overall ? ` (${formatBytes(overall.loaded)} of ${formatBytes(overall.total)} in all)` : '';
          progress.report({ message: `${file}: ${formatBytes(loaded)}${total ? ` of ${formatBytes(total)}` : ''}${all}`, increment: pct > last ? pct - last : undefined });
          last = Math.max(last, pct);
        },
      });
    },
  ));
}

/**
 * The way out for a downloaded model that fails to load: a "Re-download" action that fetches its
 * files again (verified) and re-runs the inspection. Undefined for models not from the download cache.
 */
export function redownloadAction(store: ModelStore, onSelected: OnModelSelected): (modelFolder: string) => { title: string; run(): Promise<void> } | undefined {
  return (modelFolder) => {
    // A download of this extension's own cache (older versions), or a snapshot of a Hugging Face cache.
    const own = hubRefOfFolder(store.downloadRoot, modelFolder);
    const hf = own ? undefined : hfRefOfFolder(modelFolder);
    const ref = own ?? hf;
    if (!ref) return undefined;
    return {
      title: 'Re-download',
      run: async () => {
        const settings = readSettings();
        try {
          const onnxFile = store.onnxFileFor(modelFolder) ?? 'onnx/model.onnx';
          const common = { endpoint: hubEndpoint(settings.hubEndpoint), onnxFile };
          const cacheDir = path.dirname(path.dirname(path.dirname(path.resolve(modelFolder)))); // …/<cache>/models--org--name/snapshots/<commit>
          const folder = await downloadWithProgress(ref, (extra) => (own
            ? redownloadHubModel(ref, { ...common, cacheRoot: store.downloadRoot, ...extra })
            : redownloadToHfCache(ref, { ...common, cacheDir, ...extra })));
          readModelFolder(folder, onnxFile);
          onSelected(ref.id);
        } catch (e) {
          if (e instanceof HubError && e.code === 'cancelled') void vscode.window.showInformationMessage(`Attention Lens: ${e.message}`);
          else showError(e);
        }
      },
    };
  };
}

/**
 * The model picker: every usable model of the catalog, `current` marked and preselected, and the
 * commands that add one. Resolves with the chosen model's setting (`bundled:<id>` or a folder),
 * or undefined when the user cancelled or went on to add a model.
 */
export async function pickModel(store: ModelStore, title: string, current: string | undefined): Promise<{ setting: string; label: string } | undefined> {
  type Item = vscode.QuickPickItem & { setting?: string; command?: string };
  const items: Item[] = [];
  let lastSource = '';
  for (const c of store.catalog()) {
    if (c.source !== lastSource) {
      items.push({ label: SOURCE_LABEL[c.source], kind: vscode.QuickPickItemKind.Separator });
      lastSource = c.source;
    }
    const setting = c.entry.bundled ? c.entry.id : c.entry.folder;
    items.push({
      label: `${c.usable ? '' : '$(warning) '}${c.entry.label}${setting === current ? ' $(check)' : ''}`,
      description: c.description,
      detail: c.entry.bundled ? c.entry.description : c.entry.folder,
      setting: c.usable ? setting : undefined,
    });
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
  items.push({ label: '$(folder-opened) Add Model Folder…', command: 'attentionLens.addModelFolder' });
  items.push({ label: '$(cloud-download) Add Model from Hugging Face Hub…', command: 'attentionLens.addHubModel' });
  const pick = await quickPick(items, { title, matchOnDescription: true, matchOnDetail: true }, items.find((i) => i.setting !== undefined && i.setting === current));
  if (!pick) return undefined;
  if (pick.command) return void vscode.commands.executeCommand(pick.command);
  if (!pick.setting) return void showError(new ModelFolderError(pick.description ?? 'This model cannot be used.'));
  return { setting: pick.setting, label: pick.label.replace(/ \$\(check\)$/, '') };
}

/** `attentionLens.selectModel`: the model picker. */
export function registerSelectModel(store: ModelStore, onSelected: OnModelSelected): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.selectModel', async () => {
    const current = readSettings().model || store.bundled()[0]?.id;
    const pick = await pickModel(store, 'Attention Lens: model for Show Attention', current);
    if (!pick) return;
    await store.select(pick.setting);
    onSelected(pick.label);
  });
}
