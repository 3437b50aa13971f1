/** The attention panel: a singleton webview beside the editor that runs the model and draws the head view. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { type FromWebview, type RunRequest, type ToWebview, type ViewSummary, assertNever } from '../core/protocol';
import { attentionPanelHtml } from './webviewHtml';

/** What the panel reports back to the rest of the extension. */
export interface PanelEvents {
  onProgress(runId: number, message: string): void;
  onDone(runId: number, backend: 'webgpu' | 'wasm', millis: number, fallbackReason?: string): void;
  onFailed(runId: number, message: string): void;
  onSummary(summary: ViewSummary): void;
  onClosed(): void;
}

/** Owns the webview panel; `createOrShow` reuses the open one. */
export class AttentionPanel extends Disposable {
  static readonly viewType = 'attentionLens.panel';
  private static current: AttentionPanel | undefined;
  private ready = false;
  private pending: RunRequest | undefined;

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly events: PanelEvents,
  ) {
    super();
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(panel.webview.onDidReceiveMessage((m: FromWebview) => this.onMessage(m)));
    panel.webview.html = attentionPanelHtml(panel.webview, extensionUri);
  }

  /** Shows the panel beside the active editor, creating it on first use. */
  static createOrShow(extensionUri: vscode.Uri, events: PanelEvents): AttentionPanel {
    if (AttentionPanel.current && !AttentionPanel.current.isDisposed) {
      AttentionPanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      return AttentionPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      AttentionPanel.viewType,
      'Attention Lens',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: AttentionPanel.roots(extensionUri, []) },
    );
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    AttentionPanel.current = new AttentionPanel(panel, extensionUri, events);
    return AttentionPanel.current;
  }

  /** The open panel, if any. */
  static get open(): AttentionPanel | undefined {
    return AttentionPanel.current && !AttentionPanel.current.isDisposed ? AttentionPanel.current : undefined;
  }

  private static roots(extensionUri: vscode.Uri, modelFolders: string[]): vscode.Uri[] {
    return [
      vscode.Uri.joinPath(extensionUri, 'dist'),
      vscode.Uri.joinPath(extensionUri, 'media'),
      ...modelFolders.map((f) => vscode.Uri.file(f)),
    ];
  }

  /**
   * The URI under which the webview may fetch `file`, a model file the user chose. Only its own
   * folder becomes readable to the webview. Symlinks (the Hugging Face cache) are resolved first.
   */
  modelUri(file: string): string {
    let real = file;
    try {
      real = fs.realpathSync(file);
    } catch {
      /* gone since it was checked: the webview's fetch reports it */
    }
    const extMedia = path.join(this.extensionUri.fsPath, 'media');
    if (!real.startsWith(extMedia + path.sep)) {
      this.panel.webview.options = { ...this.panel.webview.options, localResourceRoots: AttentionPanel.roots(this.extensionUri, [path.dirname(real)]) };
    }
    return this.panel.webview.asWebviewUri(vscode.Uri.file(real)).toString();
  }

  /** Starts a run; sent now if the webview is ready, else on its `ready`. */
  run(request: RunRequest): void {
    this.pending = request;
    this.panel.title = `Attention · ${request.model.label}`;
    if (this.ready) this.post({ type: 'run/start', request });
  }

  /** Tells the panel which query token the editor cursor is on. */
  focusToken(runId: number, index: number): void {
    if (this.ready) this.post({ type: 'editor/focusToken', runId, index });
  }

  private post(message: ToWebview): void {
    void this.panel.webview.postMessage(message).then(undefined, () => undefined);
  }

  private onMessage(m: FromWebview): void {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        if (this.pending) this.post({ type: 'run/start', request: this.pending });
        return;
      case 'run/progress':
        this.events.onProgress(m.runId, m.message);
        return;
      case 'run/done':
        this.events.onDone(m.runId, m.backend, m.millis, m.fallbackReason);
        return;
      case 'run/failed':
        this.events.onFailed(m.runId, m.message);
        return;
      case 'view/summary':
        this.events.onSummary(m.summary);
        return;
      default:
        assertNever(m);
    }
  }

  override dispose(): void {
    if (this.isDisposed) return;
    if (AttentionPanel.current === this) AttentionPanel.current = undefined;
    super.dispose();
    this.panel.dispose();
    this.events.onClosed();
  }
}
