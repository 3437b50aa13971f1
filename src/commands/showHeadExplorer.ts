import * as vscode from 'vscode';
import { HeadExplorers } from '../views/headExplorerView';

/**
 * Registers `attentionLens.showHeadExplorer` (reveal the head explorer in its activity-bar
 * container) and `attentionLens.openHeadExplorerInEditor` (the same grid full size in the editor area).
 */
export function registerShowHeadExplorer(explorers: HeadExplorers): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand('attentionLens.showHeadExplorer', () => vscode.commands.executeCommand(`${HeadExplorers.viewId}.focus`)),
    vscode.commands.registerCommand('attentionLens.openHeadExplorerInEditor', () => explorers.openInEditor()),
  );
}
