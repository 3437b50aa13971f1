/** Typed access to the `attentionLens.*` settings: the one place settings are read. */
import * as vscode from 'vscode';
import type { BackendSetting } from './core/protocol';

/** The settings Attention Lens reads. */
export interface LensSettings {
  backend: BackendSetting;
  /** Model setting; in untrusted workspaces only the user (global) value counts. */
  model: string;
  maxLinksPerQuery: number;
}

/** Reads the current settings, ignoring workspace values for restricted settings when untrusted. */
export function readSettings(): LensSettings {
  const c = vscode.workspace.getConfiguration('attentionLens');
  const backend = c.get<string>('backend', 'auto');
  const model = vscode.workspace.isTrusted ? c.get<string>('model', '') : (c.inspect<string>('model')?.globalValue ?? '');
  const maxLinks = c.get<number>('maxLinksPerQuery', 12);
  return {
    backend: backend === 'webgpu' || backend === 'wasm' ? backend : 'auto',
    model: model.trim(),
    maxLinksPerQuery: Number.isFinite(maxLinks) ? Math.max(1, Math.min(512, Math.round(maxLinks))) : 12,
  };
}
