/**
 * Attention inline in the editor: hovers on the inspected tokens and, with the cursor on a token,
 * background highlights on the tokens it attends to. Subscribes to the runs registry; thin:
 * vscode types ↔ plain data from core.
 */
import * as vscode from 'vscode';
import { readSettings } from '../config';
import { Disposable } from '../disposable';
import { type ViewSummary, attendedBy, opacityLevel, positionOfToken, tokensOfPosition } from '../core/analysis/summary';
import { MIN_HIGHLIGHT_WEIGHT } from '../core/analysis/thresholds';
import { generatedMarkdown, hoverMarkdown } from '../core/hoverMarkdown';
import { HIGHLIGHT } from '../core/palette';
import type { TokenInfo } from '../core/tokens';
import type { Run, RunRegistry } from '../runs/runRegistry';

const LEVELS = 10;

/** The inspected text's place in a document. */
interface InspectedText {
  runId: number;
  document: vscode.TextDocument;
  version: number;
  tokens: readonly TokenInfo[];
  ranges: Array<vscode.Range | undefined>;
  /** A generation's sequence: which tokens were generated, and their steps. */
  generation?: Run['generation'];
}

/** Maps tokens (UTF-16 offsets from `base`) to document ranges; special tokens get none. */
function tokenRanges(document: vscode.TextDocument, base: number, tokens: readonly TokenInfo[]): Array<vscode.Range | undefined> {
  return tokens.map((t) => (t.special || t.end <= t.start ? undefined : new vscode.Range(document.positionAt(base + t.start), document.positionAt(base + t.end))));
}

/** Hover provider and decorations for the latest run over a document. */
export class EditorAttention extends Disposable implements vscode.HoverProvider {
  private inspected: InspectedText | undefined;
  /** A hover was shown: the walkthrough step that asks for one is done. */
  private hovered = false;
  private summary: ViewSummary | undefined;
  private readonly levels: vscode.TextEditorDecorationType[];
  private readonly focus: vscode.TextEditorDecorationType;
  /** Weight labels after attended tokens (`attentionLens.inlineWeights`). */
  private readonly weights: vscode.TextEditorDecorationType;
  private inlineWeights = readSettings().inlineWeights;
  private readonly focusEmitter = this._register(new vscode.EventEmitter<{ runId: number; index: number }>());
  /** The cursor moved onto query token `index` of run `runId` (-1: onto none). */
  readonly onDidFocusToken = this.focusEmitter.event;

  constructor(runs: RunRegistry) {
    super();
    const rgba = (rgb: readonly number[], a: number) => `rgba(${rgb.join(', ')}, ${a.toFixed(3)})`;
    this.levels = Array.from({ length: LEVELS }, (_, i) => {
      const a = ((i + 1) / LEVELS) * HIGHLIGHT.maxAlpha;
      return this._register(vscode.window.createTextEditorDecorationType({
        dark: { backgroundColor: rgba(HIGHLIGHT.dark, a) },
        light: { backgroundColor: rgba(HIGHLIGHT.light, a) },
        borderRadius: '2px',
      }));
    });
    this.focus = this._register(vscode.window.createTextEditorDecorationType({
      outlineColor: new vscode.ThemeColor('focusBorder'), outlineStyle: 'solid', outlineWidth: '1px',
    }));
    this.weights = this._register(vscode.window.createTextEditorDecorationType({
      after: { color: new vscode.ThemeColor('editorCodeLens.foreground'), margin: '0 0 0 2px', fontStyle: 'normal' },
    }));
    this._register(vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('attentionLens.inlineWeights')) return;
      this.inlineWeights = readSettings().inlineWeights;
      this.redraw();
    }));
    this._register(runs.onDidAdd((run) => this.setInspected(run)));
    this._register(runs.onDidMove((run) => this.inspected?.runId === run.id || !this.inspected ? this.setInspected(run) : undefined));
    this._register(runs.onDidChange((run) => this.setSummary(run)));
    this._register(runs.onDidRemove((run) => {
      if (this.inspected?.runId === run.id) this.clear();
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

  /** Removes every highlight and forgets the inspection. */
  clear(): void {
    this.inspected = undefined;
    this.summary = undefined;
    for (const editor of vscode.window.visibleTextEditors) {
      for (const d of [...this.levels, this.focus, this.weights]) editor.setDecorations(d, []);
    }
  }

  provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const index = this.tokenAt(document, position);
    if (index === undefined || !this.inspected || !this.summary) return undefined;
    const g = this.inspected.generation;
    const step = g && index >= g.first ? g.steps[index - g.first] : undefined;
    const text = step ? generatedMarkdown(this.summary, this.inspected.tokens, step) : hoverMarkdown(this.summary, this.inspected.tokens, index);
    if (!text) return undefined;
    // The walkthrough's "hover a token" step completes on this context key.
    if (!this.hovered) void vscode.commands.executeCommand('setContext', 'attentionLens.hoveredToken', (this.hovered = true));
    return new vscode.Hover(new vscode.MarkdownString(text), this.inspected.ranges[index]);
  }

  /** A new run over a document: show it (no summary until the panel sends one). */
  private setInspected(run: Run): void {
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === run.document.uri);
    if (!document || document.version !== run.document.version) return this.clear();
    this.inspected = { runId: run.id, document, version: run.document.version, tokens: run.tokens, ranges: tokenRanges(document, run.document.offset, run.tokens), generation: run.generation };
    this.summary = run.summary; // a moved run keeps the panel's view
    this.redraw();
  }

  /** The panel's current layer/head view of the inspected run changed. */
  private setSummary(run: Run): void {
    if (!this.inspected || run.id !== this.inspected.runId || !run.summary || run.summary === this.summary) return;
    this.summary = run.summary;
    this.redraw();
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
    this.focusEmitter.fire({ runId: this.inspected.runId, index: index ?? -1 });
  }

  private redraw(): void {
    const ins = this.inspected;
    for (const editor of vscode.window.visibleTextEditors) {
      const buckets: vscode.Range[][] = this.levels.map(() => []);
      const focus: vscode.Range[] = [];
      const labels: vscode.DecorationOptions[] = [];
      if (ins && this.summary && editor.document === ins.document && editor.selection.isEmpty) {
        const t = this.tokenAt(editor.document, editor.selection.active);
        const q = t === undefined ? -1 : positionOfToken(this.summary.units, t);
        if (t !== undefined && q >= 0) {
          focus.push(ins.ranges[t]!);
          for (const { key, weight } of attendedBy(this.summary, q)) {
            if (weight < MIN_HIGHLIGHT_WEIGHT) continue;
            // A word (or a token) may span several tokens: highlight each of them; label the last.
            const pieces = tokensOfPosition(this.summary.units, key).filter((k) => ins.ranges[k]);
            for (const k of pieces) buckets[opacityLevel(weight, LEVELS)].push(ins.ranges[k]!);
            if (this.inlineWeights && pieces.length > 0) labels.push({ range: ins.ranges[pieces.at(-1)!]!, renderOptions: { after: { contentText: weight.toFixed(2) } } });
          }
        }
      }
      this.levels.forEach((d, i) => editor.setDecorations(d, buckets[i]));
      editor.setDecorations(this.focus, focus);
      editor.setDecorations(this.weights, labels);
    }
  }
}
