// A local stand-in for the Hugging Face Hub on 127.0.0.1: serves fixture folders under the Hub's
// URL layout `/{org}/{name}/resolve/{revision}/{path}`, with Range, If-Range and ETags, lists them
// with sizes and digests like the Hub's tree API (.onnx files and their external data files as LFS
// objects with their SHA-256, others with their git blob id), and can misbehave in the ways real
// servers and proxies do.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { llmGenerator } from '../llmStandIns';

/** The commit every revision of the stand-in names. */
export const REPO_COMMIT = '0123456789abcdef0123456789abcdef01234567';

/** Files the stand-in lists as LFS objects, as the Hub does for weights: .onnx, .onnx_data, .onnx_data_N, .onnx.data. */
const LFS = /\.onnx(?:_data(?:_\d+)?|\.data)?$/;

/** Ways to answer the next request for a file wrongly. */
export type Misbehaviour =
  /** No Content-Length, and the connection closes cleanly after this many bytes (looks complete). */
  | { kind: 'short-without-length'; bytes: number }
  /** 416 to a resume, whatever the offset. */
  | { kind: 'resume-416' }
  /** 206 to a resume, but from offset 0 (Content-Range says so). */
  | { kind: 'resume-wrong-offset' }
  /** 200 with an HTML error page. */
  | { kind: 'html-200' }
  /** The right length with one byte changed. */
  | { kind: 'flipped-byte' }
  /** Headers and this many bytes, then nothing: the connection stays open (a stalled server or proxy). */
  | { kind: 'stall'; bytes: number };

export interface HubServer {
  endpoint: string;
  requests: Array<{ method?: string; url: string; range?: string; ifRange?: string; authorization?: string }>;
  /** Answer the next request for `file` wrongly. */
  misbehaveNext(file: string, how: Misbehaviour): void;
  /** From now on serve `file` of every repository with this content (and a new ETag). */
  replace(file: string, content: Buffer): void;
  /** Cut the connection of the next response of a file after this many bytes. */
  interruptNext(file: string, afterBytes: number): void;
  /** Answer requests for this file with a 302 to `location` + the request path (another origin, like the Hub's CDN). */
  redirect(file: string, location: string): void;
  close(): Promise<void>;
}

/** Serves `repos` (id → folder); ids in `gated` answer 401 without `Bearer secret`. */
export async function startHubServer(repos: Record<string, string>, gated: string[] = []): Promise<HubServer> {
  const requests: HubServer['requests'] = [];
  const interrupts = new Map<string, number>();
  const misbehaviours = new Map<string, Misbehaviour>();
  const replaced = new Map<string, Buffer>();
  const content = (root: string, rel: string) => replaced.get(rel) ?? fs.readFileSync(path.join(root, rel));
  const etagOf = (data: Buffer) => `"${crypto.createHash('sha256').update(data).digest('hex').slice(0, 16)}"`;
  const redirects = new Map<string, string>();
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, url: req.url!, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, authorization: req.headers.authorization });
    // The Hub's listing API: /api/models/{org}/{name}/tree/{revision}?recursive=true → [{ type, path, size }].
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^?]+)/.exec(decodeURI(req.url!));
    if (tree) {
      const root = repos[tree[1]];
      if (!root) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
      if (gated.includes(tree[1]) && req.headers.authorization !== 'Bearer secret') return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"gated"}');
      const files = fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
      const items = files.map((f) => {
        const rel = path.relative(root, path.join(f.parentPath, f.name)).split(path.sep).join('/');
        const data = content(root, rel);
        const gitOid = crypto.createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
        const lfs = LFS.test(rel) ? { oid: crypto.createHash('sha256').update(data).digest('hex'), size: data.length, pointerSize: 134 } : undefined;
        return { type: 'file', path: rel, size: lfs ? 134 : data.length, oid: gitOid, ...(lfs ? { lfs } : {}) };
      });
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(items));
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(decodeURI(req.url!));
    const folder = m && repos[m[1]];
    if (!m || !folder) return void res.writeHead(404).end('Repository not found');
    // The commit a revision names, as the Hub says in every resolve reply.
    res.setHeader('x-repo-commit', REPO_COMMIT);
    const moved = redirects.get(m[3]);
    if (moved) return void res.writeHead(302, { location: `${moved}${req.url}` }).end();
    if (gated.includes(m[1]) && req.headers.authorization !== 'Bearer secret') return void res.writeHead(401).end('gated');
    const file = path.join(folder, m[3]);
    if (!file.startsWith(folder + path.sep) || !fs.existsSync(file)) return void res.writeHead(404).end('Entry not found');
    const data = content(folder, m[3]);
    const etag = etagOf(data);
    const bad = misbehaviours.get(m[3]);
    misbehaviours.delete(m[3]);
    if (bad?.kind === 'html-200') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
    if (bad?.kind === 'short-without-length') return void res.writeHead(200, { etag, connection: 'close' }).end(data.subarray(0, bad.bytes));
    if (bad?.kind === 'stall') {
      res.writeHead(200, { 'content-length': data.length, etag });
      res.write(data.subarray(0, bad.bytes));
      return; // never ends; close() cuts it
    }
    if (bad?.kind === 'flipped-byte') {
      const copy = Buffer.from(data);
      copy[copy.length >> 1] ^= 0xff;
      return void res.writeHead(200, { 'content-length': copy.length, etag }).end(copy);
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    // If-Range with another ETag: the file changed, so the whole of it (200), as HTTP says.
    const sameFile = !req.headers['if-range'] || req.headers['if-range'] === etag;
    if (range && sameFile) {
      start = Number(range[1]);
      if (bad?.kind === 'resume-416' || start >= data.length) return void res.writeHead(416).end();
      if (bad?.kind === 'resume-wrong-offset') start = 0;
      res.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}`, etag });
    } else res.writeHead(200, { 'content-length': data.length, etag });
    const cut = interrupts.get(m[3]);
    if (cut !== undefined) {
      interrupts.delete(m[3]);
      res.write(data.subarray(start, start + cut), () => res.destroy());
      return;
    }
    res.end(data.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    interruptNext: (file, n) => interrupts.set(file, n),
    misbehaveNext: (file, how) => misbehaviours.set(file, how),
    replace: (file, data) => replaced.set(file, data),
    redirect: (file, location) => redirects.set(file, location),
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** Repositories of a model whose weights are in external data chunks, whole and broken. */
export interface ExternalDataRepos {
  /** SmolLM2-135M's tiny stand-in (tools/real-size/llm.mjs): config.json, tokenizer.json, onnx/model.onnx and its chunks. */
  whole: string;
  onnx: string;
  /** The chunks, in order: onnx/model.onnx_data, onnx/model.onnx_data_1, … */
  chunks: string[];
  /** The same without its last chunk. */
  missingChunk: string;
  /** The same with its last chunk cut to half (shorter than the graph reads). */
  shortChunk: string;
  /** The same, with the last external tensor's location changed to `../outside.bin` (and that file beside the onnx folder). */
  unsafe: string;
}

/** Writes the repositories of `ExternalDataRepos` under `dir` (well under a second). */
export async function externalDataRepos(dir: string): Promise<ExternalDataRepos> {
  const gen = await llmGenerator();
  const { folder: whole, onnx: onnxFile } = gen.ensureLlmVariant(dir, 'smollm2-135m', 'fp32', { tiny: true });
  const chunk = (f: string) => Number(/_data(?:_(\d+))?$/.exec(f)?.[1] ?? 0);
  const chunks = fs.readdirSync(path.join(whole, 'onnx')).filter((f) => /^model\.onnx_data(_\d+)?$/.test(f)).sort((a, b) => chunk(a) - chunk(b)).map((f) => `onnx/${f}`);
  const copy = (name: string) => {
    const to = path.join(dir, name);
    fs.cpSync(whole, to, { recursive: true });
    return to;
  };
  const missingChunk = copy('missing-chunk');
  fs.rmSync(path.join(missingChunk, chunks.at(-1)!));
  const shortChunk = copy('short-chunk');
  const last = path.join(shortChunk, chunks.at(-1)!);
  fs.truncateSync(last, fs.statSync(last).size >> 1);
  const unsafe = copy('unsafe');
  const file = path.join(unsafe, onnxFile);
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  const external = model.graph!.initializer!.filter((t) => t.externalData?.some((e) => e.key === 'location'));
  const location = external.at(-1)!.externalData!.find((e) => e.key === 'location')!;
  fs.copyFileSync(path.join(unsafe, 'onnx', location.value!), path.join(unsafe, 'outside.bin'));
  location.value = '../outside.bin';
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return { whole, onnx: onnxFile, chunks, missingChunk, shortChunk, unsafe };
}
