import * as vscode from 'vscode';
import type { EditorAttention } from '../editor/editorAttention';

/** Registers `attentionLens.clearAttention`: remove the inline highlights. */
export function registerClearAttention(editor: EditorAttention): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.clearAttention', () => editor.clear());
}
