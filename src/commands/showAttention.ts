/**
 * `attentionLens.showAttention`: tokenize the selection on the host, add a run to the registry
 * and hand it to the panel. Everything after that (progress, results, editor, status bar) follows
 * the registry.
 */
import { activationSpans } from '../activationClock';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type LensSettings, readSettings } from '../config';
import type { ImageRequest } from '../core/protocol/panel';
import type { TokenInfo } from '../core/tokens';
import { wallClock } from '../core/timing';
import { LIMITS, describeFootprint, fitOn, tooLargeMessage, wasmOnlyReason } from '../core/engine/backendLimits';
import { longRunQuestion } from '../core/queryKeys';
import { BYTES_PER_MB, formatBytes } from '../core/units';
import { showError } from '../errorMessages';
import { ModelFolderError, type ModelInfo, attentionShape, decoderFiles, readModelFolder } from '../models/modelFolder';
import { selectionEditor } from './selectionSource';
import { type ModelEntry, resolveModel } from '../models/modelRegistry';
import type { ModelStore } from '../modelStore';
import { checkTextModel, inductionProbeFor, prepareInputs, truncationNotice } from '../models/prepareInputs';
import { imageMime } from '../models/imageFile';
import { imageInputOf } from '../models/imageInputs';
import type { InductionProbe } from '../core/analysis/induction';
import { ModelTokenizer } from '../models/tokenizer';
import type { NativeEngines } from '../native/nativeEngines';
import type { AttentionPanels, PanelModel, PanelRunRequest } from '../panels/attentionPanel';
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

  /**
   * Shows the attention of the current (image) model over image file `uri`: read through VS Code's
   * file system, processed on the host as the model's processor does, run and drawn in the panel.
   */
  async image(uri: vscode.Uri): Promise<void> {
    const commandAt = wallClock();
    const settings = readSettings();
    const name = path.basename(uri.path);
    let panel;
    try {
      const loaded = await this.loadModel(settings.model);
      if (!loaded) return;
      const { entry, info, model } = loaded;
      if (!info.vision) {
        void vscode.window.showWarningMessage(`Attention Lens: ${entry.label} is a text model: it cannot look at ${name}. Choose an image model (ViT, DeiT, BEiT, DINOv2) with Select Model…, then run Show Attention on the image again.`, 'Select Model…').then((a) => a && vscode.commands.executeCommand('attentionLens.selectModel'));
        return;
      }
      // A captioner's attention is what it looked at while writing: it captions the image.
      if (info.encoderDecoder) return void (await vscode.commands.executeCommand('attentionLens.generateWithAttention', uri));
      panel = this.panels.createOrShow();
      panel.prepare(model, settings.backend);
      const readStart = wallClock();
      const { tokens, image } = await this.imageRequest(uri, info);
      // No text document holds these tokens (the editor leaves them alone); the explorer counts them.
      const run = this.runs.add({ model: { id: entry.id, label: entry.label }, document: { uri: uri.toString(), version: 0, offset: 0, length: 0 }, tokens });
      panel.start({
        ...runRequest(run.id, model, settings, '', tokens, true),
        timing: { commandAt, spans: [...activationSpans(commandAt), { stage: 'tokenize', start: readStart, end: wallClock() }] },
        image,
      });
    } catch (e) {
      if (panel && !panel.hasRun) panel.dispose();
      showError(e, true);
    }
  }

  /**
   * Reads image file `uri` through VS Code's file system and processes it for `info`'s image model:
   * its tokens (the class token and the patches, with their boxes) and the panel's image request.
   */
  async imageRequest(uri: vscode.Uri, info: ModelInfo): Promise<{ tokens: TokenInfo[]; image: ImageRequest }> {
    const name = path.basename(uri.path);
    const bytes = await vscode.workspace.fs.readFile(uri);
    const mime = imageMime(bytes);
    if (!mime) throw new ModelFolderError(`${name} is not an image Attention Lens can read: PNG, JPEG, WebP, BMP and GIF are (SVG is not supported: export it to PNG).`);
    const input = await imageInputOf(info, bytes, name);
    for (const n of input.notices) void vscode.window.showInformationMessage(`Attention Lens: ${n}`);
    const { tokens } = input;
    // A copy: the file's bytes may be a view into a larger (pooled) buffer, which a message would carry whole.
    const image = { pixelValues: input.pixelValues.data, dims: [...input.pixelValues.dims], bytes: new Uint8Array(bytes), mime, name, width: input.geometry.original.width, height: input.geometry.original.height };
    return { tokens, image };
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
    // A very long selection: say what it costs, and ask.
    const question = longRunQuestion(prepared.tokens.length, info.maxPositions, attentionShape(info), settings.confirmTokens, settings.keepWeightsMB * 1e6);
    if (question && (await vscode.window.showWarningMessage(`Attention Lens: ${question}`, { modal: true }, 'Run')) !== 'Run') {
      if (!panel.hasRun) panel.dispose();
      return;
    }
    const notice = truncationNotice(prepared, info.maxPositions);
    if (notice) void vscode.window.showWarningMessage(`Attention Lens: ${notice}`);
    const run = this.runs.add({
      model: { id: entry.id, label: entry.label },
      document: { uri: document.uri.toString(), version: document.version, offset: document.offsetAt(selection.start), length: text.length },
      tokens: prepared.tokens,
    });
    panel.start({
      ...runRequest(run.id, model, settings, text, prepared.tokens),
      decoderTokens: prepared.decoderTokens,
      decoderIds: prepared.decoderTokens ? Int32Array.from(prepared.decoderTokens, (t) => t.id) : undefined,
      notice,
      timing: { commandAt, spans: [...activationSpans(commandAt), tokenized] },
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
    const attention = attentionShape(info);
    const model: PanelModel = {
      id: entry.id, label: entry.label, architecture: info.architecture, onnxPath: info.onnxPath, onnxLabel, causal: info.causal,
      external: info.external, footprint: info.footprint, firstPosition: info.firstPosition, wasmOnly: wasmOnlyReason(info.ops),
      ...(attention ? { attention } : {}),
      ...(info.labels ? { labels: info.labels } : {}),
      ...(info.decoders ? { decoders: decoderFiles(info) } : {}),
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

/**
 * What every run request of the panel carries: the run, the model, the backend and the settings
 * that shape it, and the tokens with their ids (an image's tokens have none: its pixels go instead).
 */
export function runRequest(runId: number, model: PanelModel, settings: LensSettings, text: string, tokens: TokenInfo[], image = false): PanelRunRequest {
  return {
    runId,
    model,
    backend: settings.backend,
    text,
    tokens,
    ids: image ? new Int32Array(0) : Int32Array.from(tokens, (t) => t.id),
    maxLinksPerQuery: settings.maxLinksPerQuery,
    keepWeightsBytes: settings.keepWeightsMB * 1e6,
  };
}

/**
 * Registers `attentionLens.showAttention`: an image file (the explorer's context menu, or the
 * image preview in front), else the active editor's selection.
 */
export function registerShowAttention(show: ShowAttention): vscode.Disposable {
  return vscode.commands.registerCommand('attentionLens.showAttention', async (arg?: unknown) => {
    const image = await imageTarget(arg);
    return image ? show.image(image) : show.run(selectionEditor());
  });
}

/** How long a command waits for the editor tabs when nothing is in front (they reach an extension host just started a moment later). */
const TABS_SETTLE_MS = 500;

/**
 * The image a command is about: the file it was given (the explorer's context menu), else the
 * image preview in front. With neither a text editor nor tabs known yet (the first command after
 * the window opened activates the extension before its tabs arrive), it waits for them briefly.
 */
export async function imageTarget(arg: unknown): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri && IMAGE_FILE.test(arg.path)) return arg;
  if (!vscode.window.activeTextEditor && !vscode.window.tabGroups.activeTabGroup.activeTab) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, TABS_SETTLE_MS);
      const listener = vscode.window.tabGroups.onDidChangeTabs(done);
      function done() {
        clearTimeout(timer);
        listener.dispose();
        resolve();
      }
    });
  }
  return previewedImage();
}

/** Image files Show Attention takes. */
const IMAGE_FILE = /\.(png|jpe?g|gif|webp|bmp)$/i;

/** The image shown by VS Code's image preview in the active tab, if that is what is in front. */
function previewedImage(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  return input instanceof vscode.TabInputCustom && input.viewType === 'imagePreview.previewEditor' && !vscode.window.activeTextEditor ? input.uri : undefined;
}

