/**
 * The attention panel: one webview beside the editor that runs the model and draws the views.
 * Reports what it hears into the runs registry and follows the editor's cursor; holds no other
 * component and is reached by none through statics.
 */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { Emitter } from '../core/events';
import { assertNever } from '../core/protocol/common';
import type { CompareSide, ExportFormat, FromPanel, HeadSelection, PrepareRequest, RunRequest, RuntimeFiles, ToPanel } from '../core/protocol/panel';
import type { NativeModel } from '../core/protocol/engine';
import type { NativeEngines } from '../native/nativeEngines';
import { writeAtomically } from '../export/fileExport';
import { type TimingSpan, wallClock } from '../core/timing';
import type { RunRegistry } from '../runs/runRegistry';
import { HostFiles } from './hostFiles';
import { PanelNative, type PlacementMemory } from './panelNative';
import { attentionPanelHtml } from './webviewHtml';

/** A model as the host knows it: the ONNX file as a host path; the panel turns it into a webview URI. */
export type PanelModel = Omit<RunRequest['model'], 'onnxFile' | 'externalData' | 'decoders'> & {
  onnxPath: string;
  /** External data files on the host: location as the graph names it, path, size. */
  external?: Array<{ location: string; path: string; bytes: number }>;
  /** A split encoder-decoder model's decoders on the host. */
  decoders?: NativeModel['decoders'];
};
/** The panel's request with the model as the host knows it; `timing` without `sentAt` (set when sent). */
export type PanelRunRequest = Omit<RunRequest, 'model' | 'timing' | 'compare'> & {
  model: PanelModel;
  timing?: { commandAt: number; spans: TimingSpan[] };
  compare?: Omit<CompareSide, 'model'> & { model: PanelModel };
};

/** What a panel reports of generation: its steps, its end, the Insert and Copy buttons. */
export type GenerationMessage = Extract<FromPanel, { type: 'generate/didStep' | 'generate/didFinish' | 'generation/use' }>;

/** One open panel. */
export class AttentionPanel extends Disposable {
  private ready = false;
  /** When the page was created and when it said it was ready: the panel-start stage of the first run. */
  private readonly createdAt = wallClock();
  private readyAt: number | undefined;
  private pending: RunRequest | undefined;
  private preparing: PrepareRequest | undefined;
  /** The model files and runtime binaries this page may read (by message, not as webview resources). */
  private readonly files = new HostFiles();
  private readonly runtime: RuntimeFiles;
  /** The selection the page last reported or was told, so echoes are not sent back. */
  private shown: ({ runId: number } & HeadSelection) | undefined;
  private exportSeq = 0;
  /** Exports in progress: where their chunks go. */
  private readonly exports = new Map<number, { chunk(data: Uint8Array, written: number, total: number): void; finish(): void; fail(message: string): void }>();
  /** The models this page was given, by the id of their ONNX file: what `engine/open` may name. */
  private readonly models = new Map<string, PanelModel>();
  /** The native engines this page opens and runs. */
  private readonly engines: PanelNative;

  constructor(private readonly panel: vscode.WebviewPanel, private readonly extensionUri: vscode.Uri, private readonly runs: RunRegistry, private readonly native: NativeEngines, placements: PlacementMemory, private readonly onGeneration: (m: GenerationMessage) => void) {
    super();
    this.engines = new PanelNative(native, placements, (m) => panel.webview.postMessage(m));
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(panel.webview.onDidReceiveMessage((m: FromPanel) => this.onMessage(m)));
    this._register(runs.onDidChange((run) => {
      if (run.id !== this.pending?.runId) return;
      // Cancelled from the progress notification: a generation stops and shows what it made; a run goes.
      if (run.status === 'cancelled') return this.pending.generate ? this.stopGeneration(run.id) : this.dispose();
      // A selection made elsewhere (the head explorer): show it.
      const s = run.selection;
      if (this.ready && s && (this.shown?.runId !== run.id || this.shown.recordIndex !== s.recordIndex || this.shown.heads.join() !== s.heads.join())) {
        this.shown = { runId: run.id, ...s };
        this.post({ type: 'selection/set', runId: run.id, selection: s });
      }
    }));
    this._register(runs.onDidRequestGrid(({ runId, measure }) => {
      if (this.ready && runId === this.pending?.runId) this.post({ type: 'heads/measure', runId, measure });
    }));
    this._register(runs.onDidRequestSimilarity(({ runId, recordIndex, head }) => {
      if (this.ready && runId === this.pending?.runId) this.post({ type: 'similarity/compute', runId, recordIndex, head });
    }));
    const ort = (name: string) => vscode.Uri.joinPath(extensionUri, 'dist', 'ort', name).fsPath;
    this.runtime = { wasm: this.files.grant(ort('ort-wasm-simd-threaded.wasm.gz')), webgpu: this.files.grant(ort('ort-wasm-simd-threaded.asyncify.wasm.gz')) };
    panel.webview.html = attentionPanelHtml(panel.webview, extensionUri);
  }

  /**
   * Lets the page start loading `model` (runtime, bytes, session) before the run's tokens are
   * ready; the run that follows finds it loaded or loading.
   */
  prepare(model: PanelModel, backend: RunRequest['backend']): void {
    this.preparing = { model: this.descriptor(model), backend };
    if (this.ready) this.post({ type: 'model/prepare', prepare: this.preparing });
  }

  /** Starts a run, replacing the one shown; sent now if the page is ready, else in reply to its `ready`. */
  start(request: PanelRunRequest): void {
    const previous = this.pending?.runId;
    const timing = request.timing && { ...request.timing, sentAt: 0 };
    const compare = request.compare && { ...request.compare, model: this.descriptor(request.compare.model) };
    this.pending = { ...request, model: this.descriptor(request.model), timing, compare };
    this.preparing = undefined;
    if (previous !== undefined) this.runs.remove(previous); // the page drops it for the new one
    const b = request.compare;
    this.panel.title = !b ? `Attention · ${request.model.label}${request.image ? ` · ${request.image.name}` : ''}` : b.sameModel ? `Compare texts · ${request.model.label}` : `Compare · ${request.model.label} ↔ ${b.model.label}`;
    this.engines.starting(this.pending, request.model, this.ready);
    if (this.ready) this.post({ type: 'run/start', request: this.stamped(this.pending) });
  }

  private descriptor(model: PanelModel): RunRequest['model'] {
    const { onnxPath, external, decoders, ...rest } = model;
    const externalData = external?.map((f) => ({ fileId: this.grantModelFile(f.path), path: f.location, bytes: f.bytes }));
    const onnxFile = this.grantModelFile(onnxPath);
    const part = (f: { path: string; label: string }) => ({ fileId: this.grantModelFile(f.path), label: f.label, bytes: fs.statSync(f.path).size });
    this.models.set(onnxFile, model);
    return { ...rest, onnxFile, ...(externalData?.length ? { externalData } : {}), ...(decoders ? { decoders: { decoder: part(decoders.decoder), ...(decoders.withPast ? { withPast: part(decoders.withPast) } : {}) } } : {}) };
  }

  /** The request as sent now: with the panel's start when it happened after the command, and the send time. */
  private stamped(request: RunRequest): RunRequest {
    if (!request.timing) return request;
    const { commandAt, spans } = request.timing;
    const panel: TimingSpan[] = this.readyAt !== undefined && this.readyAt >= commandAt ? [{ stage: 'panel', start: Math.max(this.createdAt, commandAt), end: this.readyAt }] : [];
    return { ...request, timing: { commandAt, spans: [...spans.filter((s) => s.stage !== 'panel'), ...panel], sentAt: wallClock() } };
  }

  /** Ends generation run `runId` after the step in progress; the page then reports what it made. */
  stopGeneration(runId: number): void {
    if (this.ready && runId === this.pending?.runId) this.post({ type: 'generate/stop', runId });
  }

  /** The generation this panel runs, if it is generating: its run id. */
  get generating(): number | undefined {
    return this.pending?.generate ? this.pending.runId : undefined;
  }

  /**
   * Has the page make an export of what it shows and writes it to `file`, atomically (a failed or
   * cancelled export leaves nothing). Resolves with the bytes written.
   */
  export(format: ExportFormat, file: string, onProgress: (written: number, total: number) => void, token: vscode.CancellationToken): Promise<number> {
    if (!this.ready || !this.pending) return Promise.reject(new Error('The panel has no picture yet: run Show Attention first.'));
    const exportId = ++this.exportSeq;
    return writeAtomically(file, (sink) => new Promise<void>((resolve, reject) => {
      // Chunks are written in order; the first write that fails stops the export once, and later chunks are dropped.
      let chain = Promise.resolve();
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        this.exports.delete(exportId);
        cancel.dispose();
        f();
      };
      this.exports.set(exportId, {
        chunk: (data, written, total) => {
          chain = chain.then(async () => {
            if (settled) return;
            try {
              await sink(data);
            } catch (e) {
              this.post({ type: 'export/cancel', exportId });
              settle(() => reject(e));
            }
          });
          onProgress(written, total);
        },
        finish: () => void chain.then(() => settle(resolve)),
        fail: (message) => settle(() => reject(new Error(message))),
      });
      const cancel = token.onCancellationRequested(() => {
        this.post({ type: 'export/cancel', exportId });
        settle(() => reject(new vscode.CancellationError()));
      });
      this.post({ type: 'export/make', exportId, format });
    }));
  }

  /** The run the panel shows or works on. */
  get runId(): number | undefined {
    return this.pending?.runId;
  }

  /** In a comparison, what A is compared with: model B's name, or `edited` for an edited text. */
  get comparedWith(): string | undefined {
    const c = this.pending?.compare;
    return c && (c.sameModel ? 'edited' : c.model.label);
  }

  /** Whether a run was ever started in this panel (a panel opened only to prepare a model has none). */
  get hasRun(): boolean {
    return this.pending !== undefined;
  }

  /** Brings the panel forward without taking focus from the editor. */
  reveal(): void {
    this.panel.reveal(vscode.ViewColumn.Beside, true);
  }

  /** Tells the page which query token the editor cursor is on. */
  focusToken(runId: number, index: number): void {
    if (this.ready) this.post({ type: 'editor/didFocusToken', runId, index });
  }

  /** Lets the page read `file`, a model file the user chose (symlinks, as in the Hugging Face cache, resolved). */
  private grantModelFile(file: string): string {
    let real = file;
    try {
      real = fs.realpathSync(file);
    } catch {
      /* gone since it was checked: reading it reports that */
    }
    return this.files.grant(real);
  }

  /** Sends a granted file in chunks, each after the page took the last; a failure is reported to the page. */
  private sendFile(fileId: string): void {
    this.files.stream(fileId, (chunk) => this.panel.webview.postMessage({ type: 'file/chunk', ...chunk } satisfies ToPanel)).catch((e: Error) => {
      if (!this.isDisposed) this.post({ type: 'file/didFail', fileId, message: e.message });
    });
  }

  private post(message: ToPanel): void {
    void this.panel.webview.postMessage(message).then(undefined, () => undefined);
  }

  private onMessage(m: FromPanel): void {
    switch (m.type) {
      case 'ready':
        this.engines.pageLoaded();
        this.ready = true;
        this.readyAt ??= wallClock();
        this.post({ type: 'ready/reply', runtime: this.runtime, native: this.native.availability(), request: this.pending && this.stamped(this.pending), prepare: this.preparing });
        return;
      case 'file/read':
        this.sendFile(m.fileId);
        return;
      case 'run/didProgress':
        this.runs.progress(m.runId, m.message);
        return;
      case 'run/didFinish':
        if (this.pending?.runId === m.runId) this.engines.finished(this.pending, m.backend);
        this.runs.finish(m.runId, { backend: m.backend, millis: m.millis, backendReason: m.backendReason });
        return;
      case 'run/didDraw':
        this.runs.setTimings(m.runId, m.timings);
        return;
      case 'run/didFail':
        this.runs.fail(m.runId, m.message);
        return;
      case 'view/didChange':
        this.runs.setSummary(m.summary);
        return;
      case 'selection/didChange':
        this.shown = { runId: m.runId, ...m.selection };
        this.runs.setSelection(m.runId, m.selection);
        return;
      case 'heads/didCompute':
        this.runs.setGrid(m.grid);
        return;
      case 'heads/didProgress':
        this.runs.setGridProgress(m.runId, m.done, m.of, m.stopped ? 'stopped' : m.waiting ? 'waiting' : undefined);
        return;
      case 'similarity/didCompute':
        this.runs.setSimilarity(m.runId, { recordIndex: m.recordIndex, head: m.head, distances: m.distances });
        return;
      case 'export/chunk':
        this.exports.get(m.exportId)?.chunk(m.data, m.written, m.total);
        return;
      case 'export/didFinish':
        this.exports.get(m.exportId)?.finish();
        return;
      case 'export/didFail':
        this.exports.get(m.exportId)?.fail(m.message);
        return;
      case 'export/request':
        void vscode.commands.executeCommand('attentionLens.export');
        return;
      case 'compare/request':
        void vscode.commands.executeCommand('attentionLens.compareModels');
        return;
      case 'generate/request':
        void vscode.commands.executeCommand('attentionLens.generateWithAttention');
        return;
      case 'generate/didStep':
      case 'generate/didFinish':
      case 'generation/use':
        this.onGeneration(m);
        return;
      case 'engine/open':
        void this.engines.open(m, this.models.get(m.onnxFile));
        return;
      case 'engine/run':
        this.engines.run(m);
        return;
      case 'engine/release':
        this.engines.release(m.engine);
        return;
      default:
        assertNever(m);
    }
  }

  override dispose(): void {
    if (this.isDisposed) return;
    void this.engines.dispose();
    for (const e of [...this.exports.values()]) e.fail('the panel was closed during the export');
    super.dispose();
    this.panel.dispose();
    if (this.pending) this.runs.remove(this.pending.runId);
  }
}

/** Owns the single attention panel: `createOrShow` reuses the open one. */
export class AttentionPanels extends Disposable {
  static readonly viewType = 'attentionLens.panel';
  private current: AttentionPanel | undefined;
  private readonly generation = new Emitter<{ panel: AttentionPanel; message: GenerationMessage }>();
  /** The panel reported a generation's step or end, or its Insert or Copy button was pressed. */
  readonly onDidGenerate = this.generation.event;

  constructor(private readonly extensionUri: vscode.Uri, private readonly runs: RunRegistry, onDidFocusToken: vscode.Event<{ runId: number; index: number }>, private readonly native: NativeEngines, private readonly placements: PlacementMemory) {
    super();
    this._register(onDidFocusToken(({ runId, index }) => this.current?.focusToken(runId, index)));
    this._register({ dispose: () => this.current?.dispose() });
    this._register(this.generation);
  }

  /** The open panel, if any. */
  get active(): AttentionPanel | undefined {
    return this.current && !this.current.isDisposed ? this.current : undefined;
  }

  /** Shows the panel beside the active editor, creating it on first use. */
  createOrShow(): AttentionPanel {
    if (this.current && !this.current.isDisposed) {
      this.current.reveal();
      return this.current;
    }
    const panel = vscode.window.createWebviewPanel(
      AttentionPanels.viewType,
      'Attention Lens',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')] },
    );
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.svg');
    const created: AttentionPanel = new AttentionPanel(panel, this.extensionUri, this.runs, this.native, this.placements, (message) => this.generation.fire({ panel: created, message }));
    this.current = created;
    return this.current;
  }
}
