/**
 * The head explorer: a webview view in the Attention Lens activity-bar container. Shows the grid
 * of the latest run from the runs registry and relays choices back through it; re-sends its whole
 * state whenever the page (re)loads, e.g. when the view becomes visible again.
 */
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { assertNever } from '../core/protocol/common';
import type { ExplorerState, FromExplorer, ToExplorer } from '../core/protocol/explorer';
import { headExplorerHtml } from '../panels/webviewHtml';
import type { Run, RunRegistry } from '../runs/runRegistry';

/** Provider of the `attentionLens.headExplorer` view. */
export class HeadExplorerView extends Disposable implements vscode.WebviewViewProvider {
  static readonly viewId = 'attentionLens.headExplorer';
  private view: vscode.WebviewView | undefined;
  private ready = false;
  private runId: number | undefined;
  /** What was last posted (by identity), so unrelated run changes post nothing. */
  private sent: unknown[] | undefined;
  private exportSeq = 0;
  /** Figures asked of the page, by export id. */
  private readonly exports = new Map<number, { resolve(data: Uint8Array): void; reject(e: Error): void }>();

  constructor(private readonly extensionUri: vscode.Uri, private readonly runs: RunRegistry) {
    super();
    this._register(vscode.window.registerWebviewViewProvider(HeadExplorerView.viewId, this));
    this._register(runs.onDidAdd((run) => this.follow(run)));
    this._register(runs.onDidChange((run) => run.id === this.runId && this.send()));
    this._register(runs.onDidRemove((run) => {
      if (run.id !== this.runId) return;
      this.runId = runs.latest?.id;
      this.send();
    }));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    view.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')] };
    view.webview.html = headExplorerHtml(view.webview, this.extensionUri);
    view.webview.onDidReceiveMessage((m: FromExplorer) => this.onMessage(m), undefined, []);
    view.onDidDispose(() => {
      if (this.view !== view) return;
      this.view = undefined;
      for (const e of this.exports.values()) e.reject(new Error('the head explorer was closed'));
      this.exports.clear();
    });
  }

  /** The state the page shows: the followed run's grid, selection and similarity. */
  state(): ExplorerState {
    const run = this.runId === undefined ? undefined : this.runs.get(this.runId);
    if (!run?.grid) return {};
    return { grid: run.grid, selection: run.selection, similarity: run.similarity, title: `${run.model.label} · ${run.tokens.length} tokens` };
  }

  /** Whether the view shows a grid that can be exported. */
  get hasGrid(): boolean {
    return !!this.view && this.ready && !!this.state().grid;
  }

  /** The page's figure of the grid as it is shown, SVG or PNG (2×). */
  figure(format: 'svg' | 'png'): Promise<Uint8Array> {
    if (!this.hasGrid) return Promise.reject(new Error('the head explorer shows no grid: run Show Attention and open the head explorer'));
    const exportId = ++this.exportSeq;
    return new Promise((resolve, reject) => {
      this.exports.set(exportId, { resolve, reject });
      this.post({ type: 'export/make', exportId, format });
    });
  }

  private follow(run: Run): void {
    this.runId = run.id;
    this.send();
  }

  /** Posts the state when what the page shows changed (not for progress or summaries). */
  private send(): void {
    if (!this.view || !this.ready) return;
    const state = this.state();
    const key = [state.grid, state.selection, state.similarity];
    if (this.sent && key.every((v, i) => v === this.sent![i])) return;
    this.sent = key;
    this.post({ type: 'state/didChange', state });
  }

  private post(message: ToExplorer): void {
    void this.view?.webview.postMessage(message).then(undefined, () => undefined);
  }

  private onMessage(m: FromExplorer): void {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.sent = undefined;
        this.send();
        return;
      case 'selection/set':
        this.runs.setSelection(m.runId, m.selection);
        return;
      case 'similarity/compute':
        this.runs.requestSimilarity(m.runId, m.recordIndex, m.head);
        return;
      case 'export/request':
        void vscode.commands.executeCommand('attentionLens.exportHeadExplorer');
        return;
      case 'export/didMake':
        this.exports.get(m.exportId)?.resolve(m.data);
        this.exports.delete(m.exportId);
        return;
      case 'export/didFail':
        this.exports.get(m.exportId)?.reject(new Error(m.message));
        this.exports.delete(m.exportId);
        return;
      default:
        assertNever(m);
    }
  }
}
