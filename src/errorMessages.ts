/** Error notifications: one place that words failures and offers the ways forward. */
import * as vscode from 'vscode';

/** An extra way forward offered with an error, such as Re-download. */
export interface ErrorAction {
  title: string;
  run(): unknown;
}

/** Shows `e` as an Attention Lens error; `modelProblem` offers Select Model… and the settings, `extra` first. */
export function showError(e: unknown, modelProblem = false, extra?: ErrorAction): void {
  const message = e instanceof Error ? e.message : String(e);
  const actions = [...(extra ? [extra.title] : []), ...(modelProblem ? ['Select Model…', 'Open Settings'] : [])];
  void vscode.window.showErrorMessage(`Attention Lens: ${message}`, ...actions).then((a) => {
    if (extra && a === extra.title) void extra.run();
    if (a === 'Select Model…') void vscode.commands.executeCommand('attentionLens.selectModel');
    if (a === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'attentionLens');
  });
}
