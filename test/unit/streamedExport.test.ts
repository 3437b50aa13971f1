// A data export of a long input: each layer's weights are made when the archive reaches them
// (computed from queries and keys, or read back), one at a time, and the archive holds the same
// bytes as one made from every layer at once.
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import type { AttentionLayer } from '../../src/core/attention';
import { writeArchive } from '../../src/core/export/archive';
import { type ExportRun, numpyEntries } from '../../src/core/export/numpyExport';

const layers: AttentionLayer[] = [0, 1, 2].map((i) => ({ name: `attentions.${i}`, kind: 'self', layer: i, heads: 2, queries: 3, keys: 3, data: Float32Array.from({ length: 18 }, (_, j) => i * 100 + j / 7) }));
const run: ExportRun = { model: { label: 'M' }, text: 'a b c', tokens: ['a', 'b', 'c'].map((t, i) => ({ id: i + 5, text: t, start: 2 * i, end: 2 * i + 1, special: false })), layers };

async function archive(r: ExportRun, events?: string[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await writeArchive(numpyEntries(r), (chunk) => {
    events?.push(`wrote ${chunk.byteLength}`);
    parts.push(chunk.slice());
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.byteLength), 0);
  return out;
}

describe('a data export whose layers are read as they are written', () => {
  it('reads each layer once, in turn, after the previous one went to the sink, and gives the same archive', async () => {
    const events: string[] = [];
    const empty = layers.map((l) => ({ ...l, data: new Float32Array(0) }));
    const streamed = await archive({ ...run, layers: empty, readLayer: async (l) => (events.push(`read ${l.layer}`), layers[l.layer].data) }, events);
    const reads = events.flatMap((e, i) => (e.startsWith('read') ? [i] : []));
    expect(events.filter((e) => e.startsWith('read'))).toEqual(['read 0', 'read 1', 'read 2']);
    // Between two reads the earlier layer's bytes went out: no more than one layer is held.
    for (let k = 1; k < reads.length; k++) expect(events.slice(reads[k - 1], reads[k]).some((e) => e.startsWith('wrote'))).toBe(true);
    const whole = unzipSync(await archive(run));
    const lazy = unzipSync(streamed);
    expect(Object.keys(lazy).sort()).toEqual(Object.keys(whole).sort());
    for (const name of Object.keys(whole)) expect([name, Buffer.from(lazy[name]).equals(Buffer.from(whole[name]))]).toEqual([name, true]);
  });

  it('fails, naming the count, when a layer comes back with other than its number of weights', async () => {
    const short = { ...run, readLayer: async (l: AttentionLayer) => l.data.subarray(1) };
    await expect(archive(short)).rejects.toThrow('npy: 17 float32 values made where 18 were announced');
  });
});
