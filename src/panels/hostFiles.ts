/**
 * Files the host hands to a webview through messages rather than as webview resources: the page
 * learns each file's size before the bytes (progress, one buffer of the right size), a model folder
 * never has to become a `localResourceRoot` (the page can read that one file, not its neighbours),
 * and a file replaced on disk gets a new id. (Speed is no reason either way: in code-server both
 * paths cross VS Code's remote connection at a few MB/s.) Only files granted here are served,
 * under opaque ids; nothing else on disk can be asked for.
 */
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';

/** One piece of a file, as posted to the page; the last one has `offset + data.byteLength === total`. */
export interface FileChunk {
  fileId: string;
  offset: number;
  total: number;
  data: Uint8Array;
}

/** Bytes per message: large enough to amortise the round trip, small enough to keep both sides responsive. */
export const CHUNK_BYTES = 8 * 1024 * 1024;

/** The files one webview may read, by id. */
export class HostFiles {
  private readonly byId = new Map<string, string>();
  private readonly byPath = new Map<string, string>();

  /**
   * Allows the page to read `file`. The same unchanged file keeps its id, so the page reuses what it
   * read; a file replaced or rewritten since (another size or modification time) gets a new one.
   */
  grant(file: string): string {
    let version = 'missing';
    try {
      const st = fs.statSync(file);
      version = `${st.size}:${st.mtimeMs}`;
    } catch {
      /* reading it will say what is wrong */
    }
    const key = `${file}\0${version}`;
    let id = this.byPath.get(key);
    if (!id) {
      id = crypto.randomBytes(12).toString('base64url');
      this.byId.set(id, file);
      this.byPath.set(key, id);
    }
    return id;
  }

  /**
   * Streams a granted file to `post` in order, waiting for each message to be taken before the next
   * (so a 500 MB model is never all in the host's memory). Throws for ids never granted and for
   * files that cannot be read (the message says which and why).
   */
  async stream(fileId: string, post: (chunk: FileChunk) => Thenable<unknown>): Promise<void> {
    const file = this.byId.get(fileId);
    if (!file) throw new Error('the panel asked for a file it was not given');
    const handle = await fs.promises.open(file, 'r');
    try {
      const total = (await handle.stat()).size;
      let offset = 0;
      do {
        const data = new Uint8Array(Math.min(CHUNK_BYTES, total - offset));
        const { bytesRead } = await handle.read(data, 0, data.byteLength, offset);
        if (bytesRead !== data.byteLength) throw new Error(`${file} changed while it was read (${offset + bytesRead} of ${total} bytes)`);
        await post({ fileId, offset, total, data });
        offset += bytesRead;
      } while (offset < total);
    } finally {
      await handle.close();
    }
  }
}
