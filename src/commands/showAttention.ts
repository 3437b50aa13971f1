import * as vscode from 'vscode';
import type { LensController } from '../lensController';

/** `attentionLens.showAttention`: inspect the active editor's selection. */
export function registerShowAttention(controller: LensController): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.showAttention', () => controller.show(vscode.window.activeTextEditor));
}

/** `attentionLens.clearAttention`: remove the inline highlights. */
export function registerClearAttention(controller: LensController): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.clearAttention', () => controller.clear());
}
