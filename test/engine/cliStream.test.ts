// `inspect --json` streams: a document of hundreds of megabytes comes out piece by piece, as
// JSON.stringify would print it, in memory that does not grow with it, at the pace of a slow
// reader, and a reader that goes away (`| head`) ends the CLI quietly.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from './cli';

const MASKED = path.join(ROOT, 'media/models/tiny-masked'); // 4 layers × 6 heads, 512 tokens, every weight non-zero
const LLAMA = path.join(FIXTURES, 'models/llama-attn'); // 2 layers × 4 heads, 2048 tokens
const GPT2 = path.join(FIXTURES, 'models/gpt2-attn');
const MB = 1 << 20;

let dir: string;
let longText: string;
let hook: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-stream-'));
  // Long enough for every model's limit (the CLI keeps the first tokens and warns).
  longText = path.join(dir, 'long.txt');
  fs.writeFileSync(longText, fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8').repeat(3));
  // Preloaded into the CLI: its peak resident memory, written where the test can read it.
  hook = path.join(dir, 'peak.cjs');
  fs.writeFileSync(hook, "process.on('exit', () => require('fs').writeFileSync(process.env.PEAK_FILE, String(process.resourceUsage().maxRSS * 1024)));\n");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Peak resident set size of the CLI process, in bytes. */
  peak: number;
}

/**
 * Runs the built CLI with `args`. `stdout` is a file path to write to, or a reader that gets the
 * child's stdout stream (to read as slowly as it likes, or to close early).
 */
function runCli(args: string[], stdout: string | ((s: Readable) => void)): Promise<Run> {
  const peakFile = path.join(dir, `peak-${Math.random().toString(36).slice(2)}`);
  const fd = typeof stdout === 'string' ? fs.openSync(stdout, 'w') : undefined;
  const child = spawn(process.execPath, ['--require', hook, path.join(ROOT, 'dist/cli.mjs'), ...args], {
    env: { ...process.env, PEAK_FILE: peakFile },
    stdio: ['ignore', fd ?? 'pipe', 'pipe'],
  });
  if (fd !== undefined) fs.closeSync(fd);
  else (stdout as (s: Readable) => void)(child.stdout!);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      const peak = fs.existsSync(peakFile) ? Number(fs.readFileSync(peakFile, 'utf8')) : NaN;
      resolve({ status, signal, stderr, peak });
    });
  });
}

const inspectArgs = (model: string, extra: string[] = []) => ['inspect', '--model', model, '--text-file', longText, ...extra];

describe('inspect --json streams', () => {
  it('prints exactly the document JSON.stringify would, for 512 tokens of a 4 × 6-head model', async () => {
    const out = path.join(dir, 'masked.json');
    const r = await runCli(inspectArgs(MASKED, ['--json']), out);
    expect(r.status, r.stderr).toBe(0);
    const text = fs.readFileSync(out, 'utf8');
    fs.rmSync(out);
    expect(text.length).toBeGreaterThan(100 * MB);
    const doc = JSON.parse(text) as { tokens: unknown[]; attention: Array<Record<string, unknown> & { weights: number[][][] }> };
    // The non-streamed text of the same document: same keys in the same order, every number as JSON.stringify prints it.
    expect(JSON.stringify(doc) + '\n' === text).toBe(true); // not toBe(text): a failure would print 140 MB
    expect(Object.keys(doc)).toEqual(['model', 'backend', 'tokens', 'attention']);
    expect(doc.tokens).toHaveLength(512);
    expect(doc.attention.map((a) => a.name)).toEqual([0, 1, 2, 3].map((l) => `attentions.${l}`));
    for (const a of doc.attention) {
      expect(Object.keys(a)).toEqual(['name', 'kind', 'layer', 'heads', 'queries', 'keys', 'weights']);
      expect([a.heads, a.queries, a.keys]).toEqual([6, 512, 512]);
      expect(a.weights).toHaveLength(6);
      expect(a.weights.map((h) => h.length)).toEqual(Array(6).fill(512));
      const rows = a.weights.flat();
      expect(rows.filter((row) => row.length !== 512)).toEqual([]);
      expect(rows.filter((row) => Math.abs(row.reduce((s, v) => s + v, 0) - 1) > 1e-4)).toEqual([]);
    }
  });

  it('keeps pace with a slow reader in memory that does not grow with the output (400 MB of JSON)', async () => {
    // The same run without --json: the model, its inputs and its weights, but no JSON.
    const plain = await runCli(inspectArgs(LLAMA), path.join(dir, 'plain.txt'));
    expect(plain.status, plain.stderr).toBe(0);

    // A reader that stalls for 3 s at the start, then takes at most about 40 MB/s: a writer that did
    // not wait for the pipe to drain would hold what the reader has not taken yet in memory.
    let bytes = 0;
    let head = '';
    let tail = '';
    const json = await runCli(inspectArgs(LLAMA, ['--json']), (stdout) => {
      let sincePause = 0;
      const pause = (ms: number) => {
        stdout.pause();
        setTimeout(() => stdout.resume(), ms);
      };
      stdout.on('data', (d: Buffer) => {
        if (bytes === 0) pause(3000);
        if (head.length < 64) head += d.toString('latin1', 0, 64);
        tail = (tail + d.toString('latin1', Math.max(0, d.length - 64))).slice(-64);
        bytes += d.length;
        sincePause += d.length;
        if (sincePause >= MB) {
          sincePause = 0;
          pause(25);
        }
      });
    });
    expect(json.status, json.stderr).toBe(0);
    expect(head.startsWith('{"model":{"folder":')).toBe(true);
    expect(tail.endsWith(']]]}]}\n')).toBe(true);
    expect(bytes).toBeGreaterThan(300 * MB);
    // The old CLI (one object, one JSON.stringify) peaked about 6× the output above the plain run (+2.4 GB).
    const growth = json.peak - plain.peak;
    console.log(`--json: ${(bytes / MB).toFixed(0)} MB of JSON; peak RSS ${(json.peak / MB).toFixed(0)} MB, without --json ${(plain.peak / MB).toFixed(0)} MB`);
    expect(growth).toBeLessThan(bytes / 2);
  });

  it('ends quietly with status 0 when the reader closes the pipe early (| head)', async () => {
    let got = 0;
    const r = await runCli(inspectArgs(GPT2, ['--json']), (stdout) => {
      stdout.once('data', (d: Buffer) => {
        got = d.length;
        stdout.destroy();
      });
    });
    expect(got).toBeGreaterThan(0);
    expect([r.status, r.signal]).toEqual([0, null]);
    expect(r.stderr).not.toMatch(/Error|EPIPE|\n\s+at /);
  });

  it.skipIf(!fs.existsSync('/dev/full'))('still fails, with the message, on other write errors (a full disk)', async () => {
    const r = await runCli(['inspect', '--model', GPT2, '--text', 'the cat sat on the mat', '--json'], '/dev/full');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^attention-lens: .*ENOSPC/m);
  });
});
