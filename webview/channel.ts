/** The one owner of a webview's messaging, so page code runs under tests without VS Code. */

/** Typed two-way channel to the extension host: `In` arrives, `Out` is posted. */
export interface Channel<In, Out> {
  post(message: Out): void;
  onMessage(handler: (message: In) => void): void;
  /** The page's own state, kept by VS Code while the page is hidden or reloaded (the user's choices on it). */
  getState(): Record<string, unknown>;
  setState(patch: Record<string, unknown>): void;
}

declare function acquireVsCodeApi(): { postMessage(message: unknown): void; getState(): unknown; setState(state: unknown): void };

/** The channel inside a VS Code webview (`acquireVsCodeApi` may be called once per page). */
export function vscodeChannel<In, Out>(): Channel<In, Out> {
  const api = acquireVsCodeApi();
  const getState = () => (api.getState() ?? {}) as Record<string, unknown>;
  return {
    post: (message) => api.postMessage(message),
    onMessage: (handler) => window.addEventListener('message', (e: MessageEvent<In>) => handler(e.data)),
    getState,
    setState: (patch) => api.setState({ ...getState(), ...patch }),
  };
}
