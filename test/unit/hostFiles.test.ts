// Model and runtime bytes sent from the host to the panel by message: what the host serves (only
// granted files, in order, a replaced file under a new id) and how the page puts them together.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, type FileChunk, HostFiles } from '../../src/panels/hostFiles';
import { HostFileReader } from '../../webview/panel/hostFiles';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-hostfiles-'));

/** Sends every chunk of `id` from `files` to `reader`, as the panel and the page do. */
async function relay(files: HostFiles, reader: HostFileReader, id: string): Promise<FileChunk[]> {
  const sent: FileChunk[] = [];
  await files.stream(id, async (c) => {
    sent.push(c);
    reader.chunk(c.fileId, c.offset, c.total, c.data);
  });
  return sent;
}

describe('HostFiles and HostFileReader', () => {
  it('moves a file larger than one chunk intact, in order, with progress', async () => {
    const dir = tmp();
    const file = path.join(dir, 'model.onnx');
    const bytes = new Uint8Array(CHUNK_BYTES * 2 + 12345);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 255;
    fs.writeFileSync(file, bytes);
    const files = new HostFiles();
    const id = files.grant(file);
    const asked: string[] = [];
    const reader = new HostFileReader((fileId) => asked.push(fileId));
    const progress: number[] = [];
    const read = reader.read(id, 'model.onnx', (loaded) => progress.push(loaded));
    const shared = reader.read(id, 'model.onnx');
    expect(asked).toEqual([id]); // two reads of one file ask once
    const sent = await relay(files, reader, id);
    expect(sent.map((c) => c.offset)).toEqual([0, CHUNK_BYTES, 2 * CHUNK_BYTES]);
    expect(progress).toEqual([CHUNK_BYTES, 2 * CHUNK_BYTES, bytes.byteLength]);
    const got = await read;
    expect(got.byteLength).toBe(bytes.byteLength);
    expect(Buffer.compare(got, bytes)).toBe(0);
    expect(await shared).toBe(got);
    fs.rmSync(dir, { recursive: true });
  });

  it('keeps the id of an unchanged file and gives a replaced file a new one', async () => {
    const dir = tmp();
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, 'one');
    const files = new HostFiles();
    const a = files.grant(file);
    expect(files.grant(file)).toBe(a);
    fs.writeFileSync(file, 'a longer replacement');
    const b = files.grant(file);
    expect(b).not.toBe(a);
    const reader = new HostFileReader(() => undefined);
    const read = reader.read(b, 'model.onnx');
    await relay(files, reader, b);
    expect(new TextDecoder().decode(await read)).toBe('a longer replacement');
    fs.rmSync(dir, { recursive: true });
  });

  it('serves nothing it did not grant, and reports a file that is gone', async () => {
    const files = new HostFiles();
    await expect(files.stream('made-up', async () => undefined)).rejects.toThrow(/not given/);
    const dir = tmp();
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, 'x');
    const id = files.grant(file);
    fs.rmSync(dir, { recursive: true });
    await expect(files.stream(id, async () => undefined)).rejects.toThrow(/ENOENT/);
  });

  it('fails a read on chunks out of order or a host failure, with a message that names the file', async () => {
    const reader = new HostFileReader(() => undefined);
    const a = reader.read('a', 'onnx/model.onnx');
    reader.chunk('a', 4, 8, new Uint8Array(4));
    await expect(a).rejects.toThrow(/onnx\/model\.onnx could not be read \(onnx\/model\.onnx arrived out of order/);
    const b = reader.read('b', 'onnx/model.onnx');
    reader.fail('b', 'ENOENT: no such file');
    await expect(b).rejects.toThrow(/could not be read \(ENOENT: no such file\)/);
    // A failed read is not kept: asking again asks the host again.
    const asked: string[] = [];
    const again = new HostFileReader((id) => asked.push(id));
    void again.read('c', 'x').catch(() => undefined);
    again.fail('c', 'gone');
    void again.read('c', 'x').catch(() => undefined);
    expect(asked).toEqual(['c', 'c']);
  });
});
