/** Attention Lens: entry point. Builds the services and registers what the user can reach. */
import { activationDone } from './activationClock';
import * as vscode from 'vscode';
import { registerClearAttention } from './commands/clearAttention';
import { CompareAttention, registerCompareCommands } from './commands/compareCommands';
import { registerExport } from './commands/exportView';
import { GenerateWithAttention, registerGenerateCommands } from './commands/generateWithAttention';
import { redownloadAction, registerAddHubModel, registerAddModelFolder, registerSelectModel } from './commands/modelCommands';
import { registerWalkthrough } from './commands/walkthrough';
import { ShowAttention, registerShowAttention } from './commands/showAttention';
import { registerShowHeadExplorer } from './commands/showHeadExplorer';
import { registerStopNativeEngine } from './commands/stopNativeEngine';
import { registerToggleInlineWeights } from './commands/toggleInlineWeights';
import { EditorAttention } from './editor/editorAttention';
import { ModelStore } from './modelStore';
import { NativeEngines, workerScript } from './native/nativeEngines';
import { AttentionPanels } from './panels/attentionPanel';
import { RunNotifications } from './runs/runNotifications';
import { RunRegistry } from './runs/runRegistry';
import { RunStatusBar } from './runs/runStatusBar';
import { HeadExplorers } from './views/headExplorerView';
import type { Backend } from './core/backend';

/** Where `auto` ran the last model on this machine (globalState): the host opens models ahead where the page will run them natively. */
const LAST_AUTO_BACKEND = 'attentionLens.lastAutoBackend';

/** What activate() returns: a small API for integration tests and other extensions. */
export interface AttentionLensApi {
  runs: RunRegistry;
}

export function activate(context: vscode.ExtensionContext): AttentionLensApi {
  // Services: the runs registry is the one owner of runs; everything else subscribes to it.
  const runs = new RunRegistry();
  const store = new ModelStore(context);
  const editor = new EditorAttention(runs);
  // The native engine (onnxruntime-node) on a worker thread, started on the first native run.
  const native = new NativeEngines(workerScript(vscode.Uri.joinPath(context.extensionUri, 'dist').fsPath));
  const panels = new AttentionPanels(context.extensionUri, runs, editor.onDidFocusToken, native, {
    lastAuto: () => context.globalState.get<Backend>(LAST_AUTO_BACKEND),
    remember: (backend) => void context.globalState.update(LAST_AUTO_BACKEND, backend),
  });
  const show = new ShowAttention(runs, store, panels, native);
  const explorer = new HeadExplorers(context.extensionUri, runs);
  context.subscriptions.push(
    runs,
    editor,
    panels,
    native,
    new RunStatusBar(runs),
    new RunNotifications(runs, redownloadAction(store, (label) => show.modelChanged(label))),
    explorer,
    // Commands
    registerShowAttention(show),
    ...registerWalkthrough(context.extension),
    registerClearAttention(editor),
    registerShowHeadExplorer(explorer),
    registerToggleInlineWeights(),
    registerStopNativeEngine(native),
    registerExport(panels, runs, explorer),
    registerSelectModel(store, (label) => show.modelChanged(label)),
    registerAddModelFolder(store, (label) => show.modelChanged(label)),
    registerAddHubModel(store, (label) => show.modelChanged(label)),
    ...registerCompareCommands(new CompareAttention(show, store, runs, panels)),
    ...registerGenerateCommands(new GenerateWithAttention(runs, show, panels)),
  );
  activationDone();
  return { runs };
}

export function deactivate(): void {}
