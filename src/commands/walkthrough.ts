/**
 * The walkthrough and its sample: `attentionLens.getStarted` opens *Get Started with Attention
 * Lens*; `attentionLens.openSample` opens the bundled sample text (sample/story.md, shipped in the
 * VSIX) in an editor, as an untitled copy (edits stay there), its first sentence selected, ready
 * for Show Attention: the walkthrough's first step.
 */
import * as vscode from 'vscode';

/** The walkthrough's id as VS Code knows it: the extension's id, then the one package.json gives it. */
const WALKTHROUGH = 'gettingStarted';

/** Registers Get Started and Open Sample Text; `extension` is this extension (where the sample ships, and its id). */
export function registerWalkthrough(extension: vscode.ExtensionContext['extension']): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('attentionLens.getStarted', async () => {
      // VS Code ignores the request while a Welcome editor shows a step of another walkthrough
      // (a fresh profile opens on one): that editor closes first. Its tab has no input the API knows.
      const welcome = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input === undefined && /^(Welcome|Walkthrough: )/.test(t.label));
      if (welcome.length > 0) await vscode.window.tabGroups.close(welcome);
      await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${extension.id}#${WALKTHROUGH}`, false);
    }),
    registerOpenSample(extension.extensionUri),
  ];
}

function registerOpenSample(extensionUri: vscode.Uri): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.openSample', async () => {
    const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(extensionUri, 'sample', 'story.md'));
    const content = new TextDecoder().decode(bytes);
    const document = await vscode.workspace.openTextDocument({ language: 'markdown', content });
    // Beside the walkthrough (or whatever is in front), so its buttons act on the selection in view.
    const editor = await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside });
    // The first sentence: up to its full stop (the whole first line when it has none).
    const end = content.search(/[.!?](\s|$)/);
    const first = end >= 0 ? end + 1 : content.indexOf('\n') >= 0 ? content.indexOf('\n') : content.length;
    editor.selection = new vscode.Selection(document.positionAt(0), document.positionAt(first));
    editor.revealRange(editor.selection);
  });
}
