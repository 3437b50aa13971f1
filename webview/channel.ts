/** The one owner of the webview's messaging, so view code runs under tests without VS Code. */
import type { FromWebview, ToWebview } from '../src/core/protocol';

/** Typed two-way channel to the extension host. */
export interface Channel {
  post(message: FromWebview): void;
  onMessage(handler: (message: ToWebview) => void): void;
}

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };

/** The channel inside a VS Code webview. */
export function vscodeChannel(): Channel {
  const api = acquireVsCodeApi();
  return {
    post: (message) => api.postMessage(message),
    onMessage: (handler) => window.addEventListener('message', (e: MessageEvent<ToWebview>) => handler(e.data)),
  };
}
