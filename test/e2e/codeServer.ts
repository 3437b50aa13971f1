/**
 * A real VS Code for end-to-end tests without a download: code-server (VS Code in the browser,
 * built once by scripts/setup-code-server.sh) driven by Debian's Chromium through playwright-core.
 * No vitest here: the benchmark (bench/firstPicture.ts) drives the same harness; session.ts has the hooks.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BrowserContext, type Frame, type Page, chromium } from 'playwright-core';

export const ROOT = path.resolve(__dirname, '../..');
export const ARTIFACTS = path.join(ROOT, 'test-results/e2e');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Path of the code-server package, building it on first use. */
export function codeServerPackage(): string {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts/setup-code-server.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

/** The linux-x64 VSIX built by `npm run package -- --target linux-x64`. */
export function vsixPath(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  const p = path.join(ROOT, 'out', `${pkg.name}-linux-x64-${pkg.version}.vsix`);
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run npm run package -- --target linux-x64 first (npm run test:e2e does).`);
  return p;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Where the VSIX is installed once for every session of a test run (2–3 s a time otherwise). */
const INSTALLED = path.join(ROOT, 'test-results/.installed');

/**
 * An extensions folder with the current VSIX installed by code-server, made again when the VSIX
 * changes (its size and time name the folder; made aside, then renamed, so a half-made one is
 * never used).
 */
function installedOnce(entry: string): string {
  const vsix = vsixPath(), stat = fs.statSync(vsix);
  const name = `${stat.size}-${Math.round(stat.mtimeMs)}`, dir = path.join(INSTALLED, name);
  if (fs.existsSync(path.join(dir, 'extensions/extensions.json'))) return path.join(dir, 'extensions');
  fs.mkdirSync(INSTALLED, { recursive: true });
  // Earlier builds' folders go (another process's folder still being made stays).
  for (const old of fs.readdirSync(INSTALLED)) if (!old.startsWith('making-')) fs.rmSync(path.join(INSTALLED, old), { recursive: true, force: true });
  const making = fs.mkdtempSync(path.join(INSTALLED, 'making-'));
  try {
    execFileSync(process.execPath, [entry, '--user-data-dir', path.join(making, 'user-data'), '--extensions-dir', path.join(making, 'extensions'), '--install-extension', vsix], { stdio: 'pipe' });
    // extensions.json names the folder it was installed in: written for `dir`, where it will stay.
    const list = path.join(making, 'extensions/extensions.json');
    fs.writeFileSync(list, fs.readFileSync(list, 'utf8').split(path.join(making, 'extensions')).join(path.join(dir, 'extensions')));
    fs.renameSync(making, dir);
  } catch (e) {
    // Another process made it first: use theirs.
    if (!fs.existsSync(path.join(dir, 'extensions/extensions.json'))) throw e;
  } finally {
    fs.rmSync(making, { recursive: true, force: true });
  }
  return path.join(dir, 'extensions');
}

/** A session's own copy of the installed extensions (code-server writes to its extensions folder). */
function copyInstalled(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
  const list = path.join(to, 'extensions.json');
  fs.writeFileSync(list, fs.readFileSync(list, 'utf8').split(from).join(to));
}

/** A running code-server with the extension installed and a workspace open. */
export class CodeServer {
  private constructor(readonly url: string, readonly workspace: string, private readonly proc: ChildProcess, private readonly dir: string, readonly log: () => string) {}

  /**
   * Puts the installed VSIX into a fresh profile and starts code-server on a free loopback port.
   * `untrusted` keeps workspace trust on, so the workspace opens in Restricted Mode once declined;
   * `workspaceSettings` go to the workspace's .vscode/settings.json.
   */
  static async start(settings: Record<string, unknown> = {}, opts: { untrusted?: boolean; workspaceSettings?: Record<string, unknown> } = {}): Promise<CodeServer> {
    const pkg = codeServerPackage();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-e2e-'));
    const userData = path.join(dir, 'user-data');
    const extensions = path.join(dir, 'extensions');
    const workspace = path.join(dir, 'workspace');
    fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
    fs.cpSync(path.join(ROOT, 'sample'), workspace, { recursive: true });
    if (opts.workspaceSettings) {
      fs.mkdirSync(path.join(workspace, '.vscode'));
      fs.writeFileSync(path.join(workspace, '.vscode/settings.json'), JSON.stringify(opts.workspaceSettings));
    }
    fs.writeFileSync(path.join(userData, 'User/settings.json'), JSON.stringify({
      'security.workspace.trust.enabled': opts.untrusted === true,
      'security.workspace.trust.startupPrompt': 'always',
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.enableExperiments': false,
      'telemetry.telemetryLevel': 'off',
      'editor.hover.delay': 200,
      'extensions.autoCheckUpdates': false,
      ...settings,
    }));
    const entry = path.join(pkg, 'out/node/entry.js');
    const common = ['--user-data-dir', userData, '--extensions-dir', extensions];
    copyInstalled(installedOnce(entry), extensions);
    const port = await freePort();
    let log = '';
    const trust = opts.untrusted ? [] : ['--disable-workspace-trust'];
    const proc = spawn(process.execPath, [entry, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, ...common, '--disable-telemetry', '--disable-update-check', ...trust, workspace], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CODE_SERVER_CONFIG: path.join(dir, 'config.yaml') },
    });
    proc.stdout!.on('data', (d) => (log += d));
    proc.stderr!.on('data', (d) => (log += d));
    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (r.ok) break;
      } catch {
        /* not up yet */
      }
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`code-server did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return new CodeServer(url, workspace, proc, dir, () => log);
  }

  /** Changes user settings while VS Code runs (it watches the file): `patch` is merged into them. */
  updateSettings(patch: Record<string, unknown>): void {
    const file = path.join(this.dir, 'user-data', 'User/settings.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), ...patch }));
  }

  /** Extension host log lines written by code-server (for unhandled-rejection checks). */
  extensionHostLogs(): string {
    const logs = path.join(this.dir, 'user-data', 'logs');
    if (!fs.existsSync(logs)) return '';
    const files = fs.readdirSync(logs, { recursive: true, withFileTypes: true }).filter((f) => f.isFile() && /exthost|remoteexthost/i.test(path.join(f.parentPath, f.name)));
    return files.map((f) => fs.readFileSync(path.join(f.parentPath, f.name), 'utf8')).join('\n');
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => (this.proc.exitCode !== null ? resolve() : this.proc.once('exit', () => resolve())));
    this.proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Launches Debian's Chromium headless; `webgpu` adds --enable-unsafe-webgpu (SwiftShader adapter); `extraArgs` more flags. */
export async function launchBrowser(webgpu: boolean, extraArgs: string[] = []): Promise<{ context: BrowserContext; page: Page; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-chromium-'));
  const args = ['--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  args.push(...extraArgs);
  const context = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, args, viewport: { width: 1500, height: 950 }, ignoreDefaultArgs: ['--headless'] });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page, dir };
}

/** The frame of a webview whose page has `selector` (VS Code nests webviews in two iframes). */
export async function webviewFrame(page: Page, selector: string, what: string, timeoutMs = 60_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const f of page.frames()) {
      try {
        if (await f.$(selector)) return f;
      } catch {
        /* frame navigated away */
      }
    }
    await page.waitForTimeout(250);
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const shot = `${what.replace(/\W+/g, '-')}-missing.png`;
  await page.screenshot({ path: path.join(ARTIFACTS, shot) });
  const notes = await page.locator('.notifications-toasts').innerText().catch(() => '');
  throw new Error(`the ${what} did not appear (screenshot: test-results/e2e/${shot}). Notifications: ${notes}`);
}

/** The frame of the Attention Lens panel. */
export function panelFrame(page: Page, timeoutMs = 60_000): Promise<Frame> {
  return webviewFrame(page, '#link-list', 'Attention Lens panel', timeoutMs);
}

/** The frame of the head explorer: the sidebar view's, or the editor tab's. */
export function explorerFrame(page: Page, timeoutMs = 60_000, place: 'sidebar' | 'editor' = 'sidebar'): Promise<Frame> {
  return webviewFrame(page, `body[data-place="${place}"] #grid`, place === 'editor' ? 'head explorer in the editor area' : 'head explorer', timeoutMs);
}
