// Runs the built CLI (dist/cli.mjs) as a user would and parses its JSON.
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect } from 'vitest';

export const ROOT = path.resolve(__dirname, '../..');
export const FIXTURES = path.join(ROOT, 'test/fixtures');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `attention-lens <args>` from the built bundle. */
export function runCli(args: string[]): CliResult {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI and expects it to fail with exactly one line on stderr matching `pattern`, and nothing on stdout. */
export function expectCliFailure(args: string[], pattern: RegExp): void {
  const r = runCli(args);
  expect(r.status).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

/** Runs `attention-lens <args>` without blocking the test worker (long runs starve vitest's own messages otherwise). */
export function runCliAsync(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli.mjs'), ...args]);
    const out: Buffer[] = [], err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

export interface InspectJson {
  model: { folder: string; architecture: string };
  backend: string;
  tokens: Array<{ id: number; text: string; start: number; end: number; special: boolean }>;
  attention: Array<{ name: string; kind: string; layer: number; heads: number; queries: number; keys: number; weights: number[][][] }>;
}

/** `inspect` without blocking the test worker (runs that take seconds, or several at once). */
export async function inspectAsync(model: string, text: string, extra: string[] = []): Promise<InspectJson> {
  const r = await runCliAsync(['inspect', '--model', model, '--text', text, '--json', ...extra]);
  if (r.status !== 0) throw new Error(`CLI exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as InspectJson;
}

/** Runs `inspect --json` and parses the result; fails with the CLI's stderr. */
export function inspect(model: string, text: string, extra: string[] = []): InspectJson {
  const r = runCli(['inspect', '--model', model, '--text', text, '--json', ...extra]);
  if (r.status !== 0) throw new Error(`CLI exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as InspectJson;
}
