// The README and the user guide in docs/ document what the extension declares: every setting with
// its default (docs/settings.md), every command by its title, every CLI flag (docs/cli.md); every
// link between them and every picture they show points at a file that exists; the README stays a
// landing page.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMPARE_USAGE, DOWNLOAD_USAGE, GENERATE_USAGE, USAGE } from '../../src/cliHelp';

const ROOT = path.resolve(__dirname, '../..');
const DOCS = path.join(ROOT, 'docs');
const read = (file: string) => fs.readFileSync(file, 'utf8');
const readme = read(path.join(ROOT, 'README.md'));
const pages = new Map(fs.readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => [f, read(path.join(DOCS, f))]));
const everything = [readme, ...pages.values()].join('\n');
const pkg = JSON.parse(read(path.join(ROOT, 'package.json'))) as {
  contributes: { configuration: { properties: Record<string, { default: unknown }> }; commands: Array<{ command: string; title: string; category: string }> };
};

/** Rows of the settings page's table: name → default as written. */
function settingsTable(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of (pages.get('settings.md') ?? '').matchAll(/^\| `(attentionLens\.[\w.]+)` \| ([^|]+) \|/gm)) rows.set(m[1], m[2].trim());
  return rows;
}

/** How the docs write a default: `value` in backticks, `[]` for an empty list, or "empty". */
function written(v: unknown): string {
  if (v === '') return 'empty';
  return `\`${Array.isArray(v) || typeof v === 'object' ? JSON.stringify(v) : String(v)}\``;
}

/** Every Markdown link and image target of `text` that is a relative path (no scheme), without its anchor. */
function localTargets(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/i.test(t) && !t.startsWith('#')).map((t) => t.split('#')[0]);
}

describe('README and docs/', () => {
  it('list every setting with the default package.json declares', () => {
    const table = settingsTable();
    const declared = pkg.contributes.configuration.properties;
    expect([...table.keys()].sort()).toEqual(Object.keys(declared).sort());
    for (const [name, p] of Object.entries(declared)) expect([name, table.get(name)]).toEqual([name, written(p.default)]);
  });

  it('name every command by its title', () => {
    for (const c of pkg.contributes.commands) expect([c.command, everything.includes(c.title.replace(/…$/, ''))]).toEqual([c.command, true]);
  });

  it('document every flag of every CLI command in docs/cli.md', () => {
    const cli = pages.get('cli.md') ?? '';
    const flags = new Set([USAGE, COMPARE_USAGE, GENERATE_USAGE, DOWNLOAD_USAGE].flatMap((u) => u.match(/--[a-z][a-z-]*/g) ?? []));
    expect(flags.size).toBeGreaterThan(20);
    expect([...flags].filter((f) => !cli.includes(`\`${f}`))).toEqual([]);
  });

  it('link only to files that exist, and show only pictures that exist', () => {
    const missing: string[] = [];
    for (const [from, text] of [[ROOT, readme] as const, ...[...pages.values()].map((t) => [DOCS, t] as const)]) {
      for (const target of localTargets(text)) if (!fs.existsSync(path.resolve(from, target))) missing.push(`${path.relative(ROOT, from) || '.'} → ${target}`);
    }
    expect(missing).toEqual([]);
    // Every page is reachable from the README.
    expect([...pages.keys()].filter((p) => !readme.includes(`(docs/${p}`))).toEqual([]);
  });

  it('keep the README a landing page: about 120 lines, every use with a picture', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(130);
    const pictures = localTargets(readme).filter((t) => t.endsWith('.png'));
    expect(pictures.length).toBeGreaterThanOrEqual(8);
  });
});
