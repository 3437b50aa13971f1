/** A minimal typed event emitter, so registries and state run under tests without VS Code. Pure. */

/** Something to undo: a subscription. Compatible with `vscode.Disposable`. */
export interface Subscription {
  dispose(): void;
}

/** Subscribes `listener`; the returned subscription removes it. */
export type Event<T> = (listener: (value: T) => void) => Subscription;

/** Owns the listeners of one event. */
export class Emitter<T> {
  private listeners: Array<(value: T) => void> = [];

  /** The event to hand to subscribers. */
  readonly event: Event<T> = (listener) => {
    this.listeners.push(listener);
    return { dispose: () => void (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };

  /** Calls every listener, in subscription order. */
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }

  /** Removes every listener. */
  dispose(): void {
    this.listeners = [];
  }
}
