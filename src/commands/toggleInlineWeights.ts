import * as vscode from 'vscode';
import { readSettings } from '../config';

/** Registers `attentionLens.toggleInlineWeights`: flips `attentionLens.inlineWeights` in the user's settings. */
export function registerToggleInlineWeights(): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.toggleInlineWeights', async () => {
    const on = !readSettings().inlineWeights;
    await vscode.workspace.getConfiguration('attentionLens').update('inlineWeights', on, vscode.ConfigurationTarget.Global);
    void vscode.window.setStatusBarMessage(`Attention Lens: inline weights ${on ? 'on' : 'off'}`, 3000);
  });
}
