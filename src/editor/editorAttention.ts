/**
 * Attention inline in the editor: hovers on the inspected tokens and, with the cursor on a token,
 * background highlights on the tokens it attends to. Thin: vscode types ↔ plain data from core.
 */
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import type { ViewSummary } from '../core/protocol';
import { attendedBy, hoverMarkdown, opacityLevel } from '../core/summary';
import type { TokenInfo } from '../core/tokens';

const LEVELS = 10;

/** The inspected text's place in a document. */
export interface InspectedText {
  runId: number;
  document: vscode.TextDocument;
  version: number;
  tokens: TokenInfo[];
  ranges: Array<vscode.Range | undefined>;
}

/** Maps tokens (UTF-16 offsets into the selection) to document ranges; special tokens get none. */
export function tokenRanges(document: vscode.TextDocument, selectionStart: vscode.Position, tokens: TokenInfo[]): Array<vscode.Range | undefined> {
  const base = document.offsetAt(selectionStart);
  return tokens.map((t) => (t.special || t.end <= t.start ? undefined : new vscode.Range(document.positionAt(base + t.start), document.positionAt(base + t.end))));
}

/** Hover provider and decorations for the current inspection. */
export class EditorAttention extends Disposable implements vscode.HoverProvider {
  private inspected: InspectedText | undefined;
  private summary: ViewSummary | undefined;
  private readonly levels: vscode.TextEditorDecorationType[];
  private readonly focus: vscode.TextEditorDecorationType;

  constructor(private readonly onFocusToken: (runId: number, index: number) => void) {
    super();
    this.levels = Array.from({ length: LEVELS }, (_, i) => {
      const a = ((i + 1) / LEVELS) * 0.55;
      return this._register(vscode.window.createTextEditorDecorationType({
        dark: { backgroundColor: `rgba(255, 170, 40, ${a.toFixed(3)})` },
        light: { backgroundColor: `rgba(230, 110, 0, ${a.toFixed(3)})` },
        borderRadius: '2px',
      }));
    });
    this.focus = this._register(vscode.window.createTextEditorDecorationType({
      outlineColor: new vscode.ThemeColor('focusBorder'), outlineStyle: 'solid', outlineWidth: '1px',
    }));
    this._register(vscode.languages.registerHoverProvider('*', this)); // every document, untitled ones too
    this._register(vscode.window.onDidChangeTextEditorSelection((e) => this.onCursor(e.textEditor)));
    this._register(vscode.window.onDidChangeVisibleTextEditors(() => this.redraw()));
    this._register(vscode.workspace.onDidChangeTextDocument((e) => {
      if (this.inspected && e.document === this.inspected.document && e.contentChanges.length > 0) this.clear();
    }));
    this._register(vscode.workspace.onDidCloseTextDocument((d) => {
      if (this.inspected?.document === d) this.clear();
    }));
  }

  /** Starts showing a new inspection (no summary until the panel sends one). */
  setInspected(inspected: InspectedText): void {
    this.inspected = inspected;
    this.summary = undefined;
    this.redraw();
  }

  /** The panel's current layer/head view changed. */
  setSummary(summary: ViewSummary): void {
    if (!this.inspected || summary.runId !== this.inspected.runId) return;
    this.summary = summary;
    this.redraw();
  }

  /** The current summary, for tests and commands. */
  get current(): { inspected?: InspectedText; summary?: ViewSummary } {
    return { inspected: this.inspected, summary: this.summary };
  }

  /** Removes every highlight and forgets the inspection. */
  clear(): void {
    this.inspected = undefined;
    this.summary = undefined;
    for (const editor of vscode.window.visibleTextEditors) {
      for (const d of [...this.levels, this.focus]) editor.setDecorations(d, []);
    }
  }

  provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const index = this.tokenAt(document, position);
    if (index === undefined || !this.inspected || !this.summary) return undefined;
    const md = new vscode.MarkdownString(hoverMarkdown(this.summary, this.inspected.tokens, index));
    return new vscode.Hover(md, this.inspected.ranges[index]);
  }

  private tokenAt(document: vscode.TextDocument, position: vscode.Position): number | undefined {
    const ins = this.inspected;
    if (!ins || document !== ins.document || document.version !== ins.version) return undefined;
    const i = ins.ranges.findIndex((r) => r?.contains(position) && !r.end.isEqual(position));
    if (i >= 0) return i;
    const j = ins.ranges.findIndex((r) => r?.contains(position));
    return j >= 0 ? j : undefined;
  }

  private onCursor(editor: vscode.TextEditor): void {
    if (!this.inspected || editor.document !== this.inspected.document) return;
    this.redraw();
    const index = this.tokenAt(editor.document, editor.selection.active);
    this.onFocusToken(this.inspected.runId, index ?? -1);
  }

  private redraw(): void {
    const ins = this.inspected;
    for (const editor of vscode.window.visibleTextEditors) {
      const buckets: vscode.Range[][] = this.levels.map(() => []);
      const focus: vscode.Range[] = [];
      if (ins && this.summary && editor.document === ins.document && editor.selection.isEmpty) {
        const q = this.tokenAt(editor.document, editor.selection.active);
        if (q !== undefined) {
          focus.push(ins.ranges[q]!);
          for (const { key, weight } of attendedBy(this.summary, q)) {
            const r = ins.ranges[key];
            if (r && weight >= 0.02) buckets[opacityLevel(weight, LEVELS)].push(r);
          }
        }
      }
      this.levels.forEach((d, i) => editor.setDecorations(d, buckets[i]));
      editor.setDecorations(this.focus, focus);
    }
  }
}
