// The host's scheduling of the native engine, on a stand-in worker (fakeNativeWorker.cjs: the same
// messages, no onnxruntime): what runs ahead of a panel's request, what is dropped when nobody
// takes it, and what a worker that ends leaves behind. The real worker's runs are tested in
// test/engine/nativeWorker.test.ts.
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeInput, NativeOpen } from '../../src/core/protocol/engine';
import { NativeEngines } from '../../src/native/nativeEngines';

const SCRIPT = path.join(__dirname, 'fakeNativeWorker.cjs');
const model = (name: string, openMs = 10): NativeOpen => ({ model: { onnxPath: `/models/${name}?open-ms=${openMs}`, label: name, external: [] }, backend: 'native' });
const input = (...ids: number[]) => (): NativeInput => ({ ids: Int32Array.from(ids) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The page's request reaches the host a little after the host heard of it. */
const pageTurn = () => sleep(5);

let engines: NativeEngines | undefined;
afterEach(async () => {
  await engines?.dispose();
  engines = undefined;
});

/** Engines on the stand-in worker, with what the host sent it ('run 3,4': a run of those ids), and how many runs ahead it holds. */
function watched() {
  const e = new NativeEngines(SCRIPT);
  engines = e;
  const sent: string[] = [];
  const request = (e as unknown as { request(m: { type: string; input?: NativeInput }, ...rest: unknown[]): Promise<unknown> }).request.bind(e);
  Object.assign(e, { request: (m: { type: string; input?: NativeInput }, ...rest: unknown[]) => (sent.push(m.input ? `${m.type} ${Array.from(m.input.ids).join(',')}` : m.type), request(m, ...rest)) });
  const held = () => (e as unknown as { runsAhead: Map<number, unknown> }).runsAhead.size;
  return { e, sent, held };
}

describe('NativeEngines: runs begun ahead', () => {
  it('runs the latest request\'s tokens when asked again before the model is open, or after, and says the result ran ahead', async () => {
    const { e, sent } = watched();
    e.openAhead(model('a', 50), { input: input(1, 2) });
    e.openAhead(model('a', 50), { input: input(3, 4, 5) }); // still opening
    const { engine } = await e.open(model('a', 50));
    await pageTurn();
    const result = await e.run(engine, input(3, 4, 5)());
    expect(sent).toEqual(['open', 'run 3,4,5']);
    expect([result.layers[0].queries, result.ranAhead]).toEqual([3, true]);
    const again = await e.run(engine, input(3, 4, 5)()); // taken once: the next run is the page's own
    expect(sent).toEqual(['open', 'run 3,4,5', 'run 3,4,5']);
    expect(again.ranAhead).toBeUndefined();

    sent.length = 0;
    e.openAhead(model('b'), { input: input(1, 2) });
    await sleep(60); // open, and the first request's run sent
    e.openAhead(model('b'), { input: input(6) }); // open already: this request's run goes after it
    const b = await e.open(model('b'));
    await pageTurn();
    expect((await e.run(b.engine, input(6)())).ranAhead).toBe(true);
    expect(sent).toEqual(['open', 'run 1,2', 'run 6']);
  });

  it('runs ahead on an engine already open: only the latest of a burst, once the worker is idle; never after the engine\'s own run or release', async () => {
    const { e, sent, held } = watched();
    const { engine } = await e.open(model('a'));
    e.runAhead(engine, input(1, 2)());
    e.runAhead(engine, input(3)()); // a newer request in the same turn: only it goes
    await pageTurn();
    expect((await e.run(engine, input(3)())).ranAhead).toBe(true);
    expect(sent).toEqual(['open', 'run 3']);
    // While the worker is busy, requests wait; the latest goes when it is idle.
    const busy = e.run(engine, input(9)());
    await pageTurn();
    for (const ids of [[4], [5], [6]]) e.runAhead(engine, input(...ids)());
    await busy;
    await pageTurn();
    expect((await e.run(engine, input(6)())).ranAhead).toBe(true);
    expect(sent.slice(2)).toEqual(['run 9', 'run 6']);
    // The engine's own plain run comes first: it runs, and nothing more.
    e.runAhead(engine, input(7)());
    expect((await e.run(engine, input(7)())).ranAhead).toBeUndefined();
    e.runAhead(engine, input(8)());
    await pageTurn();
    expect((await e.run(engine, input(5)())).ranAhead).toBeUndefined(); // asked another: run anew
    expect(sent.slice(4)).toEqual(['run 7', 'run 8', 'run 5']);
    // A mechanism run, or a generation's step, is not the run begun ahead: they leave it.
    e.runAhead(engine, input(2)());
    await pageTurn();
    expect((await e.run(engine, input(2)(), ['attentions.0'])).ranAhead).toBeUndefined();
    expect((await e.run(engine, { ...input(2)(), cache: true })).ranAhead).toBeUndefined();
    expect((await e.run(engine, input(2)())).ranAhead).toBe(true);
    expect(sent.slice(7)).toEqual(['run 2', 'run 2', 'run 2']);
    // Released (the panel took an opening and closed at once): nothing goes, nothing is held.
    e.runAhead(engine, input(1)());
    await e.release(engine);
    e.runAhead(engine, input(1)());
    await pageTurn();
    expect(sent.slice(10)).toEqual(['dispose']);
    expect(held()).toBe(0);
  });

  it('says what became of each run ahead: its result, or nothing where it did not go; one not kept is the caller\'s alone', async () => {
    const { e, sent, held } = watched();
    const { engine } = await e.open(model('a'));
    const replaced = e.runAhead(engine, input(1)(), { keep: false });
    const latest = e.runAhead(engine, input(2, 3)(), { keep: false });
    expect(await replaced).toBeUndefined();
    expect([(await latest)?.layers[0].queries, (await latest)?.ranAhead]).toEqual([2, true]);
    expect(held()).toBe(0); // not kept: the engine's run of the same input runs anew
    expect((await e.run(engine, input(2, 3)())).ranAhead).toBeUndefined();
    const cancelled = e.runAhead(engine, input(4)(), { keep: false });
    const own = e.run(engine, input(5)()); // the engine's own run first
    expect(await cancelled).toBeUndefined();
    await own;
    const released = e.runAhead(engine, input(4)(), { keep: false });
    await e.release(engine);
    expect(await released).toBeUndefined();
    expect(sent).toEqual(['open', 'run 2,3', 'run 2,3', 'run 5', 'dispose']);
    // Held back while the worker is busy, and the worker stopped: it did not go (nobody waits forever).
    const c = await e.open(model('c'));
    const busy = e.run(c.engine, input(9)()).catch(() => 'failed');
    const stopped = e.runAhead(c.engine, input(1)(), { keep: false });
    await pageTurn();
    void e.stop('it was stopped');
    expect(await stopped).toBeUndefined();
    expect(await busy).toBe('failed');
    // A failure reaches whoever waits.
    const b = await e.open(model('b'));
    await expect(e.runAhead(b.engine, input(-1)(), { keep: false })).rejects.toThrow(/out of memory/);
  });

  it('runs nothing on an opening its timer released before it was open, and releases it; a second request keeps it longer', async () => {
    const { e, sent } = watched();
    e.openAhead(model('slow', 200), { input: input(1, 2), keepMs: 20 });
    await sleep(400);
    expect(sent).toEqual(['open', 'dispose']);
    expect((await e.open(model('slow', 200))).engine).toBe(2); // opened anew
    // Asked again meanwhile, an opening is kept from that request on.
    e.openAhead(model('b'), { keepMs: 150 });
    await sleep(100);
    e.openAhead(model('b'), { keepMs: 150 });
    await sleep(100);
    expect((await e.open(model('b'))).engine).toBe(3); // taken, 200 ms after it began
    expect(sent).toEqual(['open', 'dispose', 'open', 'open']);
  });

  it('runs nothing on an opening taken and released at once (its panel closed as it opened)', async () => {
    const { e, sent } = watched();
    e.openAhead(model('a', 30), { input: input(1, 2) });
    await e.open(model('a', 30)).then(({ engine }) => e.release(engine));
    await pageTurn();
    expect(sent).toEqual(['open', 'dispose']);
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
    // Taken, it is no longer the droppers' (the first request's, nor a second's of the same model):
    // another opening of the same model is not dropped either.
    const first = e.openAhead(model('c'));
    const second = e.openAhead(model('c'));
    await e.open(model('c'));
    const next = e.openAhead(model('c'));
    first();
    second();
    expect((await e.open(model('c'))).engine).toBe(4);
    next();
    await sleep(20);
    expect(sent.slice(5)).toEqual(['open', 'open']);
  });

  it('forgets a run begun ahead when its engine is released before the page ran it', async () => {
    const { e, sent, held } = watched();
    e.openAhead(model('a'), { input: input(1, 2) });
    const { engine } = await e.open(model('a'));
    await pageTurn();
    expect(held()).toBe(1);
    await e.release(engine);
    expect(held()).toBe(0);
    expect(sent).toEqual(['open', 'run 1,2', 'dispose']);
  });

  it('runs anew after a stop; hands the page the failure of the run ahead that ran the worker out of memory, and of no other', async () => {
    const { e, sent } = watched();
    e.openAhead(model('a'), { input: input(1, 2) });
    const a = await e.open(model('a'));
    await pageTurn();
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

    // A run ahead queued behind the run that ran out of memory did not: it runs again on a fresh worker.
    sent.length = 0;
    const c = await e.open(model('c'));
    const big = e.run(c.engine, input(-1)()).catch((err: Error) => err.message);
    await pageTurn();
    e.runAhead(c.engine, input(1, 2)()); // the worker is busy: it waits, and the worker ends
    expect(await big).toMatch(/out of memory/);
    await pageTurn();
    expect((await e.run(c.engine, input(1, 2)())).layers[0].queries).toBe(2);
    expect(sent).toEqual(['open', 'run -1', 'open', 'run 1,2']);
  });
});
