"""Evidence that a trained model's attention has structure, computed on held-out text.

- previous-token score per head: mean weight from token i to token i-1;
- sink score per head: mean weight on the first token (<|endoftext|> / [CLS]) or a delimiter;
- breadth per head: mean normalised row entropy;
- bracket matching on Python code: weight from a closing bracket to its opening bracket, against
  the same head's mean weight at the same distance (distance-matched baseline).
"""
from __future__ import annotations

import math

import torch

OPEN = {"(": ")", "[": "]", "{": "}"}
CLOSE = {v: k for k, v in OPEN.items()}


@torch.no_grad()
def attentions(model, ids: list[int]) -> list[torch.Tensor]:
    x = torch.tensor([ids])
    out = model(x, torch.ones_like(x))
    return [a[0] for a in out[1:]]  # each [heads, q, k]


def head_stats(model, sequences: list[list[int]], delimiter_ids: set[int]) -> dict:
    layers, heads = model.cfg.layers, model.cfg.heads
    prev = torch.zeros(layers, heads)
    sink = torch.zeros(layers, heads)
    ent = torch.zeros(layers, heads)
    n_rows = 0
    for ids in sequences:
        atts = attentions(model, ids)
        t = len(ids)
        delim = torch.tensor([i == 0 or tok in delimiter_ids for i, tok in enumerate(ids)])
        for l, a in enumerate(atts):
            rows = a[:, 1:, :]  # skip the first query: it can only attend to itself when causal
            prev[l] += torch.stack([a[:, i, i - 1] for i in range(1, t)], 1).sum(1)
            sink[l] += rows[:, :, delim].sum(-1).sum(1)
            p = rows.clamp_min(1e-12)
            if model.cfg.kind == "causal":
                norm = torch.log(torch.arange(2, t + 1, dtype=torch.float32))  # row i has i+1 keys
            else:
                norm = torch.full((t - 1,), math.log(t))
            ent[l] += ((-(p * p.log()).sum(-1)) / norm).sum(1)
        n_rows += t - 1
    return {"previous_token": (prev / n_rows).tolist(), "sink": (sink / n_rows).tolist(), "entropy": (ent / n_rows).tolist()}


def _bracket_pairs(tokens: list[str]) -> list[tuple[int, int]]:
    """(close_index, open_index) for tokens holding exactly one bracket character that pair up."""
    stack: list[tuple[str, int]] = []
    pairs = []
    for i, tok in enumerate(tokens):
        brackets = [c for c in tok if c in OPEN or c in CLOSE]
        if len(brackets) != 1:
            if brackets:
                stack.clear()  # a token with several brackets: lose track rather than guess
            continue
        c = brackets[0]
        if c in OPEN:
            stack.append((c, i))
        elif stack and stack[-1][0] == CLOSE[c]:
            _, j = stack.pop()
            if i - j >= 2:
                pairs.append((i, j))
    return pairs


def bracket_matching(model, code_docs: list[dict], window: int) -> dict:
    layers, heads = model.cfg.layers, model.cfg.heads
    hit = torch.zeros(layers, heads)
    base = torch.zeros(layers, heads)
    count = 0
    for doc in code_docs:
        ids, toks = doc["ids"], doc["tokens"]
        for s in range(0, max(1, len(ids) - window + 1), window):
            chunk_ids = [0] + ids[s : s + window - 1]
            chunk_toks = ["<|endoftext|>"] + toks[s : s + window - 1]
            pairs = _bracket_pairs(chunk_toks)
            if not pairs:
                continue
            atts = attentions(model, chunk_ids)
            for l, a in enumerate(atts):
                for i, j in pairs:
                    d = i - j
                    hit[l] += a[:, i, j]
                    q = torch.arange(d, len(chunk_ids))
                    base[l] += a[:, q, q - d].mean(1)
            count += len(pairs)
    if count == 0:
        return {"pairs": 0}
    hit, base = hit / count, base / count
    ratio = hit / base.clamp_min(1e-9)
    l, h = divmod(int(torch.argmax(ratio)), heads)
    return {"pairs": count, "best_head": [l, h], "match_weight": float(hit[l, h]), "baseline_weight": float(base[l, h]),
            "ratio": float(ratio[l, h]), "match_weight_all": hit.tolist(), "baseline_all": base.tolist()}


def best(matrix: list[list[float]], pick=max) -> tuple[int, int, float]:
    flat = [(v, l, h) for l, row in enumerate(matrix) for h, v in enumerate(row)]
    v, l, h = pick(flat)
    return l, h, v
