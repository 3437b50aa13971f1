// The host's scheduling of the native engine, on a stand-in worker (fakeNativeWorker.cjs: the same
// messages, no onnxruntime): what runs ahead of a panel's first request, what is dropped when
// nobody takes it, and what a worker that ends leaves behind. The real worker's runs are tested
// in test/engine/nativeWorker.test.ts.
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeInput, NativeOpen } from '../../src/core/protocol/engine';
import { NativeEngines } from '../../src/native/nativeEngines';

const SCRIPT = path.join(__dirname, 'fakeNativeWorker.cjs');
const model = (name: string, openMs = 10): NativeOpen => ({ model: { onnxPath: `/models/${name}?open-ms=${openMs}`, label: name, external: [] }, backend: 'native' });
const input = (...ids: number[]) => (): NativeInput => ({ ids: Int32Array.from(ids) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let engines: NativeEngines | undefined;
afterEach(async () => {
  await engines?.dispose();
  engines = undefined;
});

/** Engines on the stand-in worker, with what the host sent it ('run 3,4': a run of those ids). */
function watched() {
  const e = new NativeEngines(SCRIPT);
  engines = e;
  const sent: string[] = [];
  const request = (e as unknown as { request(m: { type: string; input?: NativeInput }): Promise<unknown> }).request.bind(e);
  Object.assign(e, { request: (m: { type: string; input?: NativeInput }) => (sent.push(m.input ? `${m.type} ${Array.from(m.input.ids).join(',')}` : m.type), request(m)) });
  const held = () => (e as unknown as { runsAhead: Map<number, unknown> }).runsAhead.size;
  return { e, sent, held };
}

describe('NativeEngines: runs begun ahead', () => {
  it('runs the latest request\'s tokens when asked twice before the model is open, and says the result ran ahead', async () => {
    const { e, sent } = watched();
    e.openAhead(model('a', 50), { input: input(1, 2) });
    e.openAhead(model('a', 50), { input: input(3, 4, 5) });
    const { engine } = await e.open(model('a', 50));
    const result = await e.run(engine, input(3, 4, 5)());
    expect(sent).toEqual(['open', 'run 3,4,5']);
    expect([result.layers[0].queries, result.ranAhead]).toEqual([3, true]);
    const again = await e.run(engine, input(3, 4, 5)()); // taken once: the next run is the page's own
    expect(sent).toEqual(['open', 'run 3,4,5', 'run 3,4,5']);
    expect(again.ranAhead).toBeUndefined();
  });

  it('runs ahead on an engine already open: its next run takes the latest one begun, if it asks the same', async () => {
    const { e, sent } = watched();
    const { engine } = await e.open(model('a'));
    e.runAhead(engine, input(1, 2)());
    e.runAhead(engine, input(3)()); // a newer request: the first still runs (the worker cannot drop it), nobody takes it
    expect((await e.run(engine, input(3)())).ranAhead).toBe(true);
    e.runAhead(engine, input(4)());
    expect((await e.run(engine, input(5)())).ranAhead).toBeUndefined(); // asked another: run anew
    expect(sent).toEqual(['open', 'run 1,2', 'run 3', 'run 4', 'run 5']);
    await e.release(engine);
    e.runAhead(engine, input(1)()); // released: nothing
    expect(sent.length).toBe(6);
  });

  it('runs nothing on an opening its timer released before it was open, and releases it', async () => {
    const { e, sent } = watched();
    e.openAhead(model('slow', 200), { input: input(1, 2), keepMs: 20 });
    await sleep(400);
    expect(sent).toEqual(['open', 'dispose']);
    expect((await e.open(model('slow', 200))).engine).toBe(2); // opened anew
  });

  it('drops an opening nobody took (its panel closed): before it is open nothing runs; after, its run is released with it; once taken, nothing', async () => {
    const { e, sent, held } = watched();
    e.openAhead(model('a', 50), { input: input(1) })();
    await sleep(150);
    expect(sent).toEqual(['open', 'dispose']);
    const drop = e.openAhead(model('b'), { input: input(1, 2) });
    await sleep(100); // open, and its run ended
    expect(held()).toBe(1);
    drop();
    await sleep(20);
    expect(sent).toEqual(['open', 'dispose', 'open', 'run 1,2', 'dispose']);
    expect(held()).toBe(0);
    await expect(e.run(2, input(1, 2)())).rejects.toThrow(/never given or has released/);
    drop(); // dropped once: nothing more
    await sleep(20);
    expect(sent.length).toBe(5);
    // Taken, it is no longer the dropper's: another opening of the same model is not dropped either.
    const late = e.openAhead(model('c'));
    await e.open(model('c'));
    const next = e.openAhead(model('c'));
    late();
    expect((await e.open(model('c'))).engine).toBe(4);
    next();
    await sleep(20);
    expect(sent.slice(5)).toEqual(['open', 'open']);
  });

  it('forgets a run begun ahead when its engine is released before the page ran it', async () => {
    const { e, sent, held } = watched();
    e.openAhead(model('a'), { input: input(1, 2) });
    const { engine } = await e.open(model('a'));
    expect(held()).toBe(1);
    await e.release(engine);
    expect(held()).toBe(0);
    expect(sent).toEqual(['open', 'run 1,2', 'dispose']);
  });

  it('runs anew after a stop, but hands the page the failure of a run ahead that ran the worker out of memory', async () => {
    const { e, sent } = watched();
    e.openAhead(model('a'), { input: input(1, 2) });
    const a = await e.open(model('a'));
    await e.stop();
    const fresh = await e.run(a.engine, input(1, 2)());
    expect(fresh.ranAhead).toBeUndefined();
    expect(sent).toEqual(['open', 'run 1,2', 'open', 'run 1,2']); // opened again on a fresh worker, and run

    sent.length = 0;
    e.openAhead(model('b'), { input: input(-1, 2) });
    const b = await e.open(model('b'));
    await sleep(150); // the worker has ended before the page asks
    expect(e.running).toBe(false);
    await expect(e.run(b.engine, input(-1, 2)())).rejects.toThrow(/out of memory: select less text/);
    expect(sent).toEqual(['open', 'run -1,2']); // not loaded and run again to fail the same way
  });
});
