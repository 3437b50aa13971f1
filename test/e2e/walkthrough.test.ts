/// <reference lib="dom" />
// A new user's first steps in a real VS Code (code-server), on a fresh profile that opens on the
// Welcome page: its list of walkthroughs has *Get Started with Attention Lens*, which *Attention
// Lens: Get Started* opens (closing VS Code's own walkthrough, which would otherwise keep it out);
// its buttons open the sample text beside it with the first sentence selected and show its
// attention, and the steps are checked as the user does them (the buttons, a hover in the editor,
// the head explorer); the others stay unchecked.
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { explorerFrame, panelFrame } from './codeServer';
import { useSession } from './session';
import { editorHover, runCommand } from './workbench';

/** The walkthrough step titled `title`. */
function step(page: Page, title: string): Locator {
  return page.locator('button.getting-started-step', { hasText: title }).first();
}

/** Whether VS Code shows step `title` as done. */
async function done(page: Page, title: string): Promise<boolean> {
  return (await step(page, title).getAttribute('aria-checked')) === 'true';
}

/** Expands step `title` and clicks its button labelled `label` (a command link of its description). */
async function press(page: Page, title: string, label: string): Promise<void> {
  await step(page, title).click();
  const button = step(page, title).locator('.button-container a', { hasText: label }).first();
  await button.waitFor({ timeout: 10_000 });
  await button.click();
}

describe('Get Started with Attention Lens', () => {
  const session = useSession(false, { 'workbench.startupEditor': 'welcomePage', 'workbench.welcomePage.walkthroughs.openOnInstall': false });

  it('is on the Welcome page of a fresh profile; its buttons do each step, and each step is checked once done', async () => {
    const { page, server } = session;
    await page.goto(server.url);
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
    // The Welcome page opens (on VS Code's own walkthrough); its list of walkthroughs has ours.
    await page.locator('.gettingStartedContainer').waitFor({ timeout: 60_000 });
    const listed = page.locator('.quick-input-widget .monaco-list-row[aria-label^="Get Started with Attention Lens"]').first();
    for (let attempt = 0; attempt < 3 && !(await listed.count()); attempt++) {
      await runCommand(page, 'Welcome: Open Walkthrough');
      await listed.waitFor({ state: 'attached', timeout: 10_000 }).catch(() => page.keyboard.press('Escape'));
    }
    expect(await listed.count()).toBe(1);
    await page.keyboard.press('Escape');
    // Ours opens from its own command too.
    await runCommand(page, 'Attention Lens: Get Started');
    for (const title of ['Open a sample text', 'Show Attention on a sentence', 'Hover a token in the editor', 'See every head at once', 'Compare two models', 'Use your own model']) {
      await step(page, title).waitFor({ timeout: 20_000 });
      expect([title, await done(page, title)]).toEqual([title, false]);
    }

    // The sample, its first sentence selected.
    await press(page, 'Open a sample text', 'Open the Sample Text');
    await page.locator('.monaco-editor .view-line', { hasText: 'The cat sat on the mat' }).first().waitFor({ timeout: 20_000 });
    await page.locator('.statusbar-item', { hasText: /\(44 selected\)/ }).first().waitFor({ timeout: 10_000 });

    // Show Attention from the walkthrough: the panel draws the selection.
    await page.getByRole('tab', { name: /Walkthrough|Welcome/ }).first().click();
    await expect.poll(() => done(page, 'Open a sample text'), { timeout: 10_000 }).toBe(true);
    await press(page, 'Show Attention on a sentence', 'Show Attention');
    const frame = await panelFrame(page);
    await frame.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });

    // A hover in the editor, then the head explorer.
    await page.getByRole('tab', { name: /Untitled-1/ }).first().click();
    expect(await editorHover(page)).toMatch(/Attention Lens/);
    await page.getByRole('tab', { name: /Walkthrough|Welcome/ }).first().click();
    await expect.poll(() => done(page, 'Show Attention on a sentence'), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => done(page, 'Hover a token in the editor'), { timeout: 10_000 }).toBe(true);
    await press(page, 'See every head at once', 'Show Head Explorer');
    const explorer = await explorerFrame(page);
    await explorer.waitForSelector('#main:not([hidden])', { timeout: 60_000 });
    await page.getByRole('tab', { name: /Walkthrough|Welcome/ }).first().click();
    await expect.poll(() => done(page, 'See every head at once'), { timeout: 10_000 }).toBe(true);
    // Steps not done stay unchecked.
    expect(await done(page, 'Compare two models')).toBe(false);
  });
});
