// `npm run bench` part: selection → picture in the real VS Code (bench/firstPicture.ts, bundled
// here with esbuild because it shares the e2e harness, which is TypeScript). The bundle sits in
// out/bench/, two folders below the root like the harness, so the harness finds the repository.
import * as esbuild from 'esbuild';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'out/bench/firstPicture.mjs');
await esbuild.build({ entryPoints: [path.join(root, 'bench/firstPicture.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: out, packages: 'external', logLevel: 'warning',
  banner: { js: 'import { fileURLToPath as __f } from "node:url"; import { dirname as __d } from "node:path"; const __dirname = __d(__f(import.meta.url));' } });
const mod = await import(pathToFileURL(out).href);
await mod.main();
