/**
 * `attentionLens.showAttention`: tokenize the selection on the host, add a run to the registry
 * and hand it to the panel. Everything after that (progress, results, editor, status bar) follows
 * the registry.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings } from '../config';
import { formatBytes } from '../core/units';
import { showError } from '../errorMessages';
import { ModelFolderError, readModelFolder } from '../models/modelFolder';
import { sizeVerdict } from '../models/modelCatalog';
import { resolveModel } from '../models/modelRegistry';
import type { ModelStore } from '../modelStore';
import { prepareInputs, truncationNotice } from '../models/prepareInputs';
import { ModelTokenizer } from '../models/tokenizer';
import type { AttentionPanels } from '../panels/attentionPanel';
import type { RunRegistry } from '../runs/runRegistry';

/** Inspects editor selections: the Show Attention command's logic. */
export class ShowAttention {
  private readonly tokenizers = new Map<string, ModelTokenizer>();
  /** Large models the user agreed to load this session. */
  private readonly confirmedLarge = new Set<string>();

  constructor(private readonly runs: RunRegistry, private readonly store: ModelStore, private readonly panels: AttentionPanels) {}

  /** Inspects the selection of `textEditor`. */
  async run(textEditor: vscode.TextEditor | undefined): Promise<void> {
    if (!textEditor) {
      void vscode.window.showInformationMessage('Attention Lens: open a file and select some text first.');
      return;
    }
    await this.inspect(textEditor.document, textEditor.selection);
  }

  /** Another model became current: say so, and re-run the inspection on screen with it. */
  modelChanged(label: string): void {
    const shown = this.runs.latest;
    const document = shown && vscode.workspace.textDocuments.find((d) => d.uri.toString() === shown.document.uri);
    const again = document && document.version === shown.document.version;
    void vscode.window.showInformationMessage(`Attention Lens now uses ${label}.${again ? ' Showing the same selection with it…' : ''}`);
    if (again) {
      const { offset, length } = shown.document;
      void this.inspect(document, new vscode.Selection(document.positionAt(offset), document.positionAt(offset + length)));
    }
  }

  /** Tokenizes `selection` of `document` and starts a run on the current model. */
  private async inspect(document: vscode.TextDocument, selection: vscode.Selection): Promise<void> {
    const text = document.getText(selection);
    if (selection.isEmpty || text.trim().length === 0) {
      void vscode.window.showInformationMessage('Attention Lens: select the text you want to inspect, then run Show Attention.');
      return;
    }
    const settings = readSettings();
    let entry, info, prepared;
    try {
      entry = resolveModel(settings.model, this.store.bundled());
      info = readModelFolder(entry.folder, this.store.onnxFileFor(entry.folder));
      if (!(await this.confirmSize(info.onnxPath, info.onnxBytes, settings.warnModelSizeMB, settings.maxModelSizeMB))) return;
      prepared = await prepareInputs(info, this.tokenizer(info.folder), text);
    } catch (e) {
      showError(e, true);
      return;
    }
    const notice = truncationNotice(prepared, info.maxPositions);
    if (notice) void vscode.window.showWarningMessage(`Attention Lens: ${notice}`);
    const panel = this.panels.createOrShow();
    const run = this.runs.add({
      model: { id: entry.id, label: entry.label },
      document: { uri: document.uri.toString(), version: document.version, offset: document.offsetAt(selection.start), length: text.length },
      tokens: prepared.tokens,
    });
    panel.start({
      runId: run.id,
      model: { id: entry.id, label: entry.label, architecture: info.architecture, onnxPath: info.onnxPath, onnxLabel: path.relative(info.folder, info.onnxPath), causal: info.causal },
      backend: settings.backend,
      text,
      tokens: prepared.tokens,
      ids: Int32Array.from(prepared.tokens, (t) => t.id),
      decoderTokens: prepared.decoderTokens,
      decoderIds: prepared.decoderTokens ? Int32Array.from(prepared.decoderTokens, (t) => t.id) : undefined,
      notice,
      maxLinksPerQuery: settings.maxLinksPerQuery,
    });
  }

  /** Refuses models past the limit and asks before large ones (once per file per session). */
  private async confirmSize(file: string, bytes: number, warnMB: number, maxMB: number): Promise<boolean> {
    const verdict = sizeVerdict(bytes, warnMB, maxMB);
    if (verdict === 'refuse') {
      throw new ModelFolderError(`${path.basename(file)} is ${formatBytes(bytes)}, over attentionLens.maxModelSizeMB (${maxMB} MB). Choose a smaller (quantized) export or raise the limit.`);
    }
    if (verdict === 'ok' || this.confirmedLarge.has(file)) return true;
    const load = 'Load Anyway';
    const answer = await vscode.window.showWarningMessage(
      `${path.basename(file)} is ${formatBytes(bytes)}. The panel holds the whole model in memory and attention for long selections grows quadratically; loading may take a while.`,
      { modal: true },
      load,
    );
    if (answer !== load) return false;
    this.confirmedLarge.add(file);
    return true;
  }

  private tokenizer(folder: string): ModelTokenizer {
    let t = this.tokenizers.get(folder);
    if (!t) {
      t = ModelTokenizer.load(folder);
      this.tokenizers.set(folder, t);
    }
    return t;
  }
}

/** Registers `attentionLens.showAttention`: inspect the active editor's selection. */
export function registerShowAttention(show: ShowAttention): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.showAttention', () => show.run(vscode.window.activeTextEditor));
}
