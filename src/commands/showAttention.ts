/**
 * `attentionLens.showAttention`: tokenize the selection on the host, add a run to the registry
 * and hand it to the panel. Everything after that (progress, results, editor, status bar) follows
 * the registry.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings } from '../config';
import { wallClock } from '../core/timing';
import { LIMITS, describeFootprint, fitOn, tooLargeMessage, wasmOnlyReason } from '../core/engine/backendLimits';
import { BYTES_PER_MB, formatBytes } from '../core/units';
import { showError } from '../errorMessages';
import { ModelFolderError, type ModelInfo, readModelFolder } from '../models/modelFolder';
import { type ModelEntry, resolveModel } from '../models/modelRegistry';
import type { ModelStore } from '../modelStore';
import { checkTextModel, inductionProbeFor, prepareInputs, truncationNotice } from '../models/prepareInputs';
import type { InductionProbe } from '../core/analysis/induction';
import { ModelTokenizer } from '../models/tokenizer';
import type { NativeEngines } from '../native/nativeEngines';
import type { AttentionPanels, PanelModel } from '../panels/attentionPanel';
import type { RunRegistry } from '../runs/runRegistry';

/** Inspects editor selections: the Show Attention command's logic. */
export class ShowAttention {
  private readonly tokenizers = new Map<string, ModelTokenizer>();
  /** Large models the user agreed to load this session. */
  private readonly confirmedLarge = new Set<string>();
  /** Notices about model files already shown this session. */
  private readonly noticed = new Set<string>();
  /** Induction probes by model folder. */
  private readonly probes = new Map<string, Promise<InductionProbe | undefined>>();

  constructor(private readonly runs: RunRegistry, private readonly store: ModelStore, private readonly panels: AttentionPanels, private readonly native: NativeEngines) {}

  /** Inspects the selection of `textEditor`. */
  async run(textEditor: vscode.TextEditor | undefined): Promise<void> {
    const commandAt = wallClock();
    if (!textEditor) {
      void vscode.window.showInformationMessage('Attention Lens: open a file and select some text first.');
      return;
    }
    await this.inspect(textEditor.document, textEditor.selection, commandAt);
  }

  /** Another model became current: say so, and re-run the inspection on screen with it. */
  modelChanged(label: string): void {
    const shown = this.runs.latest;
    const document = shown && vscode.workspace.textDocuments.find((d) => d.uri.toString() === shown.document.uri);
    const again = document && document.version === shown.document.version;
    void vscode.window.showInformationMessage(`Attention Lens now uses ${label}.${again ? ' Showing the same selection with it…' : ''}`);
    if (again) {
      const { offset, length } = shown.document;
      void this.inspect(document, new vscode.Selection(document.positionAt(offset), document.positionAt(offset + length)), wallClock());
    }
  }

  /**
   * Starts loading the current model in the panel, tokenizes `selection` of `document` meanwhile,
   * and starts the run. `commandAt` is when the user asked, for the timings breakdown.
   */
  private async inspect(document: vscode.TextDocument, selection: vscode.Selection, commandAt: number): Promise<void> {
    const text = document.getText(selection);
    if (selection.isEmpty || text.trim().length === 0) {
      void vscode.window.showInformationMessage('Attention Lens: select the text you want to inspect, then run Show Attention.');
      return;
    }
    const settings = readSettings();
    let entry, info, prepared, panel, model: PanelModel, induction: InductionProbe | undefined;
    let tokenizeStart = 0;
    try {
      const loaded = await this.loadModel(settings.model);
      if (!loaded) return;
      ({ entry, info, model } = loaded);
      // The panel starts reading the model and compiling the runtime while the host tokenizes.
      panel = this.panels.createOrShow();
      panel.prepare(model, settings.backend);
      tokenizeStart = wallClock();
      const probe = this.inductionProbe(info);
      checkTextModel(info);
      prepared = await prepareInputs(info, this.tokenizer(info.folder), text);
      induction = await probe;
    } catch (e) {
      if (panel && !panel.hasRun) panel.dispose(); // opened for this run only: no empty panel left behind
      showError(e, true);
      return;
    }
    const tokenized = { stage: 'tokenize' as const, start: tokenizeStart, end: wallClock() };
    const notice = truncationNotice(prepared, info.maxPositions);
    if (notice) void vscode.window.showWarningMessage(`Attention Lens: ${notice}`);
    const run = this.runs.add({
      model: { id: entry.id, label: entry.label },
      document: { uri: document.uri.toString(), version: document.version, offset: document.offsetAt(selection.start), length: text.length },
      tokens: prepared.tokens,
    });
    panel.start({
      runId: run.id,
      model,
      backend: settings.backend,
      text,
      tokens: prepared.tokens,
      ids: Int32Array.from(prepared.tokens, (t) => t.id),
      decoderTokens: prepared.decoderTokens,
      decoderIds: prepared.decoderTokens ? Int32Array.from(prepared.decoderTokens, (t) => t.id) : undefined,
      notice,
      maxLinksPerQuery: settings.maxLinksPerQuery,
      keepWeightsBytes: settings.keepWeightsMB * 1e6,
      timing: { commandAt, spans: [tokenized] },
      ...(induction ? { induction } : {}),
    });
  }

  /** A causal model's induction probe (see `inductionProbeFor`), made once per model folder. */
  inductionProbe(info: ModelInfo): Promise<InductionProbe | undefined> {
    let p = this.probes.get(info.folder);
    if (!p) {
      p = inductionProbeFor(info, this.tokenizer(info.folder)).catch(() => undefined);
      this.probes.set(info.folder, p);
    }
    return p;
  }

  /**
   * The model a setting names (`bundled:<id>`, a folder, empty for the default), read and checked
   * against the size limits; undefined when the user declined a large model.
   */
  async loadModel(setting: string): Promise<{ entry: ModelEntry; info: ModelInfo; model: PanelModel } | undefined> {
    const settings = readSettings();
    const entry = resolveModel(setting, this.store.bundled());
    const info = readModelFolder(entry.folder, entry.onnxFile ?? this.store.onnxFileFor(entry.folder));
    const onnxLabel = path.relative(info.folder, info.onnxPath);
    for (const n of info.notices) {
      if (this.noticed.has(n)) continue;
      this.noticed.add(n);
      void vscode.window.showWarningMessage(`Attention Lens: ${n}`);
    }
    if (!(await this.confirmSize(info, onnxLabel, settings.warnModelSizeMB))) return undefined;
    const model: PanelModel = {
      id: entry.id, label: entry.label, architecture: info.architecture, onnxPath: info.onnxPath, onnxLabel, causal: info.causal,
      external: info.external, footprint: info.footprint, firstPosition: info.firstPosition, wasmOnly: wasmOnlyReason(info.ops),
      ...(info.layers && info.heads ? { attention: { layers: info.layers, heads: info.heads } } : {}),
      ...(info.labels ? { labels: info.labels } : {}),
    };
    return { entry, info, model };
  }

  /**
   * Refuses a model no backend can hold (a protobuf past 2 GB), and asks before loading more than
   * `warnMB` of weights, saying what each backend can hold (once per file per session). The panel
   * then chooses the backend and says which one ran and why.
   */
  private async confirmSize(info: ModelInfo, label: string, warnMB: number): Promise<boolean> {
    const f = info.footprint;
    const sizes = info.external.map((e) => e.bytes);
    const wasm = fitOn('wasm', f, undefined, sizes);
    const gpu = fitOn('webgpu', f, undefined, sizes);
    if (!gpu.fits) throw new ModelFolderError(tooLargeMessage(label, f, [wasm, gpu]));
    if (f.weightBytes <= warnMB * BYTES_PER_MB || this.confirmedLarge.has(info.onnxPath)) return true;
    const load = 'Load Anyway';
    const native = this.native.availability().available;
    const where = wasm.fits
      ? `WebAssembly can hold it (up to ${formatBytes(LIMITS.wasmWeights)} of weights); WebGPU is used on a hardware GPU${native ? ', and the native engine when attentionLens.backend says "native"' : ''}.`
      : `It is too large for WebAssembly (${wasm.reasons.join('; ')}): ${native ? 'the native engine runs it in the extension host (no 4 GB ceiling), unless a hardware GPU in the webview holds it' : 'it runs only on WebGPU with a hardware GPU whose buffers take its largest tensor'}.`;
    const answer = await vscode.window.showWarningMessage(
      `${label} is ${describeFootprint(f)}. ${where} Loading takes a while, and attention for long selections grows quadratically.`,
      { modal: true },
      load,
    );
    if (answer !== load) return false;
    this.confirmedLarge.add(info.onnxPath);
    return true;
  }

  /** The tokenizer of a model folder, loaded once per session. */
  tokenizer(folder: string): ModelTokenizer {
    let t = this.tokenizers.get(folder);
    if (!t) {
      t = ModelTokenizer.load(folder);
      this.tokenizers.set(folder, t);
    }
    return t;
  }
}

/** Registers `attentionLens.showAttention`: inspect the active editor's selection. */
export function registerShowAttention(show: ShowAttention): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.showAttention', () => show.run(vscode.window.activeTextEditor));
}
