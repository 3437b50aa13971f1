// The README documents what package.json declares: every setting with its default, and every command.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, { default: unknown }> }; commands: Array<{ command: string; title: string; category: string }> };
};

/** Rows of the README's settings table: name → default as written. */
function settingsTable(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of readme.matchAll(/^\| `(attentionLens\.[\w.]+)` \| ([^|]+) \|/gm)) rows.set(m[1], m[2].trim());
  return rows;
}

/** How the README writes a default: `value` in backticks, `[]` for an empty list, or "empty". */
function written(v: unknown): string {
  if (v === '') return 'empty';
  return `\`${Array.isArray(v) || typeof v === 'object' ? JSON.stringify(v) : String(v)}\``;
}

describe('README', () => {
  it('lists every setting with the default package.json declares', () => {
    const table = settingsTable();
    const declared = pkg.contributes.configuration.properties;
    expect([...table.keys()].sort()).toEqual(Object.keys(declared).sort());
    for (const [name, p] of Object.entries(declared)) expect([name, table.get(name)]).toEqual([name, written(p.default)]);
  });

  it('names every command by its title', () => {
    for (const c of pkg.contributes.commands) expect([c.command, readme.includes(c.title.replace(/…$/, ''))]).toEqual([c.command, true]);
  });
});
