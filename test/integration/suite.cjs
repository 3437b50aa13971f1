// Runs inside VS Code's extension host (test-electron). Plain Node assertions, no framework.
const assert = require('node:assert/strict');
const path = require('node:path');
const vscode = require('vscode');

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const webviewTabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputWebview);

async function openSample() {
  const folder = vscode.workspace.workspaceFolders[0].uri.fsPath;
  const doc = await vscode.workspace.openTextDocument(path.join(folder, 'story.md'));
  return vscode.window.showTextDocument(doc);
}

async function api() {
  const ext = vscode.extensions.getExtension('attention-lens.attention-lens');
  assert.ok(ext, 'extension is installed');
  return ext.activate();
}

test('an empty selection opens nothing', async () => {
  const editor = await openSample();
  editor.selection = new vscode.Selection(0, 0, 0, 0);
  await vscode.commands.executeCommand('attentionLens.showAttention');
  assert.equal(webviewTabs().length, 0);
});

test('Show Attention produces a summary and editor hovers', async () => {
  const { runs } = await api();
  const editor = await openSample();
  editor.selection = new vscode.Selection(0, 0, 0, 44);
  const outcome = new Promise((resolve) => runs.onDidChange((r) => r.summary && r.backend && resolve(r)));
  await vscode.commands.executeCommand('attentionLens.showAttention');
  const o = await Promise.race([outcome, new Promise((_, reject) => setTimeout(() => reject(new Error('no result in 60 s')), 60_000))]);
  assert.ok(o.summary.queries > 5);
  assert.equal(webviewTabs().length, 1);
  editor.selection = new vscode.Selection(0, 5, 0, 5);
  const hovers = await vscode.commands.executeCommand('vscode.executeHoverProvider', editor.document.uri, new vscode.Position(0, 5));
  const text = hovers.flatMap((h) => h.contents.map((c) => c.value ?? String(c))).join('\n');
  assert.match(text, /Attention Lens/);
  assert.match(text, /0\.\d{3}/);
});

test('editing the document clears the inline result', async () => {
  const editor = await openSample();
  // Only meaningful after a run: the hover must be there before the edit.
  const before = await vscode.commands.executeCommand('vscode.executeHoverProvider', editor.document.uri, new vscode.Position(0, 5));
  assert.match(before.flatMap((h) => h.contents.map((c) => c.value ?? String(c))).join('\n'), /Attention Lens/);
  await editor.edit((e) => e.insert(new vscode.Position(2, 0), '# edit\n'));
  const hovers = await vscode.commands.executeCommand('vscode.executeHoverProvider', editor.document.uri, new vscode.Position(0, 5));
  const text = hovers.flatMap((h) => h.contents.map((c) => c.value ?? String(c))).join('\n');
  assert.doesNotMatch(text, /Attention Lens/);
});

exports.run = async function run() {
  let failed = 0;
  for (const t of tests) {
    try {
      await t.fn();
      console.log(`  ✓ ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`  ✗ ${t.name}: ${e.stack ?? e}`);
    }
  }
  console.log(`${tests.length - failed} passed, ${failed} failed`);
  if (failed) throw new Error(`${failed} integration test(s) failed`);
};
