import * as vscode from 'vscode';
import { HeadExplorerView } from '../views/headExplorerView';

/** Registers `attentionLens.showHeadExplorer`: reveal the head explorer in its activity-bar container. */
export function registerShowHeadExplorer(): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.showHeadExplorer', () => vscode.commands.executeCommand(`${HeadExplorerView.viewId}.focus`));
}
