// The e2e suites' session: a code-server and a Chromium page on it, as vitest hooks.
import * as fs from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { ARTIFACTS, CodeServer, launchBrowser } from './codeServer';

/** A code-server and a Chromium page on it, started before the suite's tests and stopped after. */
export interface Session {
  server: CodeServer;
  page: Page;
}

/** Registers beforeAll/afterAll hooks for a session with these settings and WebGPU on or off. */
export function useSession(webgpu: boolean, settings: Record<string, unknown> = {}, opts: Parameters<typeof CodeServer.start>[1] = {}): Session {
  const session = {} as Session;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    session.server = await CodeServer.start(settings, opts);
    const b = await launchBrowser(webgpu);
    context = b.context;
    profile = b.dir;
    session.page = b.page;
  });
  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await session.server?.stop();
    // Each Chromium profile is a few hundred MB: never leave one behind, whether the suite passed or not.
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  });
  return session;
}

/**
 * Opens the workbench on the session's folder unless the page shows it already: tests that share
 * a session go on in the window the one before left (each new session costs 10–12 s here), and one
 * run alone (`-t`) opens it itself.
 */
export async function openWorkbench({ page, server }: Session): Promise<void> {
  if (!page.url().startsWith(server.url.slice(0, server.url.indexOf('?')))) await page.goto(server.url);
  await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
}
