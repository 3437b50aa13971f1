/** Helpers every webview protocol shares. Pure. */

/** Compile-time exhaustiveness check for `switch` over message types; throws on unknown messages at run time. */
export function assertNever(x: never): never {
  throw new Error(`unexpected message ${JSON.stringify(x)}`);
}
