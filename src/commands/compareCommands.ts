/**
 * `attentionLens.compareModels` (two models, one selection; on an image, two image models) and
 * `attentionLens.compareEditedText` (one model, the selection and an edited copy or a second
 * selection): tokenize (or process the image) for both sides on the host, add run A to the
 * registry, and hand both to the panel, which runs and compares them.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings } from '../config';
import { showError } from '../errorMessages';
import { prepareComparison } from '../models/compareInputs';
import { checkTextModel } from '../models/prepareInputs';
import type { ModelStore } from '../modelStore';
import type { AttentionPanels, PanelModel } from '../panels/attentionPanel';
import type { RunRegistry } from '../runs/runRegistry';
import { chooseOnnx, pickModel } from './modelCommands';
import { type Source, selectionEditor, selectionSource } from './selectionSource';
import { type ShowAttention, imageTarget, runRequest } from './showAttention';
import { ModelFolderError, attentionShape, findOnnxFile, findOnnxFiles } from '../models/modelFolder';
import { longRunQuestion } from '../core/queryKeys';
import { showLineBreaks } from '../core/lineBreaks';

/** Runs comparisons; shares model loading and tokenizers with Show Attention. */
export class CompareAttention {
  constructor(private readonly show: ShowAttention, private readonly store: ModelStore, private readonly runs: RunRegistry, private readonly panels: AttentionPanels) {}

  /** Two models on the selection: model A (the current one preselected), then model B. */
  async compareModels(editor: vscode.TextEditor | undefined): Promise<void> {
    const source = selectionSource(editor, this.runs, 'compare');
    if (!source) return;
    const models = await this.pickTwo();
    if (!models) return;
    const text = source.document.getText(source.selection);
    await this.start(source, models.a, models.b, text, text);
  }

  /**
   * Model A (the current one preselected), then model B: their settings. A folder with several
   * ONNX files asks which (so two variants of one folder compare, a quantised one against the
   * full one); its setting then names the file.
   */
  private async pickTwo(): Promise<{ a: string; b: string } | undefined> {
    const current = readSettings().model || this.store.bundled()[0]?.id;
    const a = await pickModel(this.store, 'Attention Lens: Compare Models — model A', current);
    const fileA = a && (await this.fileOf(a.setting, 'A'));
    const b = fileA && (await pickModel(this.store, `Attention Lens: Compare Models — model B (compared with ${a.label}${fileA === a.setting ? '' : ` ${path.basename(fileA)}`})`, undefined));
    const fileB = b && (await this.fileOf(b.setting, 'B'));
    return fileA && fileB ? { a: fileA, b: fileB } : undefined;
  }

  /** `setting` itself, or where it names a folder with several ONNX files, the one chosen (undefined: cancelled). */
  private async fileOf(setting: string, side: 'A' | 'B'): Promise<string | undefined> {
    if (setting.startsWith('bundled:') || setting.toLowerCase().endsWith('.onnx')) return setting;
    const files = findOnnxFiles(setting);
    if (files.length < 2) return setting;
    // The file the folder runs now: the one chosen for it, else its default (onnx/model.onnx, then model.onnx).
    const runs = findOnnxFile(setting);
    const current = this.store.onnxFileFor(setting) ?? files.find((f) => path.join(setting, f) === runs);
    const file = await chooseOnnx(setting, `Attention Lens: Compare Models — model ${side}: which ONNX file of ${path.basename(setting)}?`, current);
    if (file === undefined) return undefined;
    return file === null ? setting : path.join(setting, file);
  }

  /** Two image models on image file `uri`: each processes it as its own processor says; their patches are compared by patch or by area. */
  async compareImage(uri: vscode.Uri): Promise<void> {
    const models = await this.pickTwo();
    if (!models) return;
    const settings = readSettings();
    let panel;
    try {
      const a = await this.show.loadModel(models.a);
      const b = a && (await this.show.loadModel(models.b));
      if (!a || !b) return;
      for (const [side, m] of [['A', a], ['B', b]] as const) {
        if (!m.info.vision || m.info.encoderDecoder) throw new ModelFolderError(`Model ${side} (${m.entry.label}) is ${m.info.vision ? 'an image captioner' : 'a text model'}: compare two image models (ViT, DeiT, BEiT, DINOv2) on an image.`);
      }
      panel = this.panels.createOrShow();
      panel.prepare(a.model, settings.backend);
      const sideA = await this.show.imageRequest(uri, a.info);
      const sideB = await this.show.imageRequest(uri, b.info);
      const run = this.runs.add({ model: { id: a.entry.id, label: a.entry.label }, document: { uri: uri.toString(), version: 0, offset: 0, length: 0 }, tokens: sideA.tokens });
      panel.start({
        ...runRequest(run.id, a.model, settings, '', sideA.tokens, true),
        image: sideA.image,
        compare: { model: b.model, text: '', tokens: sideB.tokens, ids: new Int32Array(0), sameModel: false, image: sideB.image },
      });
    } catch (e) {
      if (panel && !panel.hasRun) panel.dispose();
      showError(e, true);
    }
  }

  /** The selection against an edited copy (asked for), or the first two selections, through the current model. */
  async compareEditedText(editor: vscode.TextEditor | undefined): Promise<void> {
    const source = selectionSource(editor, this.runs, 'compare');
    if (!source) return;
    const texts = (editor?.selections ?? []).map((s) => editor!.document.getText(s)).filter((t) => t.trim().length > 0);
    const textA = source.document.getText(source.selection);
    let textB: string | undefined = texts.length >= 2 ? texts[1] : undefined;
    if (textB === undefined) {
      // The input box drops line breaks from its value: each shows as a mark, and is one again after.
      const lines = showLineBreaks(textA);
      const edited = await vscode.window.showInputBox({
        title: 'Attention Lens: Compare with Edited Text',
        prompt: `Edit the text; its attention is compared with the selection’s (tokens aligned through a diff)${lines.mark ? `. Line breaks show as ${lines.mark}: keep, move or paste one` : ''}`,
        value: lines.shown,
        validateInput: (v) => (v.trim().length === 0 ? 'The edited text is empty' : v === lines.shown ? 'Change something to compare (the text is unchanged)' : undefined),
      });
      textB = edited === undefined ? undefined : lines.restore(edited);
    }
    if (textB === undefined) return;
    const model = readSettings().model;
    await this.start(source, model, model, textA, textB);
  }

  private async start(source: Source, settingA: string, settingB: string, textA: string, textB: string): Promise<void> {
    const settings = readSettings();
    let panel;
    try {
      const a = await this.show.loadModel(settingA);
      const b = settingB === settingA ? a : await this.show.loadModel(settingB);
      if (!a || !b) return;
      // Comparisons are of text: an image model says so before a tokenizer it lacks is looked for.
      checkTextModel(a.info);
      checkTextModel(b.info);
      panel = this.panels.createOrShow();
      panel.prepare(a.model, settings.backend);
      const prepared = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Attention Lens: tokenizing both sides…' }, () => prepareComparison(
        { info: a.info, tokenizer: this.show.tokenizer(a.info.folder), text: textA, label: a.entry.label },
        { info: b.info, tokenizer: this.show.tokenizer(b.info.folder), text: textB, label: b.entry.label },
      ));
      // A very long side (a long input keeps queries and keys, each side alike): say what the longer one costs, and ask.
      const same = settingA === settingB;
      const [m, p, name] = prepared.b.tokens.length > prepared.a.tokens.length ? [b, prepared.b, same ? 'Text B' : `Model B (${b.entry.label})`] : [a, prepared.a, same ? 'Text A' : `Model A (${a.entry.label})`];
      const asked = longRunQuestion(p.tokens.length, m.info.maxPositions, attentionShape(m.info), settings.confirmTokens, settings.keepWeightsMB * 1e6);
      const question = asked && `${name}: ${asked}`;
      if (question && (await vscode.window.showWarningMessage(`Attention Lens: ${question}`, { modal: true }, 'Run')) !== 'Run') {
        if (!panel.hasRun) panel.dispose();
        return;
      }
      if (prepared.notice) void vscode.window.showWarningMessage(`Attention Lens: ${prepared.notice}`);
      const run = this.runs.add({
        model: { id: a.entry.id, label: a.entry.label },
        document: { uri: source.document.uri.toString(), version: source.document.version, offset: source.document.offsetAt(source.selection.start), length: prepared.a.text.length },
        tokens: prepared.a.tokens,
      });
      const ids = (tokens: { id: number }[] | undefined) => tokens && Int32Array.from(tokens, (t) => t.id);
      const sideB: PanelModel = b.model;
      panel.start({
        ...runRequest(run.id, a.model, settings, prepared.a.text, prepared.a.tokens),
        decoderTokens: prepared.a.decoderTokens,
        decoderIds: ids(prepared.a.decoderTokens),
        notice: prepared.notice,
        compare: {
          model: sideB,
          text: prepared.b.text,
          tokens: prepared.b.tokens,
          ids: ids(prepared.b.tokens)!,
          decoderTokens: prepared.b.decoderTokens,
          decoderIds: ids(prepared.b.decoderTokens),
          sameModel: settingA === settingB,
        },
      });
    } catch (e) {
      if (panel && !panel.hasRun) panel.dispose();
      showError(e, true);
    }
  }
}

/** Registers both comparison commands. */
export function registerCompareCommands(compare: CompareAttention): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('attentionLens.compareModels', async (arg?: unknown) => {
      const image = await imageTarget(arg);
      return image ? compare.compareImage(image) : compare.compareModels(selectionEditor());
    }),
    vscode.commands.registerCommand('attentionLens.compareEditedText', () => compare.compareEditedText(selectionEditor())),
  ];
}
