// `npm test`: build, type-check, package the linux-x64 VSIX, then run every suite:
// test-electron integration (reports plainly when VS Code cannot be downloaded), and with vitest
// the unit, engine (Node + onnxruntime-web) and end-to-end (code-server + Chromium) suites.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bin = (name) => path.join(root, 'node_modules/.bin', name);
const step = (title, cmd, args) => {
  console.log(`\n▶ ${title}`);
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
};
/** Runs a command aside, its output kept and printed whole once it ends: resolves to its success. */
const aside = (title, cmd, args) => new Promise((resolve) => {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  child.on('error', (e) => (out += String(e)));
  child.on('close', (code) => {
    console.log(`\n▶ ${title}${code === 0 ? '' : ' (failed)'}${out.trim() ? `\n${out.trimEnd()}` : ''}`);
    resolve(code === 0);
  });
});

// The two type-checks run while the VSIX is built (three jobs on two cores here: about 7 s saved).
const checks = Promise.all([
  aside('type-check', process.execPath, [bin('tsc'), '--noEmit', '-p', 'tsconfig.json']),
  aside('type-check webview', process.execPath, [bin('tsc'), '--noEmit', '-p', 'webview/tsconfig.json']),
]);
try {
  step('package (linux-x64 VSIX for the e2e suite; builds dist/)', process.execPath, ['scripts/package.mjs', '--target', 'linux-x64']);
  if (!(await checks).every(Boolean)) throw new Error('type-check failed');
  step('test-electron integration', process.execPath, ['test/integration/runTest.mjs']);
} catch {
  await checks; // their output, whatever failed
  process.exit(1);
}

console.log('\n▶ vitest: unit, engine, e2e');
const report = path.join(root, 'test-results/vitest.json');
fs.mkdirSync(path.dirname(report), { recursive: true });
const r = spawnSync(process.execPath, [bin('vitest'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
let summary = '';
try {
  const j = JSON.parse(fs.readFileSync(report, 'utf8'));
  // vitest exits non-zero for errors outside any test (an unhandled rejection, a worker RPC
  // timeout): count that as a failure here too, so the closing line never says "0 failed" then.
  const outside = r.status !== 0 && j.numFailedTests === 0 ? 1 : 0;
  if (outside) console.log('\nvitest reported errors outside the tests (see "Unhandled Errors" above): counted as 1 failure.');
  summary = `${j.numPassedTests} passed, ${j.numFailedTests + outside} failed${j.numPendingTests ? `, ${j.numPendingTests} skipped` : ''}`;
} catch {
  summary = '0 passed, 1 failed';
}
console.log(`\n${summary}`);
process.exit(r.status ?? 1);
