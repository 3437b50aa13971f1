/**
 * `attentionLens.generateWithAttention`: a causal model continues the selection (an
 * encoder-decoder model writes an output for it; a captioner, given an image, captions it). The host tokenizes and hands the panel a
 * generation request with the token strings; the panel generates, labels each step itself and
 * reports its ids; at the end the host decodes the output and shows the whole sequence as a run
 * with the steps, and the panel's Insert and Copy buttons put the output in the editor or on the
 * clipboard. `attentionLens.stopGeneration` stops after the step in progress.
 */
import * as vscode from 'vscode';
import { readSettings } from '../config';
import { NO_EOS_NOTICE, newTokenLimit } from '../core/generation/generate';
import type { GenerateRequest, GeneratedStep, GenerationRecord, ImageRequest, StepReport } from '../core/protocol/panel';
import { wallClock } from '../core/timing';
import type { TokenInfo } from '../core/tokens';
import { showError } from '../errorMessages';
import type { ModelInfo } from '../models/modelFolder';
import { checkTextModel, prepareInputs, truncationNotice } from '../models/prepareInputs';
import type { ModelTokenizer } from '../models/tokenizer';
import type { AttentionPanel, AttentionPanels, GenerationMessage, PanelModel } from '../panels/attentionPanel';
import type { RunDocument, RunRegistry } from '../runs/runRegistry';
import { selectionEditor, selectionSource } from './selectionSource';
import { type ShowAttention, imageTarget, runRequest } from './showAttention';

/** Alternatives listed per step. */
const ALTERNATIVES = 5;

/** A generation in progress, or shown: what the host needs to decode its steps and place its output. */
interface Generation {
  runId: number;
  model: { entry: { id: string; label: string }; info: ModelInfo; panelModel: PanelModel };
  tokenizer: ModelTokenizer;
  /** The selection's text and tokens (the source, for an encoder-decoder model; a captioner's image patches). */
  text: string;
  tokens: TokenInfo[];
  /** A captioner's image, drawn under its cross attention. */
  image?: ImageRequest;
  document: RunDocument;
  steps: GeneratedStep[];
  notice?: string;
}

/** A shown generation's output, for Insert and Copy. */
interface Output {
  generation: Generation;
  /** The text to insert: the output without a final end-of-sequence token. */
  insert: string;
  /** Every token of the sequence, offsets relative to the selection's start (causal models). */
  tokens?: TokenInfo[];
}

/** Generates from editor selections: the Generate with Attention command's logic. */
export class GenerateWithAttention {
  private active: Generation | undefined;
  /** The generation run on screen, by run id. */
  private shown: { runId: number; output: Output } | undefined;
  private queue = Promise.resolve();
  /** Token strings by id, read once per model folder. */
  private readonly vocabularies = new Map<string, string[]>();

  constructor(private readonly runs: RunRegistry, private readonly show: ShowAttention, private readonly panels: AttentionPanels) {
    // In order: every step is kept before the end shows the sequence.
    panels.onDidGenerate(({ panel, message }) => {
      this.queue = this.queue.then(() => this.onMessage(panel, message)).catch((e: unknown) => showError(e, true));
    });
    // A generation that failed or whose panel closed is over.
    const over = (run: { id: number; status?: string }) => {
      if (this.active?.runId !== run.id || run.status === 'running') return;
      this.active = undefined;
      void vscode.commands.executeCommand('setContext', 'attentionLens.generating', false);
    };
    runs.onDidChange((run) => run.status === 'failed' && over(run));
    runs.onDidRemove((run) => over({ id: run.id }));
  }

  /** Starts generating from the selection of `editor` (or the text on screen in the panel). */
  async run(editor: vscode.TextEditor | undefined): Promise<void> {
    const source = selectionSource(editor, this.runs, 'continue');
    if (!source) return;
    const { document, selection } = source;
    const text = document.getText(selection);
    const textModel = (info: ModelInfo) => {
      checkTextModel(info); // throws, saying why, for an image model
      return true;
    };
    await this.begin(textModel, async (info) => {
      const prepared = await prepareInputs(info, this.show.tokenizer(info.folder), text);
      const notice = truncationNotice(prepared, info.maxPositions);
      return { text, tokens: prepared.tokens, document: { uri: document.uri.toString(), version: document.version, offset: document.offsetAt(selection.start), length: text.length }, ...(notice ? { notice } : {}) };
    });
  }

  /** Captions image file `uri` with the current model (a vision-encoder-decoder captioner). */
  async caption(uri: vscode.Uri): Promise<void> {
    const captioner = (info: ModelInfo, label: string) => {
      if (info.vision && info.encoderDecoder) return true;
      const what = info.vision ? 'an image classifier: Show Attention shows what its patches attend to' : 'a text model: it generates from text';
      void vscode.window.showWarningMessage(`Attention Lens: ${label} is ${what}. To caption an image, choose a vision-encoder-decoder model (a ViT encoder with a text decoder) with Select Model….`, 'Select Model…').then((a) => a && vscode.commands.executeCommand('attentionLens.selectModel'));
      return false;
    };
    await this.begin(captioner, async (info) => {
      const { tokens, image } = await this.show.imageRequest(uri, info);
      return { text: '', tokens, image, document: { uri: uri.toString(), version: 0, offset: 0, length: 0 } };
    });
  }

  /**
   * Loads the current model and checks it can generate from this source (`fits`: false when it
   * said why not), opens the panel, reads the source (`read`: the selection's tokens, or an
   * image's) meanwhile, and hands the panel the generation request.
   */
  private async begin(fits: (info: ModelInfo, label: string) => boolean, read: (info: ModelInfo) => Promise<{ text: string; tokens: TokenInfo[]; document: RunDocument; image?: ImageRequest; notice?: string }>): Promise<void> {
    const commandAt = wallClock();
    const settings = readSettings();
    let panel: AttentionPanel | undefined;
    try {
      const loaded = await this.show.loadModel(settings.model);
      if (!loaded) return;
      const { entry, info, model } = loaded;
      if (!fits(info, entry.label)) return;
      panel = this.panels.createOrShow();
      panel.prepare(model, settings.backend);
      const readStart = wallClock();
      const source = await read(info);
      const { text, tokens, document, image } = source;
      const tokenizer = this.show.tokenizer(info.folder);
      const { maxNewTokens } = settings.generation;
      const limit = newTokenLimit(maxNewTokens, image ? 0 : tokens.length, info.maxPositions, info.encoderDecoder, `attentionLens.generation.maxNewTokens (${maxNewTokens})`);
      const notices = [source.notice, limit.notice, info.eosTokenIds.length === 0 ? NO_EOS_NOTICE.replace(/^n/, 'N') : undefined].filter((n): n is string => !!n);
      for (const n of notices) void vscode.window.showWarningMessage(`Attention Lens: ${n}`);
      const run = this.runs.add({ model: { id: entry.id, label: entry.label }, document, tokens });
      this.active = { runId: run.id, model: { entry, info, panelModel: model }, tokenizer, text, tokens, ...(image ? { image } : {}), document, steps: [], notice: notices.join(' ') || undefined };
      void vscode.commands.executeCommand('setContext', 'attentionLens.generating', true);
      panel.start({
        ...runRequest(run.id, model, settings, text, tokens, image !== undefined),
        notice: this.active.notice,
        timing: { commandAt, spans: [{ stage: 'tokenize', start: readStart, end: wallClock() }] },
        ...(image ? { image } : {}),
        generate: this.request(info, tokenizer, limit.maxNewTokens),
      });
    } catch (e) {
      if (panel && !panel.hasRun) panel.dispose();
      showError(e, true);
    }
  }

  /** What the panel generates with: the limits, the end-of-sequence ids, the sampling settings, the token strings. */
  private request(info: ModelInfo, tokenizer: ModelTokenizer, maxNewTokens: number): GenerateRequest {
    const { sampling } = readSettings().generation;
    return {
      maxNewTokens,
      eos: [...info.eosTokenIds],
      ...(sampling ? { sampling } : {}),
      alternatives: ALTERNATIVES,
      vocabulary: this.vocabulary(info.folder, tokenizer),
      ...(info.encoderDecoder ? { decoderStart: info.decoderStartTokenId ?? 0 } : {}),
    };
  }

  private vocabulary(folder: string, tokenizer: ModelTokenizer): string[] {
    let v = this.vocabularies.get(folder);
    if (!v) this.vocabularies.set(folder, (v = tokenizer.tokenStrings()));
    return v;
  }

  /** Stops the generation in progress after its step (what it made is shown). */
  stop(): void {
    const panel = this.panels.active;
    const runId = panel?.generating;
    if (panel && runId !== undefined) panel.stopGeneration(runId);
    else void vscode.window.showInformationMessage('Attention Lens: nothing is being generated.');
  }

  private async onMessage(panel: AttentionPanel, m: GenerationMessage): Promise<void> {
    if (m.type === 'generation/use') return this.use(m.runId, m.how);
    const g = this.active;
    if (!g || g.runId !== m.runId) return;
    if (m.type === 'generate/didStep') {
      const step = this.texts(g, m.step);
      g.steps[step.step] = step;
      return;
    }
    // generate/didFinish: the whole sequence, shown as a run with its steps.
    this.active = undefined;
    void vscode.commands.executeCommand('setContext', 'attentionLens.generating', false);
    await this.showSequence(panel, g, m.tokens, m.stop);
  }

  /** A step with the texts of its token and alternatives. */
  private texts(g: Generation, s: StepReport): GeneratedStep {
    const text = (id: number) => g.tokenizer.idToToken(id);
    return { step: s.step, query: s.query, token: { id: s.token, text: text(s.token) }, probability: s.probability, rank: s.rank, top: s.top.map((t) => ({ id: t.id, text: text(t.id), probability: t.probability })) };
  }

  /** Runs the prompt and the output together in the panel: every view then shows the generated sequence, with the step slider. */
  private async showSequence(panel: AttentionPanel, g: Generation, generated: number[], stop: GenerationRecord['stop']): Promise<void> {
    const { info, entry, panelModel } = g.model;
    const eos = new Set(info.eosTokenIds);
    const steps = generated.map((id, i) => g.steps[i] ?? this.texts(g, { step: i, query: -1, token: id, probability: NaN, rank: 0, top: [] }));
    const decoder = info.encoderDecoder;
    const { text: output, tokens: made } = await g.tokenizer.continuation(generated, decoder ? 0 : g.text.length, (id) => eos.has(id));
    // The output without a final end-of-sequence token: what Insert and Copy use.
    const kept = generated.length > 0 && eos.has(generated[generated.length - 1]) ? made.length - 1 : made.length;
    const insert = kept === made.length ? output : output.slice(0, Math.max(0, (made[kept]?.start ?? 0) - (decoder ? 0 : g.text.length)));
    const generation: GenerationRecord = { first: decoder ? 1 : g.tokens.length, decoder, steps, stop, output };
    const settings = readSettings();
    const startId = info.decoderStartTokenId ?? 0;
    // Decoder tokens index the output, which is not the run's text: they carry no span.
    const decoderTokens: TokenInfo[] | undefined = decoder ? [{ id: startId, text: g.tokenizer.idToToken(startId), start: 0, end: 0, special: true }, ...made.map((t) => ({ ...t, start: 0, end: 0, unplaced: true }))] : undefined;
    const tokens = decoder ? g.tokens : [...g.tokens, ...made];
    const induction = await this.show.inductionProbe(info);
    const run = this.runs.add({ model: { id: entry.id, label: entry.label }, document: g.document, tokens: g.tokens, generation: { first: generation.first, steps } });
    this.shown = { runId: run.id, output: { generation: g, insert, ...(decoder ? {} : { tokens }) } };
    panel.start({
      ...runRequest(run.id, panelModel, settings, decoder ? g.text : g.text + output, tokens, g.image !== undefined),
      ...(g.image ? { image: g.image } : {}),
      ...(decoderTokens ? { decoderTokens, decoderIds: Int32Array.from(decoderTokens, (t) => t.id) } : {}),
      notice: g.notice,
      generation,
      ...(induction ? { induction } : {}),
    });
  }

  /**
   * Insert: the output goes right after the selection, when its document has not changed since
   * (else it goes on the clipboard, and the message says why); the editor's hovers then cover the
   * generated tokens too. Copy: the clipboard.
   */
  private async use(runId: number, how: 'insert' | 'copy'): Promise<void> {
    const shown = this.shown;
    if (!shown || shown.runId !== runId) return;
    const { generation: g, insert, tokens } = shown.output;
    if (insert.length === 0) return void vscode.window.showInformationMessage('Attention Lens: the generation made no text to use.');
    if (how === 'copy') {
      await vscode.env.clipboard.writeText(insert);
      return void vscode.window.showInformationMessage('Attention Lens: the generated text is on the clipboard.');
    }
    // A caption goes where the cursor is in the active editor (an image is no text document).
    if (g.image) return this.insertCaption(insert);
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === g.document.uri);
    if (!document || document.version !== g.document.version) {
      await vscode.env.clipboard.writeText(insert);
      return void vscode.window.showWarningMessage(`Attention Lens: ${document ? 'the document changed' : 'the document was closed'} since the generation started, so the text was not inserted; it is on the clipboard.`);
    }
    const at = document.positionAt(g.document.offset + g.document.length);
    const edit = new vscode.WorkspaceEdit();
    edit.insert(document.uri, at, insert);
    if (!(await vscode.workspace.applyEdit(edit))) return void vscode.window.showWarningMessage('Attention Lens: the editor refused the insertion (a read-only document?). Use Copy instead.');
    this.shown = undefined; // inserted once
    // The inserted text belongs to the run now: the editor's hovers cover it (causal models, whose output continues the selection).
    if (tokens && this.runs.get(runId)) {
      const inDocument = tokens.filter((t) => t.end <= g.text.length + insert.length);
      this.runs.move(runId, { ...g.document, version: document.version, length: g.document.length + insert.length }, inDocument);
    }
  }

  /** Inserts a caption at the cursor of the active text editor; with none, puts it on the clipboard and says so. */
  private async insertCaption(caption: string): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      await vscode.env.clipboard.writeText(caption);
      return void vscode.window.showInformationMessage('Attention Lens: no text editor is open to insert the caption into; it is on the clipboard.');
    }
    if (!(await editor.edit((e) => e.replace(editor.selection, caption)))) void vscode.window.showWarningMessage('Attention Lens: the editor refused the insertion (a read-only document?). Use Copy instead.');
  }
}

/** Registers Generate with Attention (on an image: caption it) and Stop Generating. */
export function registerGenerateCommands(generate: GenerateWithAttention): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('attentionLens.generateWithAttention', async (arg?: unknown) => {
      const image = await imageTarget(arg);
      return image ? generate.caption(image) : generate.run(selectionEditor());
    }),
    vscode.commands.registerCommand('attentionLens.stopGeneration', () => generate.stop()),
  ];
}
