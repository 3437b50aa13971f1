/**
 * Coordinates one inspection: tokenize on the host, hand the ids to the panel, show progress,
 * and route the panel's results to the editor and the status bar.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from './disposable';
import { readSettings } from './config';
import type { ViewSummary } from './core/protocol';
import { EditorAttention, tokenRanges } from './editor/editorAttention';
import { ModelFolderError, readModelFolder } from './models/modelFolder';
import { formatBytes, sizeVerdict } from './models/modelCatalog';
import { resolveModel } from './models/modelRegistry';
import type { ModelStore } from './modelStore';
import { prepareInputs, truncationNotice } from './models/prepareInputs';
import { ModelTokenizer } from './models/tokenizer';
import { AttentionPanel, type PanelEvents } from './panels/attentionPanel';

interface ActiveRun {
  runId: number;
  resolve: () => void;
  report: (message: string) => void;
}

/** The result of the last finished run, for the status bar and tests. */
export interface RunOutcome {
  runId: number;
  backend?: 'webgpu' | 'wasm';
  millis?: number;
  error?: string;
  summary?: ViewSummary;
}

export class LensController extends Disposable implements PanelEvents {
  private runId = 0;
  private active: ActiveRun | undefined;
  private readonly tokenizers = new Map<string, ModelTokenizer>();
  private readonly status: vscode.StatusBarItem;
  private readonly editor: EditorAttention;
  private readonly outcomeEmitter = this._register(new vscode.EventEmitter<RunOutcome>());
  /** Fires when a run finishes, fails, or its summary changes. */
  readonly onDidChangeOutcome = this.outcomeEmitter.event;
  lastOutcome: RunOutcome | undefined;

  /** Large models the user agreed to load this session. */
  private readonly confirmedLarge = new Set<string>();

  constructor(private readonly extensionUri: vscode.Uri, private readonly store: ModelStore) {
    super();
    this.editor = this._register(new EditorAttention((runId, index) => AttentionPanel.open?.focusToken(runId, index)));
    this.status = this._register(vscode.window.createStatusBarItem('attentionLens.status', vscode.StatusBarAlignment.Right, 100));
    this.status.name = 'Attention Lens';
    this.status.command = 'attentionLens.showAttention';
  }

  /** Inspects the selection of `textEditor`. */
  async show(textEditor: vscode.TextEditor | undefined): Promise<void> {
    if (!textEditor) {
      void vscode.window.showInformationMessage('Attention Lens: open a file and select some text first.');
      return;
    }
    const selection = textEditor.selection;
    const text = textEditor.document.getText(selection);
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
      this.fail(e, true);
      return;
    }
    const runId = ++this.runId;
    const document = textEditor.document;
    this.editor.setInspected({ runId, document, version: document.version, tokens: prepared.tokens, ranges: tokenRanges(document, selection.start, prepared.tokens) });
    const notice = truncationNotice(prepared, info.maxPositions);
    if (notice) void vscode.window.showWarningMessage(`Attention Lens: ${notice}`);

    this.active?.resolve();
    const panel = AttentionPanel.createOrShow(this.extensionUri, this);
    panel.run({
      runId,
      model: {
        id: entry.id,
        label: entry.label,
        architecture: info.architecture,
        onnxUri: panel.modelUri(info.onnxPath),
        onnxLabel: path.relative(info.folder, info.onnxPath),
        causal: info.causal,
        untrained: entry.untrained,
      },
      backend: settings.backend,
      tokens: prepared.tokens,
      ids: Int32Array.from(prepared.tokens, (t) => t.id),
      decoderTokens: prepared.decoderTokens,
      decoderIds: prepared.decoderTokens ? Int32Array.from(prepared.decoderTokens, (t) => t.id) : undefined,
      notice,
      maxLinksPerQuery: settings.maxLinksPerQuery,
    });
    this.status.text = '$(loading~spin) Attention Lens';
    this.status.tooltip = `Running ${entry.label}…`;
    this.status.show();
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Attention Lens: ${entry.label}`, cancellable: true },
      (progress, token) =>
        new Promise<void>((resolve) => {
          this.active = { runId, resolve, report: (message) => progress.report({ message }) };
          token.onCancellationRequested(() => AttentionPanel.open?.dispose());
        }),
    );
  }

  /** Refuses models past the limit and asks before large ones (once per file per session). */
  private async confirmSize(file: string, bytes: number, warnMB: number, maxMB: number): Promise<boolean> {
    const verdict = sizeVerdict(bytes, warnMB, maxMB);
    if (verdict === 'refuse') {
      this.fail(new Error(`${path.basename(file)} is ${formatBytes(bytes)}, over attentionLens.maxModelSizeMB (${maxMB} MB). Choose a smaller (quantized) export or raise the limit.`), true);
      return false;
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

  /** Removes the editor highlights. */
  clear(): void {
    this.editor.clear();
  }

  private tokenizer(folder: string): ModelTokenizer {
    let t = this.tokenizers.get(folder);
    if (!t) {
      t = ModelTokenizer.load(folder);
      this.tokenizers.set(folder, t);
    }
    return t;
  }

  private finish(runId: number): void {
    if (this.active?.runId === runId) {
      this.active.resolve();
      this.active = undefined;
    }
  }

  private publish(outcome: RunOutcome): void {
    this.lastOutcome = outcome;
    this.outcomeEmitter.fire(outcome);
  }

  /** Shows an error with ways forward: choose another model, or the settings. */
  private fail(e: unknown, modelProblem: boolean): void {
    const message = e instanceof Error ? e.message : String(e);
    const actions = modelProblem || e instanceof ModelFolderError ? ['Select Model…', 'Open Settings'] : [];
    void vscode.window.showErrorMessage(`Attention Lens: ${message}`, ...actions).then((a) => {
      if (a === 'Select Model…') void vscode.commands.executeCommand('attentionLens.selectModel');
      if (a === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'attentionLens');
    });
  }

  onProgress(runId: number, message: string): void {
    if (this.active?.runId === runId) this.active.report(message);
  }

  onDone(runId: number, backend: 'webgpu' | 'wasm', millis: number, fallbackReason?: string): void {
    if (runId !== this.runId) return;
    this.finish(runId);
    this.status.text = `$(eye) ${backend === 'webgpu' ? 'WebGPU' : 'WASM'} · ${Math.round(millis)} ms`;
    this.status.tooltip = `Attention Lens: last run on ${backend === 'webgpu' ? 'WebGPU' : 'WebAssembly'} took ${millis.toFixed(1)} ms${fallbackReason ? ` (WebGPU unavailable: ${fallbackReason})` : ''}. Click to inspect the selection.`;
    this.publish({ ...this.lastOutcome, runId, backend, millis, error: undefined });
  }

  onFailed(runId: number, message: string): void {
    if (runId !== this.runId) return;
    this.finish(runId);
    this.status.text = '$(error) Attention Lens';
    this.status.tooltip = message;
    this.publish({ runId, error: message });
    this.fail(new Error(message), true);
  }

  onSummary(summary: ViewSummary): void {
    this.editor.setSummary(summary);
    if (summary.runId === this.runId) this.publish({ ...this.lastOutcome, runId: summary.runId, summary });
  }

  onClosed(): void {
    if (this.active) {
      this.finish(this.active.runId);
      this.runId++; // late messages from the closed panel are ignored
    }
    this.editor.clear();
    this.status.hide();
  }
}
