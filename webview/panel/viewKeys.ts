/** Keyboard navigation of the panel's views through the state's actions: tokens with the arrows, layers with Page Up and Down. No DOM. */
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';
import type { PanelState } from './state';

/** `key` pressed on a view; true when it did something. */
export function viewKey(state: PanelState, key: string): boolean {
  const r = state.record, s = state.snapshot;
  if (!r) return false;
  const side = s.hover?.side ?? 'query';
  const n = side === 'query' ? r.queries : r.keys;
  const at = s.hover?.index ?? -1;
  const to = (t: TokenTarget | null, reveal = false) => state.hoverOn(t, reveal, 'keyboard');
  const moves: Record<string, () => void> = {
    ArrowDown: () => to({ side, index: Math.min(n - 1, at + 1) }, true),
    ArrowUp: () => to({ side, index: Math.max(0, at - 1) }, true),
    ArrowLeft: () => to({ side: 'query', index: Math.min(r.queries - 1, Math.max(0, at)) }),
    ArrowRight: () => to({ side: 'key', index: Math.min(r.keys - 1, Math.max(0, at)) }),
    Escape: () => to(null),
    PageDown: () => state.selectRecord(s.recordIndex + 1),
    PageUp: () => state.selectRecord(s.recordIndex - 1),
  };
  if (!Object.hasOwn(moves, key)) return false;
  moves[key]();
  return true;
}
