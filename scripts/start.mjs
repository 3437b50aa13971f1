// `npm start`: opens VS Code with Attention Lens on a copy of the sample folder. Uses desktop `code`
// when it is on PATH (extension development host); otherwise builds and installs the VSIX into the
// local code-server (built once by scripts/setup-code-server.sh) and prints its URL.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
// A copy outside the repository, so VS Code does not offer to open this git repository around it;
// refreshed from sample/ at every start.
const sample = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'attention-lens', 'samples');
fs.mkdirSync(sample, { recursive: true });
fs.cpSync(path.join(root, 'sample'), sample, { recursive: true });
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });

const hasCode = spawnSync('code', ['--version'], { stdio: 'ignore' }).status === 0;
if (hasCode && !process.env.ATTENTION_LENS_CODE_SERVER) {
  run(process.execPath, ['scripts/build.mjs']);
  run('code', ['--extensionDevelopmentPath', root, sample]);
  console.log(`Opened VS Code with Attention Lens on a copy of sample/ (${sample}). Select text, right-click → Show Attention.`);
  process.exit(0);
}

const targets = { 'linux-x64': 'linux-x64', 'linux-arm64': 'linux-arm64', 'darwin-x64': 'darwin-x64', 'darwin-arm64': 'darwin-arm64', 'win32-x64': 'win32-x64' };
const target = targets[`${process.platform}-${process.arch}`];
if (!target) throw new Error(`no VSIX target for ${process.platform}-${process.arch}`);
run(process.execPath, ['scripts/package.mjs', '--target', target]);
const pkgDir = execFileSync('bash', ['scripts/setup-code-server.sh'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const state = path.join(root, '.vscode-test', 'code-server-start');
const userData = path.join(state, 'user-data');
const extensions = path.join(state, 'extensions');
fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
const settingsFile = path.join(userData, 'User', 'settings.json');
if (!fs.existsSync(settingsFile)) fs.writeFileSync(settingsFile, JSON.stringify({ 'security.workspace.trust.enabled': false, 'workbench.startupEditor': 'readme' }, null, 2));
const entry = path.join(pkgDir, 'out/node/entry.js');
const common = ['--user-data-dir', userData, '--extensions-dir', extensions];
run(process.execPath, [entry, ...common, '--force', '--install-extension', path.join(root, 'out', `${pkg.name}-${target}-${pkg.version}.vsix`)]);
const port = process.env.PORT ?? '8080';
console.log(`\nAttention Lens is running in code-server: http://127.0.0.1:${port}/?folder=${encodeURIComponent(sample)}\nOpen it in a browser (Chromium with --enable-unsafe-webgpu to try WebGPU). Ctrl+C stops it.\n`);
const child = spawn(process.execPath, [entry, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, ...common, '--disable-telemetry', '--disable-update-check', sample], { stdio: 'inherit' });
process.on('SIGINT', () => child.kill('SIGTERM'));
child.on('exit', (code) => process.exit(code ?? 0));
