// A local stand-in for the Hugging Face Hub on 127.0.0.1: serves fixture folders under the Hub's
// URL layout `/{org}/{name}/resolve/{revision}/{path}`, with Range support, and can misbehave.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export interface HubServer {
  endpoint: string;
  requests: Array<{ url: string; range?: string; authorization?: string }>;
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
  const redirects = new Map<string, string>();
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url!, range: req.headers.range, authorization: req.headers.authorization });
    // The Hub's listing API: /api/models/{org}/{name}/tree/{revision}?recursive=true → [{ type, path, size }].
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^?]+)/.exec(decodeURI(req.url!));
    if (tree) {
      const root = repos[tree[1]];
      if (!root) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
      if (gated.includes(tree[1]) && req.headers.authorization !== 'Bearer secret') return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"gated"}');
      const files = fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
      const items = files.map((f) => {
        const rel = path.relative(root, path.join(f.parentPath, f.name)).split(path.sep).join('/');
        return { type: 'file', path: rel, size: fs.statSync(path.join(root, rel)).size, oid: 'x' };
      });
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(items));
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(decodeURI(req.url!));
    const folder = m && repos[m[1]];
    if (!m || !folder) return void res.writeHead(404).end('Repository not found');
    const moved = redirects.get(m[3]);
    if (moved) return void res.writeHead(302, { location: `${moved}${req.url}` }).end();
    if (gated.includes(m[1]) && req.headers.authorization !== 'Bearer secret') return void res.writeHead(401).end('gated');
    const file = path.join(folder, m[3]);
    if (!file.startsWith(folder + path.sep) || !fs.existsSync(file)) return void res.writeHead(404).end('Entry not found');
    const data = fs.readFileSync(file);
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= data.length) return void res.writeHead(416).end();
      res.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` });
    } else res.writeHead(200, { 'content-length': data.length });
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
    redirect: (file, location) => redirects.set(file, location),
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
