// A stand-in for dist/nativeWorker.js that answers NativeEngines' protocol without onnxruntime, so
// that the host's scheduling (openings and runs begun ahead, drops, a worker that ends) is tested
// in milliseconds. It answers in order, as the real worker does. A model named `…?open-ms=N`
// takes N ms to open; a run takes 20 ms and its one layer has as many queries as ids; a run whose
// first id is -1 runs the worker out of memory (it throws as a worker at its heap limit does).
const { parentPort } = require('node:worker_threads');

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let queue = Promise.resolve();
parentPort.on('message', (m) => {
  queue = queue.then(async () => {
    if (m.type === 'open') {
      await wait(Number(/open-ms=(\d+)/.exec(m.open.model.onnxPath)?.[1] ?? 10));
      parentPort.postMessage({ type: 'opened', id: m.id, opened: { backend: 'native', hasLogits: false } });
    } else if (m.type === 'run') {
      await wait(20);
      if (m.input.ids[0] === -1) setImmediate(() => { throw new Error('Worker terminated due to reaching memory limit: JS heap out of memory'); });
      else parentPort.postMessage({ type: 'ran', id: m.id, result: { layers: [{ name: 'attentions.0', heads: 1, queries: m.input.ids.length, keys: m.input.ids.length, data: new Float32Array(m.input.ids.length ** 2) }], millis: 20, warnings: [], ranAt: Date.now() } });
    } else if (m.type === 'dispose') parentPort.postMessage({ type: 'disposed', id: m.id });
    else if (m.type === 'exit') process.exit(0);
  });
});
