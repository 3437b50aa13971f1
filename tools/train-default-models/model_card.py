"""Writes README.md (the model card) of a trained model folder from its evidence.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import evidence


POSITIONS = {"rope": "rotary embeddings (RoPE)", "alibi": "ALiBi biases",
             "relative": "a learned relative-position bias per layer and head (T5-style distance buckets)"}


def fmt_head(lh) -> str:
    """Layer and head numbered from 1, as the Attention Lens panel shows them."""
    return f"layer {lh[0] + 1}, head {lh[1] + 1}"


def main(folder: Path) -> None:
    e = json.loads((folder / "evidence.json").read_text())
    cfg, tr, h = e["config"], e["train"], e["heads"]
    kind = e["kind"]
    pl, ph, pv = evidence.best(h["previous_token"])
    sl, sh, sv = evidence.best(h["sink"])
    el, eh, ev = evidence.best(h["entropy"])
    title = "causal (GPT-style) language model" if kind == "causal" else "masked (BERT-style) language model"
    ppl_note = "next-token perplexity" if kind == "causal" else "perplexity on masked tokens (15% masked, 80/10/10)"
    lines = [
        f"# tiny-{kind}: Attention Lens's bundled {title}",
        "",
        "Trained from scratch by `tools/train-default-models/train.py` so that Attention Lens works offline on a model",
        "whose attention means something. It is small and knows little: use it to learn the tool, not for research claims.",
        "",
        "## Model",
        f"- {cfg['layers']} layers × {cfg['heads']} heads, hidden size {cfg['hidden']}; positions as {' plus '.join(POSITIONS[p] for p in cfg.get('positions', 'alibi').split('+'))}, no position embeddings,",
        f"  so it runs up to {cfg['max_positions']} tokens although it trained on {e['seq']}-token windows; pre-LayerNorm blocks, eager softmax",
        f"  attention, tied input/output embedding; {tr['parameters']:,} parameters.",
        f"- ONNX (opset 14, fp32), {e['onnx_bytes'] / 1e6:.1f} MB: inputs `input_ids`, `attention_mask`; outputs `logits` and",
        f"  `attentions.0`…`attentions.{cfg['layers'] - 1}`, each `[batch, heads, query, key]`.",
        f"- Max |ONNX − PyTorch| over all attention weights (onnxruntime-web WASM via the Attention Lens CLI): {e['onnx_max_abs_diff']:.1e}.",
        "- Tokenizer: byte-level BPE, vocabulary 8,000 (shared by both bundled models), trained with Hugging Face `tokenizers`;",
        "  " + ("`<|endoftext|>` is prepended to every input." if kind == "causal" else "inputs are wrapped as `[CLS] … [SEP]`."),
        "",
        "## Training",
        f"- Data: the King James Version of the Bible ({e['corpus']['kjv_chapters']} chapters, public domain; Debian package `bible-kjv-text`)",
        f"  and {e['corpus']['python_files']} Python standard-library source files (PSF License; Debian's Python). The corpus is rebuilt by the",
        "  script from those packages; 3% of the prose chapters and 6% of the Python files (by hash) are held out.",
        f"- {tr['steps']} steps × batch {e['batch']} × {e['seq']} tokens ({tr['tokens_seen']:,} tokens seen), AdamW, cosine schedule, seed {e['seed']}.",
        f"- Hardware: {e['hardware']} (preset `{e['preset']}`), PyTorch {e['torch']}; training took {tr['seconds'] / 60:.1f} minutes.",
        f"- Final training loss {tr['final_loss']:.3f}.",
        f"- Held-out {ppl_note}: **{e['heldout_perplexity']:.1f}**, against **{e['unigram_perplexity']:.1f}** for a unigram model of the training tokens.",
        "",
        "## Evidence that the attention is real (held-out text)",
        "Computed by `tools/train-default-models/evidence.py`; every score is a mean over held-out rows. Layers and heads are",
        "numbered from 1, as in the Attention Lens panel.",
        f"- Previous-token head: {fmt_head((pl, ph))}, mean weight on the previous token **{pv:.2f}**.",
        f"- Sink head: {fmt_head((sl, sh))}, mean weight on the first token or a delimiter **{sv:.2f}**.",
        f"- Broad head: {fmt_head((el, eh))}, mean normalised row entropy **{ev:.2f}** (1 = uniform).",
    ]
    b = e.get("brackets")
    if b and b.get("pairs"):
        lines.append(f"- Bracket matching on held-out Python ({b['pairs']} bracket pairs): {fmt_head(b['best_head'])} puts **{b['match_weight']:.3f}** on the matching")
        lines.append(f"  opening bracket against **{b['baseline_weight']:.3f}** on tokens at the same distance ({b['ratio']:.1f}×).")
    lines += ["", "Per-head scores (rows: layers, columns: heads):", ""]
    for name, m in (("previous-token", h["previous_token"]), ("sink", h["sink"]), ("entropy", h["entropy"])):
        lines.append(f"- {name}: " + " | ".join(" ".join(f"{v:.2f}" for v in row) for row in m))
    lines += ["", "The engine tests (`test/engine/defaultModels.test.ts`) check that the previous-token head named here still is one."]
    (folder / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
