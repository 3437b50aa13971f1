/**
 * Writes exports to disk for the CLI and the extension host: every byte goes to a temporary
 * `.part` file next to the target, renamed over it only when the whole export succeeded, so a
 * failed or cancelled export leaves no partial file behind (and never a damaged old one).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ArchiveOptions, type ByteSink, writeArchive } from '../core/export/archive';
import { type ExportRun, numpyEntries } from '../core/export/numpyExport';
import { type ReportRun, htmlReportChunks } from '../core/export/htmlReport';
import { writeJson } from '../core/jsonStream';

/** The file types a run exports to as data, by extension. */
export const DATA_EXPORTS = ['.json', '.npz'] as const;
/** The file types a figure or report exports to. */
export const FIGURE_EXPORTS = ['.svg', '.png', '.html'] as const;

/** Writes `file` through `write`, atomically; returns the bytes written. */
export async function writeAtomically(file: string, write: (sink: ByteSink) => Promise<void>): Promise<number> {
  const part = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.part`);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(part, 'w');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `the folder ${path.dirname(file)} does not exist` : code === 'EACCES' || code === 'EPERM' ? `no permission to write in ${path.dirname(file)}` : (e as Error).message;
    throw new Error(`cannot write ${file}: ${why}`);
  }
  let bytes = 0;
  try {
    await write(async (chunk) => {
      // A chunk may be larger than one write takes: write until all of it is on disk.
      for (let done = 0; done < chunk.byteLength; ) done += (await handle.write(chunk, done)).bytesWritten;
      bytes += chunk.byteLength;
    });
    await handle.close();
    await fs.promises.rename(part, file);
    return bytes;
  } catch (e) {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(part, { force: true });
    throw e;
  }
}

/** What a data export is made from: the JSON document (built on demand) and the run's full-precision layers. */
export interface DataSources {
  json(): unknown;
  run: ExportRun;
}

/** Writes the run to `file` as JSON (`.json`) or a NumPy archive (`.npz`); returns the bytes written. */
export function exportData(file: string, sources: DataSources, options: ArchiveOptions = {}): Promise<number> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') {
    const encoder = new TextEncoder();
    return writeAtomically(file, (sink) => writeJson(sources.json(), (chunk) => {
      options.signal?.throwIfAborted();
      return sink(encoder.encode(chunk));
    }));
  }
  if (ext === '.npz') return writeAtomically(file, (sink) => writeArchive(numpyEntries(sources.run), sink, options));
  return Promise.reject(new Error(`cannot export to ${path.basename(file)}: the data exports are ${DATA_EXPORTS.join(' and ')}`));
}

/** Writes a text file (an SVG figure, an HTML report) atomically; returns the bytes written. */
export function exportText(file: string, text: string): Promise<number> {
  return writeAtomically(file, (sink) => Promise.resolve(sink(new TextEncoder().encode(text))));
}

/** Writes the standalone HTML report of `run` (with the report page's bundle `script`) to `file`, streamed and atomic. */
export function exportReport(file: string, run: ReportRun, script: string, options: { signal?: AbortSignal } = {}): Promise<number> {
  const encoder = new TextEncoder();
  return writeAtomically(file, async (sink) => {
    for await (const chunk of htmlReportChunks(run, script)) {
      options.signal?.throwIfAborted();
      await sink(encoder.encode(chunk));
    }
  });
}
