/** Attention Lens: entry point. Builds the services and registers what the user can reach. */
import * as vscode from 'vscode';
import { registerAddHubModel, registerAddModelFolder, registerSelectModel } from './commands/modelCommands';
import { registerClearAttention, registerShowAttention } from './commands/showAttention';
import { LensController } from './lensController';
import { ModelStore } from './modelStore';

/** What activate() returns: a small API for integration tests and other extensions. */
export interface AttentionLensApi {
  controller: LensController;
}

export function activate(context: vscode.ExtensionContext): AttentionLensApi {
  const store = new ModelStore(context);
  const controller = new LensController(context.extensionUri, store);
  context.subscriptions.push(
    controller,
    registerShowAttention(controller),
    registerClearAttention(controller),
    registerSelectModel(store),
    registerAddModelFolder(store),
    registerAddHubModel(store),
  );
  return { controller };
}

export function deactivate(): void {}
