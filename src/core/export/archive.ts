/**
 * A ZIP archive (stored, not compressed: attention weights barely compress and NumPy reads both)
 * written entry by entry and chunk by chunk through a sink that may apply backpressure, so a
 * `.npz` of hundreds of megabytes never exists as one buffer. Cancellable between chunks. Pure:
 * the caller decides where the bytes go.
 */
import { Zip, ZipPassThrough } from 'fflate';
import type { Chunk } from './npy';

/** One file of the archive, as byte chunks in order (those made when written are made one at a time, when reached). */
export interface ArchiveEntry {
  name: string;
  chunks: readonly Chunk[];
}

/** Receives the archive's bytes in order; a returned promise is awaited before more are made. */
export type ByteSink = (chunk: Uint8Array) => void | Promise<void>;

export interface ArchiveOptions {
  /** Checked between chunks: when aborted, writing stops with the signal's reason. */
  signal?: AbortSignal;
  /** Bytes of entry data written so far, of `total`. */
  onProgress?(written: number, total: number): void;
}

/** Chunks larger than this are handed to the ZIP writer in slices, so progress and cancelling stay fine-grained. */
const SLICE = 4 << 20;

/** Writes `entries` as a ZIP archive through `sink`. */
export async function writeArchive(entries: readonly ArchiveEntry[], sink: ByteSink, options: ArchiveOptions = {}): Promise<void> {
  const out: Uint8Array[] = [];
  let failure: Error | undefined;
  const zip = new Zip((err, data) => {
    if (err) failure = err;
    else out.push(data);
  });
  const flush = async () => {
    if (failure) throw failure;
    while (out.length > 0) {
      const pending = sink(out.shift()!);
      if (pending) await pending;
    }
  };
  const total = entries.reduce((n, e) => n + e.chunks.reduce((m, c) => m + c.byteLength, 0), 0);
  let written = 0;
  for (const entry of entries) {
    const file = new ZipPassThrough(entry.name);
    zip.add(file);
    if (entry.chunks.length === 0) file.push(new Uint8Array(0), true);
    for (const [c, chunk] of entry.chunks.entries()) {
      options.signal?.throwIfAborted();
      const bytes = chunk instanceof Uint8Array ? chunk : await chunk.read();
      const slices = Math.max(1, Math.ceil(bytes.byteLength / SLICE));
      for (let i = 0; i < slices; i++) {
        options.signal?.throwIfAborted();
        const slice = bytes.subarray(i * SLICE, (i + 1) * SLICE);
        file.push(slice, c === entry.chunks.length - 1 && i === slices - 1);
        written += slice.byteLength;
        await flush();
        options.onProgress?.(written, total);
      }
    }
  }
  zip.end();
  await flush();
}
