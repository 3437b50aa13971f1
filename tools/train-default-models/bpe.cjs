// Trains a byte-level BPE with Hugging Face's own `tokenizers` library (its Node binding; the
// Python binding is not packaged for Debian) and keeps the first VOCAB entries. BPE learns merges
// greedily, so the first N merges are exactly what training with vocab_size N would learn.
// usage: node bpe.cjs <out tokenizer.json> <vocab size> <special tokens comma-separated> <files...>
const fs = require('node:fs');
const path = require('node:path');
const { Tokenizer } = require(path.resolve(__dirname, '../../node_modules/tokenizers'));

const [out, vocabArg, specialsArg, ...files] = process.argv.slice(2);
const vocabSize = Number(vocabArg);
const specials = specialsArg.split(',');
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
const base = {
  version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
  pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel,
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: {}, merges: [] },
};
const tok = Tokenizer.fromString(JSON.stringify(base));
tok.train(files);
const tmp = out + '.full.json';
tok.save(tmp);
const trained = JSON.parse(fs.readFileSync(tmp, 'utf8'));
fs.rmSync(tmp);

// The 256 byte-level symbols first (so every input is encodable), then the specials, then merges.
const bytes = [];
for (let b = 0; b < 256; b++) bytes.push(b);
const printable = (b) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
let extra = 0;
const byteChar = bytes.map((b) => String.fromCodePoint(printable(b) ? b : 256 + extra++));
const vocab = {};
specials.forEach((s) => { vocab[s] = Object.keys(vocab).length; });
byteChar.forEach((c) => { if (!(c in vocab)) vocab[c] = Object.keys(vocab).length; });
const merges = [];
for (const m of trained.model.merges) {
  if (Object.keys(vocab).length >= vocabSize) break;
  const [a, b] = Array.isArray(m) ? m : m.split(' ');
  if (!(a in vocab) || !(b in vocab)) continue;
  const merged = a + b;
  if (merged in vocab) continue;
  vocab[merged] = Object.keys(vocab).length;
  merges.push([a, b]);
}
const result = { ...base, model: { ...base.model, vocab, merges },
  added_tokens: specials.map((s, id) => ({ id, content: s, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })) };
fs.writeFileSync(out, JSON.stringify(result));
console.log(JSON.stringify({ vocab: Object.keys(vocab).length, merges: merges.length }));
