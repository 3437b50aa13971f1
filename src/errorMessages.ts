/** Error notifications: one place that words failures and offers the ways forward. */
import * as vscode from 'vscode';

/** Shows `e` as an Attention Lens error; `modelProblem` offers Select Model… and the settings. */
export function showError(e: unknown, modelProblem = false): void {
  const message = e instanceof Error ? e.message : String(e);
  const actions = modelProblem ? ['Select Model…', 'Open Settings'] : [];
  void vscode.window.showErrorMessage(`Attention Lens: ${message}`, ...actions).then((a) => {
    if (a === 'Select Model…') void vscode.commands.executeCommand('attentionLens.selectModel');
    if (a === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'attentionLens');
  });
}
