/**
 * `attentionLens.export`: saves what the attention panel shows, chosen from a list: the head view
 * as SVG or PNG (2×), the run's data as the CLI's JSON document or a NumPy archive, or a
 * standalone HTML report (`attentionLens.exportReport` goes straight to that). A save
 * dialog picks the file (named after the model, layer and heads); the panel makes the bytes and
 * the host writes them atomically, with progress and a Cancel button.
 */
import * as path from 'node:path';
import * as os from 'node:os';
import * as vscode from 'vscode';
import type { ExportFormat } from '../core/protocol/panel';
import { formatBytes } from '../core/units';
import type { AttentionPanels } from '../panels/attentionPanel';
import type { RunRegistry } from '../runs/runRegistry';
import { writeAtomically } from '../export/fileExport';
import type { ExplorerPlace } from '../core/protocol/explorer';
import type { HeadExplorers } from '../views/headExplorerView';

interface FormatItem extends vscode.QuickPickItem {
  format: ExportFormat;
  extension: string;
  filter: string;
}

const FORMATS: FormatItem[] = [
  { format: 'svg', extension: 'svg', filter: 'SVG figure', label: 'Figure as SVG', description: 'the view on screen (head view, matrix, text, mechanism, a comparison): layer, heads, aggregation and tokens as shown; text as text' },
  { format: 'png', extension: 'png', filter: 'PNG image', label: 'Figure as PNG', description: 'the same figure at twice the on-screen pixels' },
  { format: 'json', extension: 'json', filter: 'JSON', label: 'Data as JSON', description: 'the CLI’s --json document: tokens with offsets, every attention tensor, head statistics' },
  { format: 'npz', extension: 'npz', filter: 'NumPy archive', label: 'Data as NumPy (.npz)', description: 'float32 attentions [layers, heads, queries, keys], ids, tokens, offsets: numpy.load' },
  { format: 'html', extension: 'html', filter: 'HTML report', label: 'HTML report', description: 'one self-contained, interactive file: text, head view, matrix, every head, statistics; works offline' },
];

/** `s` as a file name part: runs of other characters become one dash. */
function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/-{2,}/g, '-').replace(/^-+|-+$/g, '') || 'attention';
}

/** A file name from the model, layer and heads on screen: `tiny-causal-layer2-head3.svg`. */
export function exportFileName(model: string, selection: { recordIndex: number; heads: readonly number[] } | undefined, totalHeads: number | undefined, format: FormatItem): string {
  if (format.format === 'html') return `${safeName(model)}-report.html`;
  if (format.format === 'json' || format.format === 'npz' || !selection) return `${safeName(model)}-attention.${format.extension}`;
  const heads = selection.heads.length === 1 ? `head${selection.heads[0] + 1}` : selection.heads.length === totalHeads ? 'all-heads' : `heads${selection.heads.map((h) => h + 1).join('-')}`;
  return `${safeName(model)}-layer${selection.recordIndex + 1}-${heads}.${format.extension}`;
}

export function registerExport(panels: AttentionPanels, runs: RunRegistry, explorers: HeadExplorers): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand('attentionLens.export', (format?: ExportFormat) => exportFromPanel(panels, runs, format)),
    vscode.commands.registerCommand('attentionLens.exportReport', () => exportFromPanel(panels, runs, 'html')),
    vscode.commands.registerCommand('attentionLens.exportHeadExplorer', (place?: ExplorerPlace) => exportFromExplorer(explorers, runs, place === 'editor' || place === 'sidebar' ? place : undefined)),
  );
}

/**
 * The file to export to: a save dialog in the workspace (else the home folder) proposing `name`;
 * undefined when cancelled or when the place is not a file on this machine (said).
 */
async function saveTarget(name: string, item: FormatItem, title: string): Promise<vscode.Uri | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
  const target = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.joinPath(folder, name), filters: { [item.filter]: [item.extension] }, title });
  if (target && target.scheme !== 'file') {
    void vscode.window.showErrorMessage(`Attention Lens can only export to files on this machine (${target.toString()} is not one).`);
    return undefined;
  }
  return target;
}

/** The head explorer's grid as shown (order, colouring, filter, selection), as SVG or PNG: the explorer at `place`, else the one in front. */
async function exportFromExplorer(explorers: HeadExplorers, runs: RunRegistry, place: ExplorerPlace | undefined): Promise<void> {
  const explorer = explorers.exportSource(place);
  if (!explorer) {
    void vscode.window.showErrorMessage('Attention Lens: the head explorer shows no grid yet. Run Show Attention, open the head explorer, then export.');
    return;
  }
  const item = await vscode.window.showQuickPick(FORMATS.filter((f) => f.format === 'svg' || f.format === 'png').map((f) => ({ ...f, description: f.format === 'svg' ? 'the grid as shown: thumbnails, colouring, order, badges; labels as text' : 'the same at twice the on-screen pixels' })), { title: 'Export the head explorer', placeHolder: 'Format' });
  if (!item) return;
  const target = await saveTarget(`${safeName(runs.latest?.model.label ?? 'attention')}-heads.${item.extension}`, item, `Export the head explorer as ${item.extension.toUpperCase()}`);
  if (!target) return;
  try {
    const data = await explorer.figure(item.format as 'svg' | 'png');
    const bytes = await writeAtomically(target.fsPath, (sink) => Promise.resolve(sink(data)));
    void vscode.window.showInformationMessage(`Attention Lens: exported ${path.basename(target.fsPath)} (${formatBytes(bytes)}).`);
  } catch (e) {
    void vscode.window.showErrorMessage(`Attention Lens: the export failed (${(e as Error).message}). Nothing was written.`);
  }
}

async function exportFromPanel(panels: AttentionPanels, runs: RunRegistry, format?: ExportFormat): Promise<void> {
  const panel = panels.active;
  const run = panel?.runId !== undefined ? runs.get(panel.runId) : undefined;
  if (!panel || !run || run.status !== 'done') {
    void vscode.window.showErrorMessage('Attention Lens: nothing to export yet. Select text and run Show Attention; when the picture is in the panel, export it.');
    return;
  }
  const item = format ? FORMATS.find((f) => f.format === format) : await vscode.window.showQuickPick(FORMATS, { title: 'Export from the attention panel', placeHolder: 'What to export' });
  if (!item) return;
  // A comparison is named after both sides: `tiny-causal-vs-tiny-masked-layer1-all-heads.svg`.
  const model = panel.comparedWith ? `${run.model.label}-vs-${panel.comparedWith}` : run.model.label;
  const target = await saveTarget(exportFileName(model, run.selection, run.selection?.of ?? run.grid?.rows[run.selection?.recordIndex ?? 0]?.heads, item), item, `Export ${item.label.toLowerCase()}`);
  if (!target) return;
  try {
    const bytes = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Exporting ${path.basename(target.fsPath)}`, cancellable: true }, (progress, token) => {
      let reported = 0;
      return panel.export(item.format, target.fsPath, (written, total) => {
        if (total <= 0) return;
        const increment = (written / total) * 100 - reported;
        reported += increment;
        progress.report({ increment, message: `${formatBytes(written)} of ${formatBytes(total)}` });
      }, token);
    });
    void vscode.window.showInformationMessage(`Attention Lens: exported ${path.basename(target.fsPath)} (${formatBytes(bytes)}).`);
  } catch (e) {
    if (e instanceof vscode.CancellationError) return; // the user cancelled: nothing was written
    void vscode.window.showErrorMessage(`Attention Lens: the export failed (${(e as Error).message}). Nothing was written.`);
  }
}
