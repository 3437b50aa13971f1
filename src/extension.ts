/** Attention Lens: entry point. Builds the services and registers what the user can reach. */
import * as vscode from 'vscode';
import { registerClearAttention, registerShowAttention } from './commands/showAttention';
import { LensController } from './lensController';

/** What activate() returns: a small API for integration tests and other extensions. */
export interface AttentionLensApi {
  controller: LensController;
}

export function activate(context: vscode.ExtensionContext): AttentionLensApi {
  const controller = new LensController(context.extensionUri);
  context.subscriptions.push(controller, registerShowAttention(controller), registerClearAttention(controller));
  return { controller };
}

export function deactivate(): void {}
