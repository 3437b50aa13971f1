/**
 * The attention panel: one webview beside the editor that runs the model and draws the views.
 * Reports what it hears into the runs registry and follows the editor's cursor; holds no other
 * component and is reached by none through statics.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { assertNever } from '../core/protocol/common';
import type { FromPanel, HeadSelection, RunRequest, ToPanel } from '../core/protocol/panel';
import type { RunRegistry } from '../runs/runRegistry';
import { attentionPanelHtml } from './webviewHtml';

/** The panel's request with the ONNX file as a host path; the panel turns it into a webview URI. */
export type PanelRunRequest = Omit<RunRequest, 'model'> & { model: Omit<RunRequest['model'], 'onnxUri'> & { onnxPath: string } };

/** One open panel. */
export class AttentionPanel extends Disposable {
  private ready = false;
  private pending: RunRequest | undefined;
  private readonly modelFolders = new Set<string>();
  /** The selection the page last reported or was told, so echoes are not sent back. */
  private shown: ({ runId: number } & HeadSelection) | undefined;

  constructor(private readonly panel: vscode.WebviewPanel, private readonly extensionUri: vscode.Uri, private readonly runs: RunRegistry) {
    super();
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(panel.webview.onDidReceiveMessage((m: FromPanel) => this.onMessage(m)));
    this._register(runs.onDidChange((run) => {
      if (run.id !== this.pending?.runId) return;
      if (run.status === 'cancelled') return this.dispose(); // cancelled from the progress notification
      // A selection made elsewhere (the head explorer): show it.
      const s = run.selection;
      if (this.ready && s && (this.shown?.runId !== run.id || this.shown.recordIndex !== s.recordIndex || this.shown.heads.join() !== s.heads.join())) {
        this.shown = { runId: run.id, ...s };
        this.post({ type: 'selection/set', runId: run.id, selection: s });
      }
    }));
    this._register(runs.onDidRequestSimilarity(({ runId, recordIndex, head }) => {
      if (this.ready && runId === this.pending?.runId) this.post({ type: 'similarity/compute', runId, recordIndex, head });
    }));
    panel.webview.html = attentionPanelHtml(panel.webview, extensionUri);
  }

  /** Starts a run, replacing the one shown; sent now if the page is ready, else in reply to its `ready`. */
  start(request: PanelRunRequest): void {
    const { onnxPath, ...model } = request.model;
    const previous = this.pending?.runId;
    this.pending = { ...request, model: { ...model, onnxUri: this.grantModelFile(onnxPath) } };
    if (previous !== undefined) this.runs.remove(previous); // the page drops it for the new one
    this.panel.title = `Attention · ${model.label}`;
    if (this.ready) this.post({ type: 'run/start', request: this.pending });
  }

  /** Brings the panel forward without taking focus from the editor. */
  reveal(): void {
    this.panel.reveal(vscode.ViewColumn.Beside, true);
  }

  /** Tells the page which query token the editor cursor is on. */
  focusToken(runId: number, index: number): void {
    if (this.ready) this.post({ type: 'editor/didFocusToken', runId, index });
  }

  /**
   * Lets the page read `file`, a model file the user chose, and returns its webview URI. Its folder
   * is added to `localResourceRoots` (never swapped, so several models stay readable). Symlinks
   * (the Hugging Face cache) are resolved first.
   */
  private grantModelFile(file: string): string {
    let real = file;
    try {
      real = fs.realpathSync(file);
    } catch {
      /* gone since it was checked: the page's fetch reports it */
    }
    const folder = path.dirname(real);
    const media = path.join(this.extensionUri.fsPath, 'media');
    if (!this.modelFolders.has(folder) && !real.startsWith(media + path.sep)) {
      this.modelFolders.add(folder);
      this.panel.webview.options = { ...this.panel.webview.options, localResourceRoots: panelRoots(this.extensionUri, [...this.modelFolders]) };
    }
    return this.panel.webview.asWebviewUri(vscode.Uri.file(real)).toString();
  }

  private post(message: ToPanel): void {
    void this.panel.webview.postMessage(message).then(undefined, () => undefined);
  }

  private onMessage(m: FromPanel): void {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.post({ type: 'ready/reply', request: this.pending });
        return;
      case 'run/didProgress':
        this.runs.progress(m.runId, m.message);
        return;
      case 'run/didFinish':
        this.runs.finish(m.runId, { backend: m.backend, millis: m.millis, fallbackReason: m.fallbackReason });
        return;
      case 'run/didFail':
        this.runs.fail(m.runId, m.message);
        return;
      case 'view/didChange':
        this.runs.setSummary(m.summary);
        return;
      case 'selection/didChange':
        this.shown = { runId: m.runId, ...m.selection };
        this.runs.setSelection(m.runId, m.selection);
        return;
      case 'heads/didCompute':
        this.runs.setGrid(m.grid);
        return;
      case 'similarity/didCompute':
        this.runs.setSimilarity(m.runId, { recordIndex: m.recordIndex, head: m.head, distances: m.distances });
        return;
      default:
        assertNever(m);
    }
  }

  override dispose(): void {
    if (this.isDisposed) return;
    super.dispose();
    this.panel.dispose();
    if (this.pending) this.runs.remove(this.pending.runId);
  }
}

/** Owns the single attention panel: `createOrShow` reuses the open one. */
export class AttentionPanels extends Disposable {
  static readonly viewType = 'attentionLens.panel';
  private current: AttentionPanel | undefined;

  constructor(private readonly extensionUri: vscode.Uri, private readonly runs: RunRegistry, onDidFocusToken: vscode.Event<{ runId: number; index: number }>) {
    super();
    this._register(onDidFocusToken(({ runId, index }) => this.current?.focusToken(runId, index)));
    this._register({ dispose: () => this.current?.dispose() });
  }

  /** Shows the panel beside the active editor, creating it on first use. */
  createOrShow(): AttentionPanel {
    if (this.current && !this.current.isDisposed) {
      this.current.reveal();
      return this.current;
    }
    const panel = vscode.window.createWebviewPanel(
      AttentionPanels.viewType,
      'Attention Lens',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: panelRoots(this.extensionUri, []) },
    );
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.svg');
    this.current = new AttentionPanel(panel, this.extensionUri, this.runs);
    return this.current;
  }
}

function panelRoots(extensionUri: vscode.Uri, modelFolders: string[]): vscode.Uri[] {
  return [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media'), ...modelFolders.map((f) => vscode.Uri.file(f))];
}
