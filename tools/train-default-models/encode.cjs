// Encodes documents with a trained tokenizer.json (Hugging Face `tokenizers`, Node binding).
// usage: node encode.cjs <tokenizer.json> <docs.jsonl> <out.bin> [--offsets <out.jsonl>]
// Writes uint16 ids, documents separated by id 0 (<|endoftext|>); with --offsets also each
// document's tokens and UTF-16 offsets, for evidence that needs to know where brackets are.
const fs = require('node:fs');
const path = require('node:path');
const { Tokenizer } = require(path.resolve(__dirname, '../../node_modules/tokenizers'));

async function main() {
  const [tokPath, docsPath, outPath, flag, offsetsPath] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(tokPath);
  const docs = fs.readFileSync(docsPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const chunks = [];
  const withOffsets = flag === '--offsets' ? [] : undefined;
  for (let i = 0; i < docs.length; i += 64) {
    const encs = await tok.encodeBatch(docs.slice(i, i + 64), { addSpecialTokens: false });
    for (const e of encs) {
      chunks.push(Uint16Array.from([0, ...e.getIds()]));
      withOffsets?.push(JSON.stringify({ ids: e.getIds(), tokens: e.getTokens(), offsets: e.getOffsets() }));
    }
  }
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const all = new Uint16Array(total);
  let o = 0;
  for (const c of chunks) { all.set(c, o); o += c.length; }
  fs.writeFileSync(outPath, Buffer.from(all.buffer));
  if (withOffsets) fs.writeFileSync(offsetsPath, withOffsets.join('\n') + '\n');
  console.log(JSON.stringify({ docs: docs.length, tokens: total }));
}
main().catch((e) => { console.error(e); process.exit(1); });
