/**
 * The head explorer: a webview view in the Attention Lens activity-bar container, and on demand a
 * full-size tab in the editor area (Open Head Explorer in Editor). Each page shows the grid of the
 * latest run from the runs registry and relays choices back through it; a page re-sends its whole
 * state whenever it (re)loads, e.g. when the view becomes visible again.
 */
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { assertNever } from '../core/protocol/common';
import type { ExplorerPlace, ExplorerState, FromExplorer, ToExplorer } from '../core/protocol/explorer';
import { headExplorerHtml } from '../panels/webviewHtml';
import type { Run, RunRegistry } from '../runs/runRegistry';

/** One explorer page (the sidebar view's or the editor tab's). */
class ExplorerPage extends Disposable {
  private ready = false;
  private runId: number | undefined;
  /** What was last posted (by identity), so unrelated run changes post nothing. */
  private sent: unknown[] | undefined;
  private exportSeq = 0;
  /** Figures asked of the page, by export id. */
  private readonly exports = new Map<number, { resolve(data: Uint8Array): void; reject(e: Error): void }>();

  /** `visible`: whether the page is on screen (a hidden page's contents are gone until it is shown again, and it loads afresh). */
  constructor(private readonly webview: vscode.Webview, extensionUri: vscode.Uri, private readonly runs: RunRegistry, readonly place: ExplorerPlace, private readonly visible: () => boolean) {
    super();
    this.runId = runs.latest?.id;
    webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')] };
    webview.html = headExplorerHtml(webview, extensionUri, place);
    this._register(webview.onDidReceiveMessage((m: FromExplorer) => this.onMessage(m)));
    this._register(runs.onDidAdd((run) => this.follow(run)));
    this._register(runs.onDidChange((run) => run.id === this.runId && this.send()));
    this._register(runs.onDidRemove((run) => {
      if (run.id !== this.runId) return;
      this.runId = runs.latest?.id;
      this.send();
    }));
  }

  override dispose(): void {
    this.fail('the head explorer was closed');
    super.dispose();
  }

  /** The page went off screen: its contents are gone (it says `ready` again when shown), and so are the figures it was making. */
  hidden(): void {
    this.ready = false;
    this.fail('the head explorer was hidden before the figure was made: show it and export again');
  }

  private fail(why: string): void {
    for (const e of this.exports.values()) e.reject(new Error(why));
    this.exports.clear();
  }

  /** The state the page shows: the followed run's grid, selection and similarity. */
  state(): ExplorerState {
    const run = this.runId === undefined ? undefined : this.runs.get(this.runId);
    const p = run?.gridProgress;
    if (!run?.grid) {
      if (!run || run.status === 'failed' || run.status === 'cancelled') return {};
      const of = `${run.model.label} (${run.tokens.length.toLocaleString('en-US')} tokens)`;
      if (!p) return { progress: { runId: run.id, text: run.status === 'running' ? `Running ${of}: every head appears here once its picture is drawn.` : `Measuring every head of ${of}…` } };
      if (p.waiting) return { progress: { runId: run.id, text: `Every head of ${of} is measured once this view is shown…` } };
      const text = p.stopped ? `Measuring every head of ${of} was stopped after ${p.done} of ${p.of} layers.` : `Measuring every head of ${of}: layer ${Math.min(p.done + 1, p.of)} of ${p.of}…`;
      return { progress: { runId: run.id, text, action: p.stopped ? 'measure' : 'stop' } };
    }
    return { grid: run.grid, selection: run.selection, similarity: run.similarity, title: `${run.model.label} · ${run.tokens.length} tokens` };
  }

  /** Whether the page shows a grid that can be exported: loaded, on screen, with a grid. */
  get hasGrid(): boolean {
    return this.ready && !this.isDisposed && this.visible() && !!this.state().grid;
  }

  /** The page's figure of the grid as it is shown, SVG or PNG (2×). */
  figure(format: 'svg' | 'png'): Promise<Uint8Array> {
    if (!this.hasGrid) return Promise.reject(new Error('the head explorer shows no grid: run Show Attention and open the head explorer'));
    const exportId = ++this.exportSeq;
    return new Promise((resolve, reject) => {
      this.exports.set(exportId, { resolve, reject });
      void this.webview.postMessage({ type: 'export/make', exportId, format } satisfies ToExplorer).then((delivered) => {
        if (delivered || !this.exports.has(exportId)) return;
        this.exports.delete(exportId);
        reject(new Error('the head explorer could not be reached: show it and export again'));
      }, () => undefined);
    });
  }

  private follow(run: Run): void {
    this.runId = run.id;
    this.send();
  }

  /** Posts the state when what the page shows changed (not for progress or summaries). */
  private send(): void {
    if (!this.ready) return;
    // A long input's grid waits for an explorer on screen to ask for it (it holds the panel's worker for minutes).
    const run = this.runId === undefined ? undefined : this.runs.get(this.runId);
    if (run?.gridProgress?.waiting && this.visible()) this.runs.requestGrid(run.id, true);
    const state = this.state();
    const key = [state.grid, state.selection, state.similarity, state.progress?.text];
    if (this.sent && key.every((v, i) => v === this.sent![i])) return;
    this.sent = key;
    this.post({ type: 'state/didChange', state });
  }

  private post(message: ToExplorer): void {
    void this.webview.postMessage(message).then(undefined, () => undefined);
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
      case 'heads/measure':
        this.runs.requestGrid(m.runId, m.measure);
        return;
      case 'export/request':
        void vscode.commands.executeCommand('attentionLens.exportHeadExplorer', this.place);
        return;
      case 'editor/open':
        void vscode.commands.executeCommand('attentionLens.openHeadExplorerInEditor');
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

/** The explorer pages: provider of the `attentionLens.headExplorer` view, and owner of the editor tab. */
export class HeadExplorers extends Disposable implements vscode.WebviewViewProvider {
  static readonly viewId = 'attentionLens.headExplorer';
  static readonly editorViewType = 'attentionLens.headExplorerEditor';
  private sidebar: ExplorerPage | undefined;
  private editor: { panel: vscode.WebviewPanel; page: ExplorerPage } | undefined;

  constructor(private readonly extensionUri: vscode.Uri, private readonly runs: RunRegistry) {
    super();
    this._register(vscode.window.registerWebviewViewProvider(HeadExplorers.viewId, this));
    this._register({ dispose: () => {
      this.sidebar?.dispose();
      this.editor?.panel.dispose();
    } });
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.sidebar?.dispose();
    const page = (this.sidebar = new ExplorerPage(view.webview, this.extensionUri, this.runs, 'sidebar', () => view.visible));
    view.onDidChangeVisibility(() => view.visible || page.hidden());
    view.onDidDispose(() => {
      page.dispose();
      if (this.sidebar === page) this.sidebar = undefined;
    });
  }

  /**
   * Shows the explorer full size in the editor area: in the group of the text editor (the panel
   * usually sits beside it, so a click on a head shows there), or brings an open one forward.
   */
  openInEditor(): void {
    if (this.editor) {
      this.editor.panel.reveal(undefined, false);
      return;
    }
    const column = vscode.window.activeTextEditor?.viewColumn ?? vscode.ViewColumn.One;
    const panel = vscode.window.createWebviewPanel(HeadExplorers.editorViewType, 'Head Explorer', column, { enableScripts: true });
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'activityBar.svg');
    const page = new ExplorerPage(panel.webview, this.extensionUri, this.runs, 'editor', () => panel.visible);
    this.editor = { panel, page };
    panel.onDidChangeViewState(() => panel.visible || page.hidden());
    panel.onDidDispose(() => {
      page.dispose();
      if (this.editor?.page === page) this.editor = undefined;
    });
  }

  /**
   * The page an export takes: the one that asked (its Export button), else the editor tab when it is
   * the active one, else the sidebar view; only a page on screen with a grid (undefined when none).
   */
  exportSource(place?: ExplorerPlace): { hasGrid: boolean; figure(format: 'svg' | 'png'): Promise<Uint8Array> } | undefined {
    const editor = this.editor?.page, sidebar = this.sidebar;
    const candidates = place === 'editor' ? [editor] : place === 'sidebar' ? [sidebar] : this.editor?.panel.active ? [editor, sidebar] : [sidebar, editor];
    return candidates.find((p) => p?.hasGrid);
  }
}
