/**
 * Reads files the host granted (the model, the runtime's WebAssembly) through messages: the page
 * asks with `file/read`, the host answers with ordered `file/chunk`s into one buffer of the file's
 * size. Reads of the same file in flight are shared. No DOM; the channel is passed in.
 */
import { EngineError } from '../../src/core/engine/attentionEngine';

interface Pending {
  buffer?: Uint8Array;
  received: number;
  label: string;
  listeners: Array<(loaded: number, total: number) => void>;
  resolve(bytes: Uint8Array): void;
  reject(e: Error): void;
  promise: Promise<Uint8Array>;
}

/** The page's side of host file reads. */
export class HostFileReader {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly ask: (fileId: string) => void) {}

  /** The bytes of host file `fileId` (`label` names it in errors), with progress in bytes. */
  read(fileId: string, label: string, onProgress?: (loaded: number, total: number) => void): Promise<Uint8Array> {
    let p = this.pending.get(fileId);
    if (!p) {
      let resolve!: (b: Uint8Array) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<Uint8Array>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      p = { received: 0, label, listeners: [], resolve, reject, promise };
      this.pending.set(fileId, p);
      this.ask(fileId);
    }
    if (onProgress) p.listeners.push(onProgress);
    return p.promise;
  }

  /** A chunk arrived; out-of-order or mis-sized chunks fail the read rather than corrupt it. */
  chunk(fileId: string, offset: number, total: number, data: Uint8Array): void {
    const p = this.pending.get(fileId);
    if (!p) return;
    p.buffer ??= new Uint8Array(total);
    if (offset !== p.received || total !== p.buffer.byteLength || offset + data.byteLength > total) {
      return this.fail(fileId, `${p.label} arrived out of order (${offset} after ${p.received} of ${total} bytes); run again`);
    }
    p.buffer.set(data, offset);
    p.received += data.byteLength;
    for (const l of p.listeners) l(p.received, total);
    if (p.received === total) {
      this.pending.delete(fileId);
      p.resolve(p.buffer);
    }
  }

  /** The host could not read the file. */
  fail(fileId: string, message: string): void {
    const p = this.pending.get(fileId);
    if (!p) return;
    this.pending.delete(fileId);
    p.reject(new EngineError(`${p.label} could not be read (${message}). Check that the model folder still exists and is readable.`, 'corrupt-model'));
  }
}
