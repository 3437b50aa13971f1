// @vscode/test-electron integration tests: they download VS Code, which machines without internet
// access cannot. There this script says plainly that they did not run (the code-server e2e suite,
// `npm run test:e2e`, covers the extension in a real VS Code instead) and exits 0.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadAndUnzipVSCode, runTests } from '@vscode/test-electron';

const root = path.resolve(import.meta.dirname, '../..');
let executable;
try {
  executable = await downloadAndUnzipVSCode({ version: '1.100.3', timeout: 20_000, cachePath: path.join(root, '.vscode-test') });
} catch (e) {
  console.log('\n*** test-electron integration tests NOT RUN ***');
  console.log(`VS Code 1.100.3 could not be downloaded: ${String(e?.message ?? e).split('\n')[0]}`);
  console.log('The code-server end-to-end suite (test/e2e) exercises the extension in a real VS Code on this machine.\n');
  process.exit(0);
}
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-it-'));
fs.cpSync(path.join(root, 'sample'), workspace, { recursive: true });
try {
  await runTests({
    vscodeExecutablePath: executable,
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(root, 'test/integration/suite.cjs'),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
  });
} catch (e) {
  console.error(`integration tests failed: ${e?.message ?? e}`);
  process.exit(1);
} finally {
  fs.rmSync(workspace, { recursive: true, force: true });
}
