/**
 * When the extension's bundle began to load and when `activate` returned: the run whose command
 * activated the extension counts the activation among its stages (the first picture's cost).
 * Imported first by the entry point, so its clock starts before the other modules load.
 */
import { type TimingSpan, wallClock } from './core/timing';

const loadStartedAt = wallClock();
let activatedAt: number | undefined;
let counted = false;

/** Called at the end of `activate`. */
export function activationDone(): void {
  activatedAt ??= wallClock();
}

/** The activation as a span, for the first command that came with it (within a second of it), once. */
export function activationSpans(commandAt: number): TimingSpan[] {
  if (counted || activatedAt === undefined || commandAt - activatedAt > 1000) return [];
  counted = true;
  return [{ stage: 'activation', start: loadStartedAt, end: activatedAt }];
}
