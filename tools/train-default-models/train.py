"""Trains Attention Lens's bundled default models: one byte-level BPE tokenizer and two small
transformers (causal and masked) that share it, exported to ONNX with named attention outputs.

    /usr/bin/python3 tools/train-default-models/train.py --preset cpu   # or --preset gpu

Needs: PyTorch and onnx (Debian: python3-torch python3-onnx libopenblas0-pthread), the KJV text
(bible-kjv bible-kjv-text), Node.js with this repo's node_modules and a built CLI (npm run build).
Everything is seeded; the output folders land in media/models/.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import corpus as corpus_mod  # noqa: E402
import evidence  # noqa: E402
from model import ModelConfig, TinyTransformer  # noqa: E402

SPECIALS = ["<|endoftext|>", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]
EOT, PAD, CLS, SEP, MASK = range(5)
PRESETS = {
    # CPU: one thread per model, about 40 minutes per model on a 2-core machine.
    "cpu": dict(layers=4, heads_causal=8, heads_masked=6, hidden=192, seq=256, batch=16, steps_causal=1400, steps_masked=1400, lr=1.5e-3,
                bias_lr_scale=100, threads=1, positions_causal="relative", positions_masked="relative"),
    # GPU (device machine): the same architecture (the ONNX files must stay under 15 MB), more data.
    "gpu": dict(layers=4, heads_causal=8, heads_masked=6, hidden=192, seq=256, batch=64, steps_causal=6000, steps_masked=6000, lr=1e-3,
                bias_lr_scale=100, threads=8, positions_causal="relative", positions_masked="relative"),
}
MAX_POSITIONS = 512
VOCAB = 8000


def run(cmd: list[str], **kw) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def tokenizer_json(base: dict, kind: str) -> dict:
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    if kind == "causal":
        single = [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]
        specials = {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [EOT], "tokens": ["<|endoftext|>"]}}
    else:
        single = [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}]
        specials = {t: {"id": t, "ids": [i], "tokens": [t]} for t, i in (("[CLS]", CLS), ("[SEP]", SEP))}
    template = {"type": "TemplateProcessing", "single": single, "pair": single + [{"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": specials}
    return {**base, "post_processor": {"type": "Sequence", "processors": [byte_level, template]}}


def batches(stream: torch.Tensor, kind: str, seq: int, batch: int, gen: torch.Generator):
    """Random windows of the token stream, each starting with <|endoftext|> (causal) or [CLS]…[SEP] (masked)."""
    body = seq - (1 if kind == "causal" else 2)
    while True:
        starts = torch.randint(0, len(stream) - body - 1, (batch,), generator=gen)
        rows = torch.stack([stream[s : s + body] for s in starts.tolist()])
        if kind == "causal":
            ids = torch.cat([torch.full((batch, 1), EOT), rows], 1)
        else:
            ids = torch.cat([torch.full((batch, 1), CLS), rows, torch.full((batch, 1), SEP)], 1)
        yield ids


def mask_tokens(ids: torch.Tensor, gen: torch.Generator, vocab: int):
    labels = ids.clone()
    special = ids < len(SPECIALS)
    chosen = (torch.rand(ids.shape, generator=gen) < 0.15) & ~special
    labels[~chosen] = -100
    inputs = ids.clone()
    r = torch.rand(ids.shape, generator=gen)
    inputs[chosen & (r < 0.8)] = MASK
    rand_ids = torch.randint(len(SPECIALS), vocab, ids.shape, generator=gen)
    swap = chosen & (r >= 0.8) & (r < 0.9)
    inputs[swap] = rand_ids[swap]
    return inputs, labels


def loss_of(model, ids, kind, gen, vocab):
    if kind == "causal":
        logits = model(ids, torch.ones_like(ids))[0]
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
    inputs, labels = mask_tokens(ids, gen, vocab)
    logits = model(inputs, torch.ones_like(inputs))[0]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), labels.reshape(-1), ignore_index=-100)


@torch.no_grad()
def heldout_perplexity(model, stream, kind, seq, vocab, seed) -> float:
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    losses = []
    body = seq - (1 if kind == "causal" else 2)
    for s in range(0, min(len(stream) - body, 200 * body), body):
        rows = stream[s : s + body].unsqueeze(0)
        if kind == "causal":
            ids = torch.cat([torch.full((1, 1), EOT), rows], 1)
        else:
            ids = torch.cat([torch.full((1, 1), CLS), rows, torch.full((1, 1), SEP)], 1)
        losses.append(float(loss_of(model, ids, kind, gen, vocab)))
    return math.exp(sum(losses) / len(losses))


def unigram_perplexity(train: torch.Tensor, heldout: torch.Tensor, vocab: int) -> float:
    counts = torch.bincount(train.long(), minlength=vocab).double() + 1
    logp = (counts / counts.sum()).log()
    return math.exp(-float(logp[heldout.long()].mean()))


def previous_token_probe(model, probe: list[list[int]]) -> tuple[int, int, float]:
    """The strongest previous-token head (evidence.py's score) on a few held-out windows, logged while training."""
    model.eval()
    scores = evidence.head_stats(model, probe, set())["previous_token"]
    model.train()
    return evidence.best(scores)


def train_model(kind, p, stream, vocab, seed, log, probe=None):
    torch.manual_seed(seed)
    cfg = ModelConfig(kind=kind, vocab_size=vocab, layers=p["layers"], heads=p[f"heads_{kind}"], hidden=p["hidden"], max_positions=MAX_POSITIONS,
                      positions=p[f"positions_{kind}"])
    model = TinyTransformer(cfg)
    steps = p[f"steps_{kind}"]
    # Adam moves each parameter by about lr per step, so a scalar position bias would need thousands of
    # steps to reach the few units that a sharp pattern takes: those biases learn faster, undecayed.
    relative = [x for n, x in model.named_parameters() if ".relative." in n]
    others = [x for n, x in model.named_parameters() if ".relative." not in n]
    groups = [{"params": others}] + ([{"params": relative, "lr": p["lr"] * p["bias_lr_scale"], "weight_decay": 0.0}] if relative else [])
    opt = torch.optim.AdamW(groups, lr=p["lr"], weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    gen = torch.Generator().manual_seed(seed)
    data = batches(stream, kind, p["seq"], p["batch"], gen)
    t0 = time.time()
    recent = []
    model.train()
    for step in range(steps):
        ids = next(data)
        loss = loss_of(model, ids, kind, gen, vocab)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        recent = (recent + [float(loss)])[-50:]
        if step % 50 == 0 or step == steps - 1:
            extra = ""
            if probe is not None and (step % 200 == 0 or step == steps - 1):
                extra = " previous-token head {}.{} {:.2f}".format(*previous_token_probe(model, probe))
            log(f"{kind} step {step}/{steps} loss {sum(recent) / len(recent):.3f} ({time.time() - t0:.0f} s){extra}")
    model.eval()
    return model, {"steps": steps, "seconds": round(time.time() - t0), "final_loss": round(sum(recent) / len(recent), 4),
                   "parameters": sum(x.numel() for x in model.parameters()), "tokens_seen": steps * p["batch"] * p["seq"]}


def export(model, folder: Path, log) -> None:
    (folder / "onnx").mkdir(parents=True, exist_ok=True)
    ids = torch.tensor([[EOT, 100, 200, 300, 400, 500, 600, 700]])
    names = ["logits"] + [f"attentions.{i}" for i in range(model.cfg.layers)]
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    dyn.update({n: {0: "batch", 2: "sequence", 3: "sequence_k"} for n in names[1:]})
    torch.onnx.export(model, (ids, torch.ones_like(ids)), str(folder / "onnx/model.onnx"), input_names=["input_ids", "attention_mask"],
                      output_names=names, dynamic_axes=dyn, opset_version=14, do_constant_folding=False)  # folding would store the tied embedding twice
    log(f"exported {folder / 'onnx/model.onnx'} ({(folder / 'onnx/model.onnx').stat().st_size / 1e6:.1f} MB)")


def onnx_vs_torch(model, folder: Path, text: str) -> float:
    """Runs the exported ONNX through the project's own CLI (onnxruntime-web, WASM) and compares
    every attention output with PyTorch on the same tokens."""
    out = json.loads(run(["node", str(ROOT / "dist/cli.mjs"), "inspect", "--model", str(folder), "--text", text, "--json"]))
    ids = [t["id"] for t in out["tokens"]]
    ref = evidence.attentions(model, ids)
    return max(float((torch.tensor(a["weights"]) - ref[a["layer"]]).abs().max()) for a in out["attention"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=PRESETS, default="cpu")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default=str(ROOT / "media/models"))
    ap.add_argument("--work", default=str(ROOT / ".train-work"))
    ap.add_argument("--steps", type=int, help="override the preset's steps (smoke tests)")
    ap.add_argument("--only", choices=["causal", "masked"], help="train one of the two models")
    ap.add_argument("--positions", choices=["alibi", "rope", "relative", "rope+relative"], help="override the preset's position scheme (experiments)")
    ap.add_argument("--heads", type=int, help="override the preset's heads per layer (experiments)")
    ap.add_argument("--bias-lr-scale", type=float, help="override the learning-rate multiplier of relative-position biases")
    args = ap.parse_args()
    p = dict(PRESETS[args.preset])
    if args.steps:
        p["steps_causal"] = p["steps_masked"] = args.steps
    if args.heads:
        p["heads_causal"] = p["heads_masked"] = args.heads
    if args.bias_lr_scale:
        p["bias_lr_scale"] = args.bias_lr_scale
    if args.positions:
        p["positions_causal"] = p["positions_masked"] = args.positions
    torch.set_num_threads(p["threads"])
    random.seed(args.seed)
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    logf = open(work / "train.log", "a")

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    t_start = time.time()
    c = corpus_mod.build()
    log(f"corpus: {c.sources}, {len(c.train)} train docs, {len(c.heldout)} held-out docs")
    for name, docs in (("train", c.train), ("heldout", c.heldout), ("heldout_code", c.heldout_code)):
        with open(work / f"{name}.jsonl", "w") as f:
            f.writelines(json.dumps(d) + "\n" for d in docs)
    with open(work / "train.txt", "w") as f:
        f.write("\n".join(c.train))

    tok_path = work / "tokenizer.json"
    log("tokenizer: " + run(["node", str(HERE / "bpe.cjs"), str(tok_path), str(VOCAB), ",".join(SPECIALS), str(work / "train.txt")]).strip())
    for name in ("train", "heldout"):
        log(f"encode {name}: " + run(["node", str(HERE / "encode.cjs"), str(tok_path), str(work / f"{name}.jsonl"), str(work / f"{name}.bin")]).strip())
    run(["node", str(HERE / "encode.cjs"), str(tok_path), str(work / "heldout_code.jsonl"), str(work / "heldout_code.bin"), "--offsets", str(work / "heldout_code.tokens.jsonl")])
    load = lambda n: torch.frombuffer(bytearray((work / f"{n}.bin").read_bytes()), dtype=torch.int16).to(torch.int32) & 0xFFFF
    train_stream, heldout_stream = load("train").long(), load("heldout").long()
    code_docs = [json.loads(l) for l in open(work / "heldout_code.tokens.jsonl")]
    unigram = unigram_perplexity(train_stream, heldout_stream, VOCAB)
    base_tok = json.loads(tok_path.read_text())

    for kind, seed_off in (("causal", 0), ("masked", 1)):
        if args.only and kind != args.only:
            continue
        probe = [[EOT] + heldout_stream[i * 255 : (i + 1) * 255].tolist() for i in range(4)] if kind == "causal" else None
        model, stats = train_model(kind, p, train_stream, VOCAB, args.seed + seed_off, log, probe)
        torch.save(model.state_dict(), work / f"{kind}.pt")  # kept in case the export below fails
        folder = out / f"tiny-{kind}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        export(model, folder, log)
        (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json(base_tok, kind), ensure_ascii=False))
        bos = "<|endoftext|>" if kind == "causal" else "[CLS]"
        (folder / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_POSITIONS,
            **({"bos_token": bos, "eos_token": bos, "unk_token": bos} if kind == "causal" else
               {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "mask_token": "[MASK]", "unk_token": "[PAD]"})}, indent=1))
        (folder / "config.json").write_text(json.dumps({
            "architectures": ["AttentionLensCausalLM" if kind == "causal" else "AttentionLensMaskedLM"],
            "model_type": f"attention-lens-{kind}", "is_decoder": kind == "causal", "vocab_size": VOCAB,
            "num_hidden_layers": p["layers"], "num_attention_heads": p[f"heads_{kind}"], "hidden_size": p["hidden"],
            "intermediate_size": 4 * p["hidden"], "max_position_embeddings": MAX_POSITIONS, "position_embedding_type": p[f"positions_{kind}"],
            "bos_token_id": EOT if kind == "causal" else CLS, "pad_token_id": PAD, "torch_dtype": "float32"}, indent=1))
        diff = onnx_vs_torch(model, folder, "def area(r):\n    return 3.14159 * (r ** 2)  # In the beginning God created the heaven.")
        log(f"{kind}: max |ONNX - PyTorch| over attentions = {diff:.2e}")
        ppl = heldout_perplexity(model, heldout_stream, kind, p["seq"], VOCAB, args.seed)
        log(f"{kind}: held-out perplexity {ppl:.1f} (unigram {unigram:.1f})")
        seqs = []
        for s in range(0, min(len(heldout_stream) - p["seq"], 60 * p["seq"]), p["seq"]):
            first = EOT if kind == "causal" else CLS
            body = heldout_stream[s : s + p["seq"] - 1].tolist()
            seqs.append([first] + body if kind == "causal" else [first] + body[:-1] + [SEP])
        delims = {EOT, CLS, SEP} | {base_tok["model"]["vocab"][c] for c in (".", ",", ":", ";", "Ċ") if c in base_tok["model"]["vocab"]}
        heads = evidence.head_stats(model, seqs, delims)
        brackets = evidence.bracket_matching(model, code_docs, p["seq"]) if kind == "causal" else None
        report = {"kind": kind, "preset": args.preset, "seed": args.seed, "hardware": f"CPU ({os.cpu_count()} cores, torch threads {p['threads']})" if args.preset == "cpu" else "GPU",
                  "torch": torch.__version__, "train": stats, "config": model.cfg.to_dict(), "seq": p["seq"], "batch": p["batch"],
                  "heldout_perplexity": round(ppl, 2), "unigram_perplexity": round(unigram, 2), "onnx_max_abs_diff": diff,
                  "heads": heads, "brackets": brackets, "corpus": c.sources, "onnx_bytes": (folder / "onnx/model.onnx").stat().st_size}
        (folder / "evidence.json").write_text(json.dumps(report, indent=1))
        run([sys.executable, str(HERE / "model_card.py"), str(folder)])
        log(f"{kind}: wrote {folder}")
    log(f"done in {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
