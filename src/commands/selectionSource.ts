/** The text a command works on: the editor's selection, or the selection on screen in the panel. */
import * as vscode from 'vscode';
import type { RunRegistry } from '../runs/runRegistry';

/** Where the text sits in its document. */
export interface Source {
  document: vscode.TextDocument;
  selection: vscode.Selection;
}

/**
 * The editor a command on the selection works on: the active text editor, else (from the
 * walkthrough or another non-text editor in front) a visible text editor with a selection.
 */
export function selectionEditor(): vscode.TextEditor | undefined {
  return vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors.find((e) => e.selections.some((s) => !s.isEmpty));
}

/**
 * The first non-empty selection of `editor`; without one (from a panel button, say), the text of
 * the run on screen while its document is unchanged; else undefined, after a message that says to
 * select text and `retry` (what to run again).
 */
export function selectionSource(editor: vscode.TextEditor | undefined, runs: RunRegistry, retry: string): Source | undefined {
  const selection = editor?.selections.find((s) => !s.isEmpty && editor.document.getText(s).trim().length > 0);
  if (editor && selection) return { document: editor.document, selection };
  const shown = runs.latest;
  const document = shown && vscode.workspace.textDocuments.find((d) => d.uri.toString() === shown.document.uri && d.version === shown.document.version);
  if (shown && document) {
    const { offset, length } = shown.document;
    return { document, selection: new vscode.Selection(document.positionAt(offset), document.positionAt(offset + length)) };
  }
  void vscode.window.showInformationMessage(`Attention Lens: select the text you want to ${retry}, then run the command again.`);
  return undefined;
}
