/**
 * The native engine's worker thread (dist/nativeWorker.js): opens, runs and releases engines as
 * the host asks, one request at a time (onnxruntime-node's run() blocks this thread, never the
 * extension host's). Replies once per request; results' buffers are transferred, not copied.
 */
import { wallClock } from '../core/timing';
import { parentPort } from 'node:worker_threads';
import type { KvCache } from '../core/engine/attentionEngine';
import type { ModelEngine } from '../core/engine/splitEngine';
import { EngineError } from '../core/engine/engineError';
import { type FromNativeWorker, type ToNativeWorker, resultBuffers } from '../core/protocol/engine';
import { openNativeEngine } from './nativeEngine';

const port = parentPort;
if (!port) throw new Error('nativeWorker runs as a worker thread');
const engines = new Map<number, ModelEngine>();
/**
 * Each engine's latest key/value cache, by handle: a generation continues its last run, so one per
 * engine is kept (its tensors stay here; the page holds the handle).
 */
const caches = new Map<number, { handle: number; cache: KvCache }>();
let handles = 0;
/** Requests in arrival order: a run waits for the session it needs to have opened. */
let queue = Promise.resolve();

const reply = (m: FromNativeWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

async function handle(m: ToNativeWorker): Promise<void> {
  try {
    switch (m.type) {
      case 'open': {
        const { engine, opened } = await openNativeEngine(m.open);
        await engines.get(m.engine)?.dispose(); // opened again: one session per id
        engines.set(m.engine, engine);
        return reply({ type: 'opened', id: m.id, opened });
      }
      case 'run': {
        const engine = engines.get(m.engine);
        if (!engine) throw new EngineError('The native engine no longer holds this model (it was released or restarted): run again.', 'worker-died');
        const kept = caches.get(m.engine);
        if (m.input.past !== undefined && kept?.handle !== m.input.past) throw new EngineError('The native engine no longer holds this key/value cache (a newer run replaced it): generate again.', 'run-failed');
        const past = m.input.past !== undefined ? kept!.cache : undefined;
        const out = await engine.run({ ids: m.input.ids, decoderIds: m.input.decoderIds, pixelValues: m.input.pixelValues, past }, { mechanismOf: m.mechanismOf, logits: m.input.logits, cache: m.input.cache });
        caches.delete(m.engine);
        const cache = out.cache && { handle: ++handles, length: out.cache.length };
        if (cache) caches.set(m.engine, { handle: cache.handle, cache: out.cache! });
        const result = { layers: out.layers, millis: out.millis, ranAt: wallClock(), warnings: out.warnings, ...(out.mechanism ? { mechanism: out.mechanism } : {}), ...(out.queryKeys ? { queryKeys: out.queryKeys } : {}), ...(out.logits ? { logits: out.logits } : {}), ...(cache ? { cache } : {}) };
        return reply({ type: 'ran', id: m.id, result }, resultBuffers(result));
      }
      case 'dispose': {
        const engine = engines.get(m.engine);
        engines.delete(m.engine);
        caches.delete(m.engine);
        await engine?.dispose();
        return reply({ type: 'disposed', id: m.id });
      }
    }
  } catch (e) {
    reply({ type: 'failed', id: m.id, message: e instanceof Error ? e.message : String(e), code: e instanceof EngineError ? e.code : undefined });
  }
}

/** Set once the host asked this thread to end: requests still queued are not started. */
let leaving = false;

port.on('message', (m: ToNativeWorker) => {
  if (m.type === 'exit') leaving = true;
  queue = queue.then(() => (m.type === 'exit' ? leave() : leaving ? undefined : handle(m)));
});

/**
 * Ends this thread once the native call in hand has returned, every session released first. The
 * host never terminates it: a thread ended while onnxruntime-node's asynchronous work is in flight
 * (a run, a session being created) aborts the whole process when that work completes into an
 * environment that is gone ('terminate called after throwing an instance of Napi::Error').
 */
async function leave(): Promise<void> {
  for (const engine of engines.values()) await engine.dispose().catch(() => undefined);
  engines.clear();
  caches.clear();
  process.exit(0);
}
