import * as vscode from 'vscode';
import type { NativeEngines } from '../native/nativeEngines';

/**
 * Registers `attentionLens.stopNativeEngine`: ends the native engine's worker. A run in progress
 * is abandoned at once (the panel says so); the worker exits, freeing the memory of the models it
 * holds, when the native call it is in returns.
 */
export function registerStopNativeEngine(native: NativeEngines): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.stopNativeEngine', async () => {
    if (!native.running) return void vscode.window.setStatusBarMessage('Attention Lens: the native engine is not running', 3000);
    const exited = native.stop('you stopped it (Attention Lens: Stop the Native Engine)');
    void vscode.window.setStatusBarMessage('Attention Lens: native engine stopped; the next run starts a fresh one', 5000);
    await exited;
  });
}
