/** Typed access to the `attentionLens.*` settings: the one place settings are read. */
import * as vscode from 'vscode';
import { type BackendSetting, parseBackendSetting } from './core/backend';
import type { Sampling } from './core/generation/sampling';
import { QUERY_KEYS_ABOVE_BYTES } from './core/queryKeys';

/** `attentionLens.keepWeightsMB`'s default, where long inputs switch to queries and keys. */
const KEEP_WEIGHTS_MB = QUERY_KEYS_ABOVE_BYTES / 1e6;

/** The settings Attention Lens reads. */
export interface LensSettings {
  backend: BackendSetting;
  /** Model setting; in untrusted workspaces only the user (global) value counts. */
  model: string;
  maxLinksPerQuery: number;
  /** Extra model folders (`attentionLens.models`); user settings only in untrusted workspaces. */
  models: string[];
  hubEndpoint: string;
  /** Ask before loading more weights than this (MB). */
  warnModelSizeMB: number;
  /** Weights as labels after attended tokens in the editor. */
  inlineWeights: boolean;
  /** Runs whose attention weights would take more (MB, float32) keep queries and keys instead. */
  keepWeightsMB: number;
  /** Ask before running a selection of at least this many tokens (0: never). */
  confirmTokens: number;
  /** Generate with Attention: new tokens at most, and how to choose them (greedy when `sampling` is absent). */
  generation: { maxNewTokens: number; sampling?: Sampling };
}

/** Reads the current settings, ignoring workspace values for restricted settings when untrusted. */
export function readSettings(): LensSettings {
  const c = vscode.workspace.getConfiguration('attentionLens');
  /** Restricted settings: in an untrusted workspace only the user's own value counts. */
  const restricted = <T>(key: string, fallback: T): T => (vscode.workspace.isTrusted ? c.get<T>(key, fallback) : (c.inspect<T>(key)?.globalValue ?? fallback));
  const models = restricted<unknown>('models', []);
  return {
    backend: parseBackendSetting(c.get<string>('backend', 'auto')),
    model: String(restricted('model', '')).trim(),
    maxLinksPerQuery: clampInt(c.get<number>('maxLinksPerQuery', 12), 1, 512, 12),
    models: Array.isArray(models) ? models.filter((m): m is string => typeof m === 'string' && m.trim() !== '') : [],
    hubEndpoint: String(restricted('hubEndpoint', '')),
    warnModelSizeMB: clampInt(restricted<number>('warnModelSizeMB', 500), 1, 1e6, 500),
    inlineWeights: c.get<boolean>('inlineWeights', false) === true,
    keepWeightsMB: clampInt(c.get<number>('keepWeightsMB', KEEP_WEIGHTS_MB), 0, 1e6, KEEP_WEIGHTS_MB),
    confirmTokens: clampInt(c.get<number>('confirmTokens', 8192), 0, 1e8, 8192),
    generation: {
      maxNewTokens: clampInt(c.get<number>('generation.maxNewTokens', 32), 1, 4096, 32),
      sampling: samplingSetting(c.get<number>('generation.temperature', 0), c.get<number>('generation.topK', 0), c.get<number>('generation.topP', 1), c.get<number>('generation.seed', 0)),
    },
  };
}

/** Sampling from the settings: a temperature above 0 samples (with top-k when above 0, top-p when below 1, and the seed); else greedy. */
function samplingSetting(temperature: unknown, topK: unknown, topP: unknown, seed: unknown): Sampling | undefined {
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!finite(temperature) || temperature <= 0) return undefined;
  return {
    temperature: Math.min(temperature, 100),
    ...(finite(topK) && topK >= 1 ? { topK: Math.round(topK) } : {}),
    ...(finite(topP) && topP > 0 && topP < 1 ? { topP } : {}),
    seed: finite(seed) ? Math.round(seed) >>> 0 : 0,
  };
}

function clampInt(v: number | undefined, min: number, max: number, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.max(min, Math.min(max, Math.round(v))) : fallback;
}
