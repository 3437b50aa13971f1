/** The one owner of a webview's messaging, so page code runs under tests without VS Code. */

/** Typed two-way channel to the extension host: `In` arrives, `Out` is posted. */
export interface Channel<In, Out> {
  post(message: Out): void;
  onMessage(handler: (message: In) => void): void;
}

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };

/** The channel inside a VS Code webview (`acquireVsCodeApi` may be called once per page). */
export function vscodeChannel<In, Out>(): Channel<In, Out> {
  const api = acquireVsCodeApi();
  return {
    post: (message) => api.postMessage(message),
    onMessage: (handler) => window.addEventListener('message', (e: MessageEvent<In>) => handler(e.data)),
  };
}
